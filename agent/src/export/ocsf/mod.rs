//! The native record as OCSF 1.1.0 events, for SIEMs and data lakes that
//! take OCSF. Each record is checked in the tests against the official
//! schema files (schema/ocsf-1.1.0) with a validator that follows the OCSF
//! server's rules.
//!
//! - `process_exec` and `process_exit`: Process Activity (1007), Launch or
//!   Terminate. `process` is the process (its parent in `parent_process`,
//!   every ancestor's executable in `lineage`), `actor.process` the parent
//!   for a launch and the process itself for a termination.
//! - `network_connect`, `network_accept`, `network_listen`: Network
//!   Activity (4001), Open, Fail (a connect that failed), Refuse (denied by
//!   the policy) or Other (`activity_name` Listen). `src_endpoint` is the
//!   initiator: the local end of a connect (the node's `hostname` when the
//!   kernel had not bound it yet, as for a first UDP send), the peer of an
//!   accept, and the wildcard address of a listen (any peer), whose
//!   `dst_endpoint` is the listening socket. `actor.process` is the
//!   process, `device` the node (Host profile).
//! - `network_socket`: Network Activity, Refuse (the kernel refused the
//!   socket or killed its caller) or Open (reported only); `src_endpoint`
//!   the node, `dst_endpoint` named `any` (a socket has no destination
//!   yet, and a packet socket may write to any), the family as
//!   `connection_info.protocol_name`, the socket's type and protocol under
//!   `unmapped.palisade.socket`.
//! - `file_open`, `file_unlink`, `file_rename`, `file_chmod`: File System
//!   Activity (1001), Open, Delete, Rename (`file_result` the new name) or
//!   Set Security (a mode change); `file` the path (type Unknown: the
//!   kernel saw a path, not the file), `actor.process` the caller; the
//!   access, mode, system call and result go under `unmapped.palisade.file`.
//! - `exception_used`: a Base Event (0), activity Other, `message` saying
//!   which exception suppressed which rule.
//! - A record whose decision matched rules (an alert) is also written as a
//!   Detection Finding (2004), right after its activity record:
//!   `finding_info` names the most severe rule (`analytic`, a Rule with the
//!   rule's id and title; `title` is the rule's title, `desc` its message),
//!   the other matched rules (`related_analytics`), the MITRE ATT&CK
//!   references (`attacks`) and the activity record (`related_events`);
//!   `evidences` hold the process and, for network kinds, the endpoints.
//!   Its `metadata.uid` is the activity's with `-finding` appended; each
//!   OCSF record is a line of its own (an OTLP LogRecord of its own, whose
//!   `log.record.uid` is that id).
//!
//! A decision fills the Security Control profile: `action_id` (Denied when
//! the kernel denied or a kill acted, else Allowed), `disposition_id`
//! (Blocked; Detected when a rule matched and nothing acted; Allowed) and
//! `attacks`; `severity_id` is the most severe matched rule's (Low to
//! Critical), Informational otherwise. A containerised process carries
//! `container` (Container profile) with its image and pod UID.
//! `metadata.profiles` lists exactly the profiles whose attributes the
//! record uses. What OCSF has no place for (the kind, the cluster, the
//! decision, the bundle, the pod, the working directory, drift, the exit
//! signal, ...) goes under `unmapped.palisade`.

mod model;
mod native;
#[cfg(test)]
mod tests;

use serde::Deserialize;
use serde_json::Value;
use tracing::warn;

use self::model::{
    Actor, Analytic, Attack, ConnectionInfo, Container, Device, Endpoint, Event, Evidence,
    ExitExtra, File, FileExtra, FindingInfo, FirewallRule, Image, Metadata, NetworkExtra, Palisade,
    Process, ProcessExtra, Product, RelatedEvent, SecurityControl, Uid, Unmapped, User,
};
use super::filter::severity_index;
use crate::policy::{
    decision::{Decision, Match},
    enforce::Effect,
};

pub const VERSION: &str = "1.1.0";

/// The OCSF events for one native record whose decision is `decision`:
/// its activity, then, for an alert, its Detection Finding.
pub fn convert(record: &Value, decision: Option<&Decision>) -> Vec<Event> {
    match native::Record::deserialize(record) {
        Ok(native) => {
            let activity = activity(&native, decision);
            let finding = decision.and_then(|d| finding(&native, d, &activity));
            std::iter::once(activity).chain(finding).collect()
        }
        // The agent's own records always read; should one not, it goes
        // out whole rather than not at all.
        Err(e) => {
            warn!(error = %e, "a record could not be mapped to OCSF; it is exported as a Base Event");
            vec![unreadable(record, &e.to_string())]
        }
    }
}

/// The most severe matched rule's severity index.
pub fn highest_severity(decision: &Decision) -> Option<u8> {
    decision.matched.iter().filter_map(|m| severity_index(m.severity.as_deref()?)).max()
}

/// An event class Palisade emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Base,
    FileSystemActivity,
    ProcessActivity,
    NetworkActivity,
    DetectionFinding,
}

impl Class {
    fn uid(self) -> u32 {
        match self {
            Class::Base => 0,
            Class::FileSystemActivity => 1001,
            Class::ProcessActivity => 1007,
            Class::NetworkActivity => 4001,
            Class::DetectionFinding => 2004,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Class::Base => "Base Event",
            Class::FileSystemActivity => "File System Activity",
            Class::ProcessActivity => "Process Activity",
            Class::NetworkActivity => "Network Activity",
            Class::DetectionFinding => "Detection Finding",
        }
    }

    fn category(self) -> (u32, &'static str) {
        match self {
            Class::Base => (0, "Uncategorized"),
            Class::ProcessActivity | Class::FileSystemActivity => (1, "System Activity"),
            Class::NetworkActivity => (4, "Network Activity"),
            Class::DetectionFinding => (2, "Findings"),
        }
    }
}

/// An activity: its id, the name written (the schema's caption, or the
/// source's own word for 99, Other).
struct Activity {
    id: u32,
    name: &'static str,
}

const OTHER: u32 = 99;

/// The fields every event has, for `class` and `activity`.
fn event(
    class: Class,
    activity: Activity,
    native: &native::Record,
    severity: Option<u8>,
    unmapped: Palisade,
) -> Event {
    let (category_uid, category_name) = class.category();
    let (severity_id, severity) = match severity {
        Some(0) => (2, "Low"),
        Some(1) => (3, "Medium"),
        Some(2) => (4, "High"),
        Some(_) => (5, "Critical"),
        None => (1, "Informational"),
    };
    let type_uid = u64::from(class.uid()) * 100 + u64::from(activity.id);
    Event {
        class_uid: class.uid(),
        class_name: class.name(),
        category_uid,
        category_name,
        activity_id: activity.id,
        activity_name: activity.name,
        type_uid,
        // For Other the caption is the schema's ("…: Other"), not the
        // source's word: leave it out rather than contradict
        // `activity_name`.
        type_name: (activity.id != OTHER).then(|| format!("{}: {}", class.name(), activity.name)),
        time: epoch_ms(&native.time).unwrap_or(0),
        severity_id,
        severity,
        message: None,
        count: None,
        metadata: Metadata {
            version: VERSION,
            uid: native.id.clone(),
            original_time: native.time.clone(),
            log_name: native.kind.clone(),
            product: Product {
                name: "Palisade",
                vendor_name: "Palisade",
                version: env!("CARGO_PKG_VERSION"),
            },
            profiles: Vec::new(),
        },
        device: None,
        actor: None,
        process: None,
        exit_code: None,
        file: None,
        file_result: None,
        src_endpoint: None,
        dst_endpoint: None,
        connection_info: None,
        finding_info: None,
        evidences: None,
        control: None,
        firewall_rule: None,
        unmapped: Unmapped { palisade: unmapped },
    }
}

/// The activity record (or Base Event) of a native record.
fn activity(native: &native::Record, decision: Option<&Decision>) -> Event {
    let severity = decision.and_then(highest_severity);
    let unmapped = palisade(native, decision);
    let (class, mut out) = match (native.kind.as_str(), &native.network, &native.file) {
        ("process_exec" | "process_exit", _, _) => {
            let launch = native.kind == "process_exec";
            let activity = if launch {
                Activity { id: 1, name: "Launch" }
            } else {
                Activity { id: 2, name: "Terminate" }
            };
            let mut out = event(Class::ProcessActivity, activity, native, severity, unmapped);
            let mut process = process(native);
            let actor = if launch {
                process.parent_process.as_deref().cloned()
            } else {
                process.terminated_time = Some(out.time);
                Some(Process {
                    pid: process.pid,
                    name: process.name.clone(),
                    file: process.file.clone(),
                    ..Process::default()
                })
            };
            out.actor = Some(match actor {
                Some(p) => Actor { process: Some(p), user: None },
                // No parent known: the user is what is left to name.
                None => Actor { process: None, user: process.user.clone() },
            });
            out.exit_code = native.exit.as_ref().and_then(|e| e.code);
            out.process = Some(process);
            out.device = Some(device(native));
            (Class::ProcessActivity, out)
        }
        (_, None, Some(f)) => {
            let activity = match native.kind.as_str() {
                "file_unlink" => Activity { id: 4, name: "Delete" },
                "file_rename" => Activity { id: 5, name: "Rename" },
                // A mode change is a permission change.
                "file_chmod" => Activity { id: 7, name: "Set Security" },
                _ => Activity { id: 14, name: "Open" },
            };
            let mut out = event(Class::FileSystemActivity, activity, native, severity, unmapped);
            // The kernel saw a path, not the file: its type is not known.
            let target = |path: &str| File {
                name: basename(path).unwrap_or(path).to_string(),
                path: path.to_string(),
                type_id: 0,
            };
            out.file = Some(target(f.path.as_str()));
            out.file_result = f.new_path.as_ref().map(|p| target(p.as_str()));
            out.actor = Some(Actor { process: Some(process(native)), user: None });
            out.device = Some(device(native));
            (Class::FileSystemActivity, out)
        }
        ("network_socket", _, _) => {
            let mut out = event(
                Class::NetworkActivity,
                socket_activity(decision),
                native,
                severity,
                unmapped,
            );
            // The node is what is known of the local end, and a socket
            // names no destination yet (a packet socket may write to any).
            let (hostname, name) = host_or_name(&native.node);
            out.src_endpoint = Some(Endpoint { hostname, name, ..Endpoint::default() });
            out.dst_endpoint = Some(Endpoint { name: Some("any".into()), ..Endpoint::default() });
            out.connection_info = native.socket.as_ref().map(|s| ConnectionInfo {
                direction_id: 2,
                direction: "Outbound",
                protocol_num: None,
                protocol_name: s.family.clone(),
                protocol_ver_id: 0,
                protocol_ver: "Unknown",
            });
            out.actor = Some(Actor { process: Some(process(native)), user: None });
            out.device = Some(device(native));
            (Class::NetworkActivity, out)
        }
        (_, Some(net), _) => {
            let activity = network_activity(native, net, decision);
            let mut out = event(Class::NetworkActivity, activity, native, severity, unmapped);
            let (src, dst) = endpoints(native, net);
            out.src_endpoint = Some(src);
            out.dst_endpoint = Some(dst);
            out.connection_info = Some(connection_info(net));
            out.count = net.repeats;
            // A connection_ended record names no process, only the
            // workload (in `container` when it is one).
            let actor = process(native);
            out.actor = (actor.pid.is_some() || actor.container.is_some())
                .then_some(Actor { process: Some(actor), user: None });
            out.device = Some(device(native));
            (Class::NetworkActivity, out)
        }
        _ => {
            // The source's own word for 99, Other (not "Other" itself).
            let name = if native.kind == crate::event::EXCEPTION_USED {
                "Exception Used"
            } else {
                "Unmapped"
            };
            let mut out =
                event(Class::Base, Activity { id: OTHER, name }, native, severity, unmapped);
            out.message = native.exception.as_ref().map(|x| {
                format!(
                    "exception {} suppressed rule {} for pid {} ({})",
                    x.exception,
                    x.rule,
                    native.process.pid.unwrap_or(0),
                    native.process.binary.as_str()
                )
            });
            (Class::Base, out)
        }
    };
    // The Base Event has no Security Control profile; its decision (none
    // today) stays in `unmapped`.
    out.control = decision.filter(|_| class != Class::Base).map(security_control);
    if native.kind == crate::event::CONNECTION_ENDED {
        out.control = Some(ended_control(native.outcome.as_deref()));
        out.firewall_rule = native.rule.clone().map(|uid| FirewallRule { uid });
        out.message = native.error.clone();
    }
    out.metadata.profiles = profiles(&out, class, native);
    out
}

/// The profiles `event` uses: Security Control for its decision, Host for
/// `device` and `actor` where they come from it (network classes and
/// findings; System Activity has them of its own), Container for a
/// process's `container`.
fn profiles(event: &Event, class: Class, native: &native::Record) -> Vec<&'static str> {
    let mut profiles = Vec::new();
    let host_profile = matches!(class, Class::NetworkActivity | Class::DetectionFinding);
    if host_profile && (event.device.is_some() || event.actor.is_some()) {
        profiles.push("host");
    }
    if class != Class::Base && native.container.is_some() {
        profiles.push("container");
    }
    if event.control.is_some() {
        profiles.push("security_control");
    }
    profiles
}

/// The Detection Finding of an alert: a record whose decision matched.
fn finding(native: &native::Record, decision: &Decision, activity: &Event) -> Option<Event> {
    let top = top_rule(decision)?;
    let uid = format!("{}-finding", native.id);
    let severity = highest_severity(decision);
    let mut out = event(
        Class::DetectionFinding,
        Activity { id: 1, name: "Create" },
        native,
        severity,
        activity.unmapped.palisade.clone(),
    );
    out.metadata.uid = uid.clone();
    out.message = Some(top.message.clone());
    out.device = activity.device.clone();
    out.actor = activity.actor.clone();
    let attacks = attacks(decision);
    out.finding_info = Some(FindingInfo {
        uid,
        title: top.title.clone().unwrap_or_else(|| top.rule.clone()),
        desc: Some(top.message.clone()),
        created_time: out.time,
        analytic: analytic(top),
        related_analytics: (decision.matched.iter())
            .filter(|m| !std::ptr::eq(*m, top))
            .map(analytic)
            .collect(),
        attacks: attacks.clone(),
        related_events: vec![RelatedEvent { uid: native.id.clone(), type_uid: activity.type_uid }],
    });
    let process = activity
        .process
        .clone()
        .or_else(|| activity.actor.as_ref().and_then(|a| a.process.clone()));
    let evidence = Evidence {
        process,
        src_endpoint: activity.src_endpoint.clone(),
        dst_endpoint: activity.dst_endpoint.clone(),
        connection_info: activity.connection_info.clone(),
    };
    // A Base Event's finding has nothing to show.
    out.evidences = evidence.process.is_some().then(|| vec![evidence]);
    out.control = Some(security_control(decision));
    out.metadata.profiles = profiles(&out, Class::DetectionFinding, native);
    Some(out)
}

/// The most severe matched rule (the first of equals); `None` when
/// nothing matched.
fn top_rule(decision: &Decision) -> Option<&Match> {
    let rank = |m: &Match| m.severity.as_deref().and_then(severity_index).map_or(0, |s| s + 1);
    let mut top: Option<&Match> = None;
    for m in &decision.matched {
        if top.is_none_or(|t| rank(m) > rank(t)) {
            top = Some(m);
        }
    }
    top
}

fn analytic(rule: &Match) -> Analytic {
    Analytic { uid: rule.rule.clone(), name: rule.title.clone(), type_id: 1, r#type: "Rule" }
}

/// The Security Control profile: what was done, and the ATT&CK references.
fn security_control(decision: &Decision) -> SecurityControl {
    let enforced = decision.enforcement.as_ref().map(|e| e.result);
    let ((action_id, action), (disposition_id, disposition)) = match enforced {
        Some(Effect::Denied | Effect::Killed) => ((2, "Denied"), (2, "Blocked")),
        _ if !decision.matched.is_empty() => ((1, "Allowed"), (15, "Detected")),
        _ => ((1, "Allowed"), (1, "Allowed")),
    };
    SecurityControl { action_id, action, disposition_id, disposition, attacks: attacks(decision) }
}

/// What the agent did to an open connection its rules deny.
fn ended_control(outcome: Option<&str>) -> SecurityControl {
    let ((action_id, action), (disposition_id, disposition)) = match outcome {
        Some("ended") => ((2, "Denied"), (21, "Reset")),
        Some("would_end") => ((1, "Allowed"), (15, "Detected")),
        _ => ((2, "Denied"), (27, "Error")),
    };
    SecurityControl { action_id, action, disposition_id, disposition, attacks: Vec::new() }
}

/// The matched rules' MITRE ATT&CK references, each once.
fn attacks(decision: &Decision) -> Vec<Attack> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for id in decision.matched.iter().filter_map(|m| m.mitre.as_deref()) {
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        let uid = |s: &str| Some(Uid { uid: s.to_string() });
        out.push(match id.split_once('.') {
            _ if id.starts_with("TA") => Attack { tactic: uid(id), ..Attack::default() },
            Some((technique, _)) => {
                Attack { technique: uid(technique), sub_technique: uid(id), ..Attack::default() }
            }
            None => Attack { technique: uid(id), ..Attack::default() },
        });
    }
    out
}

fn network_activity(
    native: &native::Record,
    net: &native::Network,
    decision: Option<&Decision>,
) -> Activity {
    let denied =
        decision.and_then(|d| d.enforcement.as_ref()).is_some_and(|e| e.result == Effect::Denied);
    match (native.kind.as_str(), net.result.as_deref()) {
        (crate::event::CONNECTION_ENDED, _) => match native.outcome.as_deref() {
            Some("ended") => Activity { id: 3, name: "Reset" },
            Some("would_end") => Activity { id: OTHER, name: "Would Reset" },
            _ => Activity { id: OTHER, name: "Reset Failed" },
        },
        _ if denied => Activity { id: 5, name: "Refuse" },
        ("network_listen", _) => Activity { id: OTHER, name: "Listen" },
        (_, Some("failed")) => Activity { id: 4, name: "Fail" },
        _ => Activity { id: 1, name: "Open" },
    }
}

/// A `network_socket` record's activity: Refuse when the kernel refused
/// the socket or killed its caller, else Open (reported only).
fn socket_activity(decision: Option<&Decision>) -> Activity {
    let result = decision.and_then(|d| d.enforcement.as_ref()).map(|e| e.result);
    match result {
        Some(Effect::Denied | Effect::Killed) => Activity { id: 5, name: "Refuse" },
        _ => Activity { id: 1, name: "Open" },
    }
}

/// (source, destination): the initiator first.
fn endpoints(native: &native::Record, net: &native::Network) -> (Endpoint, Endpoint) {
    let remote = Endpoint {
        ip: Some(net.daddr.clone()),
        port: (net.dport != 0).then_some(net.dport),
        ..Endpoint::default()
    };
    // Not bound yet: the node is all that is known of the local end.
    let (hostname, name) = match net.saddr {
        None => host_or_name(&native.node),
        Some(_) => (None, None),
    };
    let local = Endpoint { ip: net.saddr.clone(), port: net.sport, hostname, name };
    match net.direction.as_str() {
        "inbound" | "listen" => (remote, local),
        _ => (local, remote),
    }
}

fn connection_info(net: &native::Network) -> ConnectionInfo {
    let (direction_id, direction) = match net.direction.as_str() {
        "inbound" => (1, "Inbound"),
        "outbound" => (2, "Outbound"),
        _ => (0, "Unknown"),
    };
    let (protocol_ver_id, protocol_ver) = match net.family.as_str() {
        "ipv4" => (4, "Internet Protocol version 4 (IPv4)"),
        "ipv6" => (6, "Internet Protocol version 6 (IPv6)"),
        _ => (0, "Unknown"),
    };
    ConnectionInfo {
        direction_id,
        direction,
        protocol_num: match net.protocol.as_str() {
            "tcp" => Some(6),
            "udp" => Some(17),
            other => other.parse().ok(),
        },
        protocol_name: net.protocol.clone(),
        protocol_ver_id,
        protocol_ver,
    }
}

fn device(native: &native::Record) -> Device {
    let (hostname, name) = host_or_name(&native.node);
    Device { hostname, name, type_id: 0 }
}

/// The node's name as OCSF's `hostname` when it is one (`hostname_t`:
/// dot-separated labels of letters, digits and inner hyphens), else as
/// `name`.
fn host_or_name(node: &str) -> (Option<String>, Option<String>) {
    let label = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if node.split('.').all(label) {
        (Some(node.to_string()), None)
    } else {
        (None, Some(node.to_string()))
    }
}

/// The record's process, with its container.
fn process(native: &native::Record) -> Process {
    let p = &native.process;
    let binary = p.binary.as_str();
    Process {
        pid: p.pid,
        name: basename(binary)
            .map(String::from)
            .or_else(|| p.comm.as_ref().filter(|c| !c.is_empty()).map(|c| c.0.clone())),
        cmd_line: (!p.args.is_empty())
            .then(|| p.args.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(" ")),
        file: file(binary),
        user: p.uid.map(|uid| User { uid: uid.to_string() }),
        created_time: epoch_ms(&p.start_time),
        terminated_time: None,
        parent_process: parent(p).map(Box::new),
        lineage: (!p.ancestors.is_empty())
            .then(|| p.ancestors.iter().map(|a| a.binary.0.clone()).collect()),
        container: container(native),
    }
}

/// The parent: the first ancestor (for a denied exec, the caller itself,
/// which the kernel kept from launching), else the bare parent pid.
fn parent(p: &native::Process) -> Option<Process> {
    match p.ancestors.first() {
        Some(a) => Some(Process {
            pid: Some(a.pid),
            name: basename(a.binary.as_str()).map(String::from),
            file: file(a.binary.as_str()),
            ..Process::default()
        }),
        None => p
            .ppid
            .filter(|&ppid| ppid != 0)
            .map(|pid| Process { pid: Some(pid), ..Process::default() }),
    }
}

fn basename(path: &str) -> Option<&str> {
    path.rsplit('/').next().filter(|n| !n.is_empty())
}

/// The executable as a File; `None` when its path is not known.
fn file(path: &str) -> Option<File> {
    let name = basename(path)?;
    Some(File { name: name.to_string(), path: path.to_string(), type_id: 1 })
}

fn container(native: &native::Record) -> Option<Container> {
    let c = native.container.as_ref()?;
    let pod_uid = native.pod.as_ref().and_then(|p| p["uid"].as_str());
    Some(Container {
        uid: c.id.clone(),
        name: c.name.clone(),
        runtime: c.runtime.clone(),
        image: c.image.as_deref().map(image),
        orchestrator: native.pod.is_some().then_some("Kubernetes"),
        pod_uuid: pod_uid.map(String::from),
    })
}

/// The image as the pod spec names it. OCSF wants a `uid`: the digest when
/// the reference pins one, else the reference itself (the agent does not
/// ask the runtime for the image's id).
fn image(reference: &str) -> Image {
    if let Some((name, digest)) = reference.split_once('@') {
        return Image { uid: digest.to_string(), name: name.to_string(), tag: None };
    }
    let last = reference.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match reference[last..].rsplit_once(':') {
        Some((_, tag)) => (&reference[..reference.len() - tag.len() - 1], Some(tag.to_string())),
        None => (reference, None),
    };
    Image { uid: reference.to_string(), name: name.to_string(), tag }
}

/// What OCSF has no place for.
fn palisade(native: &native::Record, decision: Option<&Decision>) -> Palisade {
    Palisade {
        kind: native.kind.clone(),
        cluster: native.cluster.clone(),
        bundle: native.bundle.clone(),
        decision: decision.cloned(),
        pod: native.pod.clone(),
        host: native.host,
        container_cgroup: native.container.as_ref().and_then(|c| c.cgroup.clone()),
        process: ProcessExtra::of(&native.process),
        exit: native.exit.as_ref().map(|e| ExitExtra {
            signal: e.signal,
            core_dumped: e.core_dumped,
            duration_ns: e.duration_ns,
        }),
        network: native
            .network
            .as_ref()
            .map(|n| NetworkExtra { hook: n.hook.clone(), result: n.result.clone() }),
        file: native.file.as_ref().map(|f| FileExtra {
            access: f.access.clone(),
            mode: f.mode.clone(),
            syscall: f.syscall.clone(),
            result: f.result.clone(),
            errno: f.errno,
        }),
        socket: native.socket.clone(),
        event_id: native.event_id.clone(),
        exception: native.exception.clone(),
        record: None,
    }
}

/// A record that did not read as a native record: a Base Event holding it.
fn unreadable(record: &Value, error: &str) -> Event {
    let text = |key: &str| record[key].as_str().unwrap_or_default().to_string();
    let native = native::Record {
        id: text("id"),
        time: text("time"),
        node: text("node"),
        kind: text("kind"),
        ..native::Record::default()
    };
    let mut unmapped = palisade(&native, None);
    unmapped.record = Some(record.clone());
    let mut out =
        event(Class::Base, Activity { id: OTHER, name: "Unmapped" }, &native, None, unmapped);
    out.message = Some(format!("the native record could not be mapped: {error}"));
    out
}

/// RFC 3339 → milliseconds since the epoch.
fn epoch_ms(time: &str) -> Option<i64> {
    let ns = crate::model::time::parse_rfc3339_ns(time)?;
    i64::try_from(ns / 1_000_000).ok()
}
