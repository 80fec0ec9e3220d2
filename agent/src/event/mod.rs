//! The exported event: one JSON object per line, schema `palisade.event/v1`.

mod time;

pub use time::Clock;

use std::{collections::BTreeMap, net::IpAddr};

use palisade_common::kind;
use serde::Serialize;

use crate::{
    container::{Container, Identity, Pod},
    drift::{self, Drift},
    model::{bytes::Bytes, time::WallTime},
    policy::decision::Decision,
    process::table::Ancestor,
    sensor::decode::KernelVerdict,
};

/// Versioned schema name carried by every event.
pub const SCHEMA: &str = "palisade.event/v1";

/// The kind of the audit record written when an exception suppresses a
/// match (the other kinds are named after the kernel records).
pub const EXCEPTION_USED: &str = "exception_used";

/// The kind of the record of a break-glass order starting or ending.
pub const BREAK_GLASS: &str = "break_glass";

/// The kind of the record of a bundle coming into force.
pub const POLICY_CHANGE: &str = "policy_change";

/// The kind of the record `palisade unload` writes before it acts.
pub const UNLOAD: &str = "unload";

/// The kind of the record of enforcement state found changed (and put
/// back) behind the agent's back.
pub const TAMPER: &str = "tamper";

/// The kind of the record of an open connection a rule set coming into
/// force denies: ended, or left open by an audit-mode rule.
pub const CONNECTION_ENDED: &str = "connection_ended";

/// What every event shares, fixed for the agent's lifetime (found by
/// `enrich::detect_origin`).
#[derive(Debug, Clone)]
pub struct Origin {
    pub node: String,
    /// The cluster's name (`--cluster`), on every record.
    pub cluster: Option<&'static str>,
    /// Distinguishes this boot's events from another boot's, whose monotonic
    /// timestamps restart from zero.
    pub boot_id: String,
    pub clock: Clock,
}

impl Origin {
    /// A stable id: the same kernel record always gets the same id, and no two
    /// records of one node get the same one.
    fn id(&self, ktime_ns: u64, pid: u32, kind: u32) -> String {
        // `{boot_id}-{ktime_ns:016x}-{pid:x}-{kind}`, without the
        // formatting machinery: it runs for every event.
        let mut id = String::with_capacity(self.boot_id.len() + 32);
        id.push_str(&self.boot_id);
        id.push('-');
        push_hex(&mut id, ktime_ns, 16);
        id.push('-');
        push_hex(&mut id, u64::from(pid), 1);
        id.push('-');
        id.push_str(itoa::Buffer::new().format(kind));
        id
    }
}

/// Appends `value` in lower-case hex, zero-padded to `width` digits.
fn push_hex(out: &mut String, value: u64, width: usize) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digits = (16 - value.leading_zeros() as usize / 4).max(width);
    for i in (0..digits).rev() {
        out.push(char::from(DIGITS[((value >> (4 * i)) & 0xf) as usize]));
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub schema: &'static str,
    pub id: String,
    pub time: WallTime,
    pub node: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<&'static str>,
    pub kind: &'static str,
    pub process: Process,
    /// The container the process runs in; absent on the host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    /// The Kubernetes pod the process runs in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<Pod>,
    /// True when the process runs on the host: its cgroup belongs to no
    /// container and no pod. Absent (false) for a container's process, and
    /// when the cgroup could not be resolved.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub host: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitInfo>,
    /// For network kinds: the connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// For file kinds: the file operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileActivity>,
    /// For `network_socket`: the socket asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket: Option<SocketRequest>,
    /// The kernel rule that matched in a hook; folded into `decision`.
    #[serde(skip)]
    pub verdict: Option<KernelVerdict>,
    /// What the kernel saw of the executable, for the drift step
    /// (`enrich::drift`), which takes it.
    #[serde(skip)]
    pub drift_evidence: Option<drift::Evidence>,
    /// Short digest of the policy bundle that judged the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    /// The policy's decision, when a rule matched (or an exception applied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
}

/// A `connection_ended` record: an open connection made before the rule
/// set in force, which denies it (`workloads::sever`). No process: a
/// socket names the cgroup that made it, not a process.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionEnded {
    pub schema: &'static str,
    pub id: String,
    pub time: String,
    pub node: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<&'static str>,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<Pod>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub host: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup_id: Option<u64>,
    pub network: Network,
    /// The kernel rule that denies it.
    pub rule: String,
    /// `ended`, `would_end` (audit mode) or `not_ended`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub euid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egid: Option<u32>,
    pub binary: Bytes,
    /// Set when the path had more components, or bytes, than the kernel walk
    /// copies; `binary` then holds its innermost part.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub binary_truncated: bool,
    /// The filename given to execve, as given (may be relative).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<Bytes>,
    pub args: Vec<Bytes>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub args_truncated: bool,
    /// Bytes of argv the process had, when `args` holds fewer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args_total_bytes: Option<u32>,
    pub cwd: Bytes,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cwd_truncated: bool,
    /// The variables of the bundle's `env_capture` list found in the new
    /// image's environment, by name (exec events only).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, Bytes>,
    /// Set when the environment was longer than the window the kernel
    /// copies: a variable past it is not in `env`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub env_truncated: bool,
    /// Bytes of environment the process had, when `env_truncated`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env_total_bytes: Option<u32>,
    /// Set when the kernel could not read the environment at all.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub env_unreadable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comm: Option<Bytes>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exe: Option<Executable>,
    pub start_time: String,
    pub ancestors: Vec<Ancestor>,
}

/// The executable's identity: what a path spelling cannot fake.
#[derive(Debug, Clone, Serialize)]
pub struct Executable {
    pub inode: u64,
    /// As `stat(2)` reports `st_dev`.
    pub dev: u64,
    /// Set when the program was not part of the container's image (or, on
    /// the host, ran from memory or a deleted file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
}

/// A connection, a send, a listen or an accept. `daddr`/`dport` are the
/// remote end, `saddr`/`sport` the local one.
#[derive(Debug, Clone, Serialize)]
pub struct Network {
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
    /// `tcp`, `udp`, or the IP protocol number.
    pub protocol: String,
    /// `outbound` (connect, send), `inbound` (accept) or `listen`.
    pub direction: &'static str,
    /// Typed, printed when the event is: a folded repeat never is.
    pub daddr: IpAddr,
    pub dport: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saddr: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sport: Option<u16>,
    /// What saw it: `connect` / `sendmsg` (cgroup hooks, UDP and denied
    /// TCP), `egress` (a raw or ICMP socket's packet, or a source-routed
    /// one, judged by its real destination) or `tcp_state` (the TCP state
    /// tracepoint).
    pub hook: &'static str,
    /// For TCP connects: `established`, `failed` (refused, reset or timed
    /// out), or `pending` (no outcome within the agent's wait).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<&'static str>,
    /// Identical attempts folded into this event after the first one was
    /// reported (same process, destination, protocol and verdict, within
    /// the aggregation window): counted, never dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeats: Option<u64>,
}

/// A file operation on a watched path, seen at the system call: `path`
/// (and `new_path`) as the caller passed them, which the kernel resolved
/// afterwards (symlinks, `..`) without telling.
#[derive(Debug, Clone, Serialize)]
pub struct FileActivity {
    pub path: Bytes,
    /// The path filled the kernel's buffer (255 bytes) and may be longer.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub path_truncated: bool,
    /// file_rename: the new name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_path: Option<Bytes>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub new_path_truncated: bool,
    /// file_open: `read`, or `write` (write access, create or truncate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<&'static str>,
    /// file_open: the notable open flags (`create`, `truncate`, `append`,
    /// `exclusive`); file_unlink: `directory` for a rmdir-like unlinkat;
    /// file_rename: `noreplace`, `exchange`, `whiteout`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<&'static str>,
    /// file_chmod, and an open that creates: the mode, in octal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The system call (`openat`, `renameat2`, ...).
    pub syscall: &'static str,
    /// `ok`, or `failed` with `errno`.
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errno: Option<i32>,
}

/// A socket of a family a kernel rule names, as `socket(2)` asked for it.
#[derive(Debug, Clone, Serialize)]
pub struct SocketRequest {
    /// The family as rules name it (`packet`, `xdp`, `vsock`, ...).
    pub family: &'static str,
    /// `raw`, `dgram`, `stream`, `seqpacket`, `rdm`, `packet` (the old
    /// `SOCK_PACKET`), or the number.
    #[serde(rename = "type")]
    pub sock_type: String,
    /// The protocol argument as passed.
    pub protocol: u32,
    /// For a packet socket: the ethertype it receives (`0x0003`: all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ethertype: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExitInfo {
    /// Exit status, when the process exited normally.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<u32>,
    /// Signal number, when a signal ended the process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<u32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub core_dumped: bool,
    pub duration_ns: u64,
}

impl Event {
    /// An event of `kind` with the fields every event has; the rest empty.
    pub fn new(origin: &Origin, ktime_ns: u64, pid: u32, kind: u32, process: Process) -> Self {
        Self {
            schema: SCHEMA,
            id: origin.id(ktime_ns, pid, kind),
            time: WallTime(origin.clock.wall_ns(ktime_ns)),
            node: origin.node.clone(),
            cluster: origin.cluster,
            kind: kind::name(kind),
            process,
            container: None,
            pod: None,
            host: false,
            exit: None,
            network: None,
            file: None,
            socket: None,
            verdict: None,
            drift_evidence: None,
            bundle: None,
            decision: None,
        }
    }

    /// Says where the process runs.
    pub fn attribute(&mut self, identity: Identity) {
        self.container = identity.container;
        self.pod = identity.pod;
        self.host = identity.host;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_formatted_ones() {
        let origin = Origin {
            node: "n".into(),
            cluster: None,
            boot_id: "426d6a03".into(),
            clock: Clock::default(),
        };
        for (ktime, pid, kind) in [(0, 0, 1), (0x182a6fdbe9af, 0x7c66, 14), (u64::MAX, u32::MAX, 9)]
        {
            assert_eq!(
                origin.id(ktime, pid, kind),
                format!("{}-{ktime:016x}-{pid:x}-{kind}", origin.boot_id)
            );
        }
    }
}
