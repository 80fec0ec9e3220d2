//! Enrichment: events from decoded kernel records ([`build`]), said where
//! they happened (container, pod or host) and judged for drift ([`drift`])
//! before the policy sees them. The model types ([`crate::event`]) only
//! hold data; what reads the system to fill them in is here.

pub mod build;
pub mod drift;

use crate::{
    container::ContainerResolver,
    event::{Clock, Event, Origin},
};

/// This node's name (`$NODE_NAME`, else the host name) and boot.
pub fn detect_origin() -> Origin {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default().trim().to_string();
    let node = std::env::var("NODE_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| read("/proc/sys/kernel/hostname"));
    let boot_id: String = read("/proc/sys/kernel/random/boot_id")
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .collect();
    Origin { node, cluster: None, boot_id, clock: Clock::new() }
}

/// Says where the event's process runs (rules scope on the container and
/// the pod) and sets its drift; `boot_ns` is the boot's time, ns since the
/// epoch.
pub fn attribute(event: &mut Event, containers: &mut ContainerResolver, boot_ns: i64) {
    if let Some(cgroup_id) = event.process.cgroup_id {
        event.attribute(containers.resolve(cgroup_id));
    }
    drift::judge(event, boot_ns);
}
