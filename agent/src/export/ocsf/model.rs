//! The OCSF 1.1.0 objects Palisade writes, as typed data: one field per
//! attribute used, named as the schema names it, absent when `None`.
//! Which attributes a class may carry is the schema's business; the
//! validator in the tests holds every record to it.

use serde::Serialize;

use super::native;
use crate::policy::decision::{Decision, Suppressed};

/// One OCSF event, of any class Palisade emits.
#[derive(Debug, Serialize)]
pub struct Event {
    pub class_uid: u32,
    pub class_name: &'static str,
    pub category_uid: u32,
    pub category_name: &'static str,
    pub activity_id: u32,
    pub activity_name: &'static str,
    pub type_uid: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// Milliseconds since the epoch.
    pub time: i64,
    pub severity_id: u8,
    pub severity: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    pub metadata: Metadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<Device>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u32>,
    /// File System Activity: the file acted on, and for a rename its new
    /// name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<File>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_result: Option<File>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_endpoint: Option<Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_endpoint: Option<Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_info: Option<ConnectionInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding_info: Option<FindingInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidences: Option<Vec<Evidence>>,
    #[serde(flatten)]
    pub control: Option<SecurityControl>,
    /// The kernel rule a `connection_ended` record names (Security Control
    /// profile).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firewall_rule: Option<FirewallRule>,
    pub unmapped: Unmapped,
}

impl Event {
    /// The record's id (`metadata.uid`): the native record's, or for a
    /// Detection Finding its own.
    pub fn uid(&self) -> &str {
        &self.metadata.uid
    }
}

#[derive(Debug, Serialize)]
pub struct Metadata {
    pub version: &'static str,
    pub uid: String,
    pub original_time: String,
    pub log_name: String,
    pub product: Product,
    /// The profiles whose attributes the record uses, and only those.
    pub profiles: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct Product {
    pub name: &'static str,
    pub vendor_name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Device {
    /// The node's name when it is a hostname as OCSF defines one
    /// (`hostname_t`); `name` otherwise (a VM without one says `(none)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// 0, Unknown: a node may be a server or a virtual machine.
    pub type_id: u8,
}

#[derive(Debug, Clone, Serialize)]
pub struct Actor {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Process {
    /// Absent for a `connection_ended` record's: a socket names the
    /// workload that made it, not a process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd_line: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<File>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminated_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_process: Option<Box<Process>>,
    /// The ancestors' executables, the parent's first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lineage: Option<Vec<String>>,
    /// Container profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
}

#[derive(Debug, Clone, Serialize)]
pub struct File {
    pub name: String,
    pub path: String,
    /// 1, Regular File.
    pub type_id: u8,
}

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub uid: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Container {
    pub uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub runtime: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orchestrator: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_uuid: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Image {
    pub uid: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Endpoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConnectionInfo {
    pub direction_id: u8,
    pub direction: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_num: Option<u8>,
    pub protocol_name: String,
    pub protocol_ver_id: u8,
    pub protocol_ver: &'static str,
}

/// The Security Control profile's attributes.
#[derive(Debug, Serialize)]
pub struct SecurityControl {
    pub action_id: u8,
    pub action: &'static str,
    pub disposition_id: u8,
    pub disposition: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attacks: Vec<Attack>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FirewallRule {
    pub uid: String,
}

/// One MITRE ATT&CK reference: a tactic (`TA…`), a technique (`T…`) or a
/// sub-technique (`T….…`, with its technique).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Attack {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tactic: Option<Uid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub technique: Option<Uid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_technique: Option<Uid>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Uid {
    pub uid: String,
}

#[derive(Debug, Serialize)]
pub struct FindingInfo {
    pub uid: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    pub created_time: i64,
    pub analytic: Analytic,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related_analytics: Vec<Analytic>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attacks: Vec<Attack>,
    pub related_events: Vec<RelatedEvent>,
}

/// A policy rule, as the analytic that found something.
#[derive(Debug, Serialize)]
pub struct Analytic {
    pub uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// 1, Rule.
    pub type_id: u8,
    pub r#type: &'static str,
}

#[derive(Debug, Serialize)]
pub struct RelatedEvent {
    pub uid: String,
    pub type_uid: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Evidence {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src_endpoint: Option<Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst_endpoint: Option<Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_info: Option<ConnectionInfo>,
}

/// What OCSF has no place for, under `unmapped.palisade`.
#[derive(Debug, Clone, Serialize)]
pub struct Unmapped {
    pub palisade: Palisade,
}

#[derive(Debug, Clone, Serialize)]
pub struct Palisade {
    /// The native record's kind.
    pub kind: String,
    /// The cluster's name (`--cluster`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub host: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_cgroup: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessExtra>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitExtra>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkExtra>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileExtra>,
    /// `network_socket`: the socket asked for (OCSF has no socket object).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket: Option<super::native::SocketRequest>,
    /// `exception_used`: the event the exception applied to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<Suppressed>,
    /// A record that could not be mapped, whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<serde_json::Value>,
}

/// What the native process has beyond OCSF's.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProcessExtra {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub euid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<serde_json::Value>,
    /// The captured environment variables: OCSF 1.1's process object has
    /// none (1.3 adds `environment_variables`).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub env: std::collections::BTreeMap<String, String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub env_truncated: bool,
}

impl ProcessExtra {
    pub fn of(p: &native::Process) -> Option<Self> {
        let extra = Self {
            cwd: (!p.cwd.is_empty()).then(|| p.cwd.0.clone()),
            gid: p.gid,
            euid: p.euid,
            egid: p.egid,
            drift: p.exe.as_ref().and_then(|e| e.drift.clone()),
            env: p.env.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect(),
            env_truncated: p.env_truncated,
        };
        let empty = extra.cwd.is_none()
            && extra.gid.is_none()
            && extra.euid.is_none()
            && extra.egid.is_none()
            && extra.drift.is_none()
            && extra.env.is_empty();
        (!empty).then_some(extra)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ExitExtra {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<u32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub core_dumped: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ns: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkExtra {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

/// What OCSF's file activity has no place for: how the file was opened,
/// the system call and its outcome.
#[derive(Debug, Clone, Serialize)]
pub struct FileExtra {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    pub syscall: String,
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errno: Option<i32>,
}
