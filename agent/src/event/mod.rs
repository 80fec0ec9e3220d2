//! The exported event: one JSON object per line, schema `palisade.event/v1`.

mod time;

pub use time::Clock;

use palisade_common::{exec_flags, kind};
use serde::Serialize;

use crate::{
    container::{Container, Identity, Pod},
    drift::{self, Drift},
    model::bytes::Bytes,
    policy::decision::Decision,
    process::table::{Ancestor, ProcessInfo, ProcessTable},
    sensor::decode::{self, Exec, ExecDenied, Exit, KernelVerdict, Net},
};

/// Versioned schema name carried by every event.
pub const SCHEMA: &str = "palisade.event/v1";

/// The kind of the audit record written when an exception suppresses a
/// match (the other kinds are named after the kernel records).
pub const EXCEPTION_USED: &str = "exception_used";

/// What every event shares, fixed for the agent's lifetime.
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
    pub fn detect() -> Self {
        let read =
            |path: &str| std::fs::read_to_string(path).unwrap_or_default().trim().to_string();
        let node = std::env::var("NODE_NAME")
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| read("/proc/sys/kernel/hostname"));
        let boot_id: String = read("/proc/sys/kernel/random/boot_id")
            .chars()
            .filter(char::is_ascii_hexdigit)
            .take(8)
            .collect();
        Self { node, cluster: None, boot_id, clock: Clock::new() }
    }

    /// A stable id: the same kernel record always gets the same id, and no two
    /// records of one node get the same one.
    fn id(&self, ktime_ns: u64, pid: u32, kind: u32) -> String {
        format!("{}-{ktime_ns:016x}-{pid:x}-{kind}", self.boot_id)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub schema: &'static str,
    pub id: String,
    pub time: String,
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
    /// The kernel rule that matched in a hook; folded into `decision`.
    #[serde(skip)]
    pub verdict: Option<KernelVerdict>,
    /// What the kernel saw of the executable, for [`Event::judge_drift`].
    #[serde(skip)]
    pub drift_evidence: Option<drift::Evidence>,
    /// Short digest of the policy bundle that judged the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    /// The policy's decision, when a rule matched (or an exception applied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
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
    pub daddr: String,
    pub dport: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub saddr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sport: Option<u16>,
    /// What saw it: `connect` / `sendmsg` (cgroup hooks, UDP and denied
    /// TCP) or `tcp_state` (the TCP state tracepoint).
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
    /// Says where the process runs.
    pub fn attribute(&mut self, identity: Identity) {
        self.container = identity.container;
        self.pod = identity.pod;
        self.host = identity.host;
    }

    /// Sets `process.exe.drift` from the kernel's evidence, the container
    /// the event was attributed to and, for a script, the script's file;
    /// for a host process, node drift against the boot (`boot_ns`, ns since
    /// the epoch).
    pub fn judge_drift(&mut self, boot_ns: i64) {
        let Some(evidence) = self.drift_evidence.take() else { return };
        let start = self.container.as_ref().and_then(|c| c.started_ns);
        let in_container = self.container.is_some();
        let p = &self.process;
        let Some(exe) = &p.exe else { return };
        let mut found = drift::judge(&evidence, in_container, start, "executable");
        // A script (or a link) names another file than the executable: look
        // at it too. The plain case, the file named is the binary, costs
        // nothing.
        if found.is_none()
            && in_container
            && let Some(filename) = &p.filename
            && filename.0 != p.binary.0
            && let Some(script) = drift::script_evidence(p.pid, &filename.0, &p.cwd.0, exe.inode)
        {
            found = drift::judge(&script, true, start, "script");
        }
        if found.is_none() && self.host {
            found = drift::on_node(&evidence, &p.binary.0, boot_ns);
        }
        if let Some(exe) = &mut self.process.exe {
            exe.drift = found;
        }
    }
}

fn bytes_list(items: &[Vec<u8>]) -> Vec<Bytes> {
    items.iter().cloned().map(Bytes).collect()
}

impl Origin {
    fn event(&self, ktime_ns: u64, pid: u32, kind: u32, process: Process) -> Event {
        Event {
            schema: SCHEMA,
            id: self.id(ktime_ns, pid, kind),
            time: self.clock.rfc3339(ktime_ns),
            node: self.node.clone(),
            cluster: self.cluster,
            kind: kind::name(kind),
            process,
            container: None,
            pod: None,
            host: false,
            exit: None,
            network: None,
            verdict: None,
            drift_evidence: None,
            bundle: None,
            decision: None,
        }
    }

    /// A `process_exec` event. Call after the table has seen the exec.
    pub fn exec_event(&self, exec: &Exec, table: &ProcessTable) -> Event {
        let h = &exec.header;
        let process = Process {
            pid: h.pid,
            ppid: exec.ppid,
            uid: exec.uid,
            gid: Some(exec.gid),
            euid: Some(exec.euid),
            egid: Some(exec.egid),
            binary: Bytes(exec.binary.clone()),
            binary_truncated: exec.has(exec_flags::BINARY_TRUNCATED),
            filename: Some(Bytes(exec.filename.clone())),
            args: bytes_list(&exec.args),
            args_truncated: exec.has(exec_flags::ARGS_TRUNCATED),
            args_total_bytes: exec.has(exec_flags::ARGS_TRUNCATED).then_some(exec.args_total),
            cwd: Bytes(exec.cwd.clone()),
            cwd_truncated: exec.has(exec_flags::CWD_TRUNCATED),
            cgroup_id: Some(h.cgroup_id),
            comm: Some(Bytes(exec.comm.clone())),
            exe: (!exec.has(exec_flags::NO_EXE_FILE)).then(|| Executable {
                inode: exec.exe_ino,
                dev: decode::kernel_dev_to_user(exec.exe_dev),
                drift: None,
            }),
            start_time: self.clock.rfc3339(exec.start_ns),
            ancestors: table.ancestors(exec.ppid),
        };
        let mut event = self.event(h.ktime_ns, h.pid, kind::EXEC, process);
        event.verdict = exec.verdict.clone();
        if !exec.has(exec_flags::NO_EXE_FILE) {
            event.drift_evidence = Some(drift::Evidence {
                bits: exec.drift,
                mtime_ns: exec.exe_mtime_ns,
                ctime_ns: exec.exe_ctime_ns,
            });
        }
        event
    }

    /// A `process_exec` event for an exec BPF-LSM denied: `process` is the
    /// caller (which keeps running), `binary` the file it tried to run.
    pub fn exec_denied_event(&self, denied: &ExecDenied, table: &ProcessTable) -> Event {
        let h = &denied.header;
        let caller = table.get(h.pid);
        let mut binary = denied.filename.clone();
        if !binary.starts_with(b"/")
            && let Some(cwd) = caller.map(|c| &c.cwd)
        {
            binary = [cwd.as_slice(), b"/", binary.as_slice()].concat();
        }
        let process = Process {
            pid: h.pid,
            ppid: caller.map_or(0, |c| c.ppid),
            uid: caller.map_or(0, |c| c.uid),
            binary: Bytes(binary),
            filename: Some(Bytes(denied.filename.clone())),
            args: Vec::new(),
            cwd: Bytes(caller.map(|c| c.cwd.clone()).unwrap_or_default()),
            cgroup_id: Some(h.cgroup_id),
            exe: Some(Executable {
                inode: denied.exe_ino,
                dev: decode::kernel_dev_to_user(denied.exe_dev),
                drift: None,
            }),
            start_time: self.clock.rfc3339(denied.start_ns),
            // The caller's own image comes first: it is what tried the exec.
            ancestors: table.ancestors(h.pid),
            ..Process::default()
        };
        let mut event = self.event(h.ktime_ns, h.pid, kind::EXEC_DENIED, process);
        event.kind = kind::name(kind::EXEC);
        event.verdict = Some(denied.verdict.clone());
        // The hook checked the file it denied (a script's own file too).
        event.drift_evidence =
            Some(drift::Evidence { bits: denied.drift, mtime_ns: 0, ctime_ns: 0 });
        event
    }

    /// A network event of `kind` (`network_connect`, `network_listen`,
    /// `network_accept`) for the process `owner` (the caller, or for an
    /// accept the process listening on the port).
    pub fn net_event(
        &self,
        net: &Net,
        kind_id: u32,
        owner: Option<u32>,
        table: &ProcessTable,
    ) -> Event {
        let h = &net.header;
        let pid = owner.unwrap_or(0);
        let mut process = Process {
            pid,
            cgroup_id: (h.cgroup_id != 0).then_some(h.cgroup_id),
            ..Process::default()
        };
        if let Some(info) = table.get(pid) {
            process.ppid = info.ppid;
            process.uid = info.uid;
            process.binary = Bytes(info.binary.clone());
            process.args = bytes_list(&info.args);
            process.cwd = Bytes(info.cwd.clone());
            process.start_time = self.clock.rfc3339(info.start_ns);
            process.ancestors = table.ancestors(info.ppid);
        }
        let mut event = self.event(h.ktime_ns, h.pid, kind_id, process);
        let local_known = !net.saddr.is_unspecified() || net.sport != 0;
        event.network = Some(Network {
            family: if net.daddr.is_ipv4() { "ipv4" } else { "ipv6" },
            protocol: match net.proto {
                6 => "tcp".into(),
                17 => "udp".into(),
                other => other.to_string(),
            },
            direction: match kind_id {
                kind::NET_ACCEPT => "inbound",
                kind::NET_LISTEN => "listen",
                _ => "outbound",
            },
            daddr: net.daddr.to_string(),
            dport: net.dport,
            saddr: local_known.then(|| net.saddr.to_string()),
            sport: (net.sport != 0).then_some(net.sport),
            hook: net.hook,
            result: None,
            repeats: None,
        });
        event.verdict = net.verdict.clone();
        event
    }

    /// A `process_exit` event, with what the table knew of the process.
    pub fn exit_event(
        &self,
        exit: &Exit,
        known: Option<&ProcessInfo>,
        table: &ProcessTable,
    ) -> Event {
        let h = &exit.header;
        let mut process = Process {
            pid: h.pid,
            cgroup_id: Some(h.cgroup_id),
            start_time: self.clock.rfc3339(exit.start_ns),
            ..Process::default()
        };
        if let Some(info) = known {
            process.ppid = info.ppid;
            process.uid = info.uid;
            process.binary = Bytes(info.binary.clone());
            process.args = bytes_list(&info.args);
            process.cwd = Bytes(info.cwd.clone());
            process.ancestors = table.ancestors(info.ppid);
        }
        let status = exit.exit_code;
        let signal = status & 0x7f;
        let mut event = self.event(h.ktime_ns, h.pid, kind::EXIT, process);
        event.exit = Some(ExitInfo {
            code: (signal == 0).then_some((status >> 8) & 0xff),
            signal: (signal != 0).then_some(signal),
            core_dumped: signal != 0 && status & 0x80 != 0,
            duration_ns: h.ktime_ns.saturating_sub(exit.start_ns),
        });
        event
    }
}
