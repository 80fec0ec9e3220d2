//! Kernel enforcement that follows the workload.
//!
//! Every cgroup the agent learns (at start, from `cgroup_mkdir` records, from
//! the runtimes' state, from the API server's pod labels) is described as
//! [`WorkloadFacts`] by the processing thread ([`feed`]) and placed by the
//! [`keeper`] on a profile: the kernel rules whose scope selects it, each
//! enforced or carved out by an exception. The hooks look the caller's
//! cgroup up in O(1); an exception thus relaxes a rule only for the
//! workloads it names, and a rule scoped to a namespace is denied there and
//! nowhere else.

pub mod feed;
pub mod keeper;
pub mod sever;

use crate::{
    container::Identity,
    policy::workloads::{ContainerFacts, PodFacts, WorkloadFacts},
};

/// What changed about one cgroup.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkloadUpdate {
    /// A cgroup and what is known of it now; `created_ns` is its creation
    /// time (kernel monotonic clock) when the kernel reported it, for the
    /// classification latency.
    Seen { cgroup: u64, facts: WorkloadFacts, created_ns: Option<u64> },
    /// A cgroup removed.
    Gone { cgroup: u64 },
}

/// The facts of a resolved cgroup; None when it could not be resolved (it
/// is then left to the hooks' fallback).
pub fn facts_of(identity: &Identity) -> Option<WorkloadFacts> {
    if identity.host {
        return Some(WorkloadFacts::host());
    }
    if identity.container.is_none() && identity.pod.is_none() {
        return None;
    }
    let container = identity.container.as_ref().map_or_else(ContainerFacts::default, |c| {
        ContainerFacts { id: Some(c.id.clone()), image: c.image.clone() }
    });
    let pod = identity.pod.as_ref().map(|p| PodFacts {
        uid: p.uid.clone(),
        namespace: p.namespace.clone(),
        labels: if p.labels_available { p.labels.clone() } else { None },
    });
    Some(WorkloadFacts { host: false, container: Some(container), pod })
}
