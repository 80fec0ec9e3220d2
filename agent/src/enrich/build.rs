//! Events from decoded kernel records, with what the process table knows
//! of the process and its ancestry.

use palisade_common::{
    AT_REMOVEDIR,
    enforce::socket_family::{self, AF_PACKET},
    exec_flags, file_syscall, kind,
    open_flags::{self, O_APPEND, O_CREAT, O_EXCL, O_TRUNC},
};

use crate::{
    drift,
    event::{Event, Executable, ExitInfo, FileActivity, Network, Origin, Process, SocketRequest},
    model::bytes::Bytes,
    process::{
        env::EnvCapture,
        table::{ProcessInfo, ProcessTable},
    },
    sensor::decode::{self, Exec, ExecDenied, Exit, File, Net, Socket},
};

/// What the table knows of a process that is not exec'ing now: the
/// image, arguments and ancestry of its last exec.
fn fill_known(process: &mut Process, info: &ProcessInfo, table: &ProcessTable) {
    process.ppid = info.ppid;
    process.uid = info.uid;
    process.binary = Bytes(info.image.binary.0.to_vec());
    process.args = info.image.args.iter().cloned().map(Bytes).collect();
    process.cwd = Bytes(info.image.cwd.clone());
    process.ancestors = table.ancestors(info.ppid);
}

/// The process `pid` (in cgroup `cgroup_id`) with what the table knows of
/// it, for an event it caused without exec'ing.
fn known_process(
    origin: &Origin,
    pid: u32,
    cgroup_id: Option<u64>,
    table: &ProcessTable,
) -> Process {
    process_as_seen(origin, pid, cgroup_id, table.get(pid), table)
}

/// As [`known_process`], with the table's entry for `pid` as it was when
/// the event happened (`seen`); the ancestry is read from the table now.
fn process_as_seen(
    origin: &Origin,
    pid: u32,
    cgroup_id: Option<u64>,
    seen: Option<&ProcessInfo>,
    table: &ProcessTable,
) -> Process {
    let mut process = Process { pid, cgroup_id, ..Process::default() };
    if let Some(info) = seen {
        fill_known(&mut process, info, table);
        process.start_time = origin.clock.rfc3339(info.start_ns);
    }
    process
}

/// A `process_exec` event, with the variables of `env` found in the new
/// image's environment. Call after the table has seen the exec; the
/// record's strings move into the event.
pub fn exec_event(origin: &Origin, exec: Exec, table: &ProcessTable, env: &EnvCapture) -> Event {
    let h = &exec.header;
    let flags = exec.flags;
    let has = |flag: u32| flags & flag != 0;
    let env_truncated = has(exec_flags::ENV_TRUNCATED);
    let process = Process {
        pid: h.pid,
        ppid: exec.ppid,
        uid: exec.uid,
        gid: Some(exec.gid),
        euid: Some(exec.euid),
        egid: Some(exec.egid),
        binary: Bytes(exec.binary),
        binary_truncated: has(exec_flags::BINARY_TRUNCATED),
        filename: Some(Bytes(exec.filename)),
        args: exec.args.into_iter().map(Bytes).collect(),
        args_truncated: has(exec_flags::ARGS_TRUNCATED),
        args_total_bytes: has(exec_flags::ARGS_TRUNCATED).then_some(exec.args_total),
        cwd: Bytes(exec.cwd),
        cwd_truncated: has(exec_flags::CWD_TRUNCATED),
        env: env.pick(&exec.env, env_truncated),
        env_truncated,
        env_total_bytes: env_truncated.then_some(exec.env_total),
        env_unreadable: has(exec_flags::ENV_UNREADABLE),
        cgroup_id: Some(h.cgroup_id),
        comm: Some(Bytes(exec.comm)),
        exe: (!has(exec_flags::NO_EXE_FILE)).then(|| Executable {
            inode: exec.exe_ino,
            dev: decode::kernel_dev_to_user(exec.exe_dev),
            drift: None,
        }),
        start_time: origin.clock.rfc3339(exec.start_ns),
        ancestors: table.ancestors(exec.ppid),
    };
    let mut event = Event::new(origin, h.ktime_ns, h.pid, kind::EXEC, process);
    event.verdict = exec.verdict;
    if !has(exec_flags::NO_EXE_FILE) {
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
pub fn exec_denied_event(origin: &Origin, denied: &ExecDenied, table: &ProcessTable) -> Event {
    let h = &denied.header;
    let caller = table.get(h.pid);
    let mut binary = denied.filename.clone();
    if !binary.starts_with(b"/")
        && let Some(cwd) = caller.map(|c| &c.image.cwd)
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
        cwd: Bytes(caller.map(|c| c.image.cwd.clone()).unwrap_or_default()),
        cgroup_id: Some(h.cgroup_id),
        exe: Some(Executable {
            inode: denied.exe_ino,
            dev: decode::kernel_dev_to_user(denied.exe_dev),
            drift: None,
        }),
        start_time: origin.clock.rfc3339(denied.start_ns),
        // The caller's own image comes first: it is what tried the exec.
        ancestors: table.ancestors(h.pid),
        ..Process::default()
    };
    let mut event = Event::new(origin, h.ktime_ns, h.pid, kind::EXEC_DENIED, process);
    event.kind = kind::name(kind::EXEC);
    event.verdict = Some(denied.verdict.clone());
    // The hook checked the file it denied (a script's own file too).
    event.drift_evidence = Some(drift::Evidence { bits: denied.drift, mtime_ns: 0, ctime_ns: 0 });
    event
}

/// A network event of `kind` (`network_connect`, `network_listen`,
/// `network_accept`) for the process `owner` (the caller, or for an
/// accept the process listening on the port); `seen` is the table's entry
/// for `owner` when the record came (the event may be built later: see
/// `network`).
pub fn net_event(
    origin: &Origin,
    net: &Net,
    kind_id: u32,
    owner: Option<u32>,
    seen: Option<&ProcessInfo>,
    table: &ProcessTable,
) -> Event {
    let h = &net.header;
    let cgroup_id = (h.cgroup_id != 0).then_some(h.cgroup_id);
    let process = process_as_seen(origin, owner.unwrap_or(0), cgroup_id, seen, table);
    let mut event = Event::new(origin, h.ktime_ns, h.pid, kind_id, process);
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
        daddr: net.daddr,
        dport: net.dport,
        saddr: local_known.then_some(net.saddr),
        sport: (net.sport != 0).then_some(net.sport),
        hook: net.hook,
        result: None,
        repeats: None,
    });
    event.verdict = net.verdict.clone();
    event
}

/// A `network_socket` event: the caller of `socket(2)` and what it asked for.
pub fn socket_event(origin: &Origin, socket: &Socket, table: &ProcessTable) -> Event {
    let h = &socket.header;
    let process = known_process(origin, h.pid, Some(h.cgroup_id), table);
    let mut event = Event::new(origin, h.ktime_ns, h.pid, kind::NET_SOCKET, process);
    let sock_type = match socket.sock_type {
        1 => "stream".to_string(),
        2 => "dgram".to_string(),
        3 => "raw".to_string(),
        4 => "rdm".to_string(),
        5 => "seqpacket".to_string(),
        socket_family::SOCK_PACKET => "packet".to_string(),
        other => other.to_string(),
    };
    event.socket = Some(SocketRequest {
        family: socket_family::name(socket.family).unwrap_or("unknown"),
        sock_type,
        protocol: socket.protocol,
        // The argument is `htons(ETH_P_*)`: its low 16 bits, byte-swapped.
        ethertype: (socket.family == AF_PACKET)
            .then(|| format!("{:#06x}", u16::from_be(socket.protocol as u16))),
    });
    event.verdict = Some(socket.verdict.clone());
    event
}

const RENAME_FLAGS: [(u32, &str); 3] = [(1, "noreplace"), (2, "exchange"), (4, "whiteout")];

/// A file event (`file_open`, `file_unlink`, `file_rename`, `file_chmod`)
/// for the process that made the call.
pub fn file_event(origin: &Origin, file: &File, table: &ProcessTable) -> Event {
    let h = &file.header;
    let process = known_process(origin, h.pid, Some(h.cgroup_id), table);
    let octal = |mode: u32| format!("{:04o}", mode & 0o7777);
    let (mut access, mut flags, mut mode) = (None, Vec::new(), None);
    match h.kind {
        kind::FILE_OPEN => {
            let f = file.flags;
            access = Some(if open_flags::writes(f) { "write" } else { "read" });
            for (bit, name) in [
                (O_CREAT, "create"),
                (O_TRUNC, "truncate"),
                (O_APPEND, "append"),
                (O_EXCL, "exclusive"),
            ] {
                if f & bit != 0 {
                    flags.push(name);
                }
            }
            mode = (f & O_CREAT != 0 && file_syscall::has_mode(file.syscall))
                .then(|| octal(file.mode));
        }
        kind::FILE_UNLINK if file.flags & AT_REMOVEDIR != 0 => flags.push("directory"),
        kind::FILE_RENAME => {
            flags.extend(RENAME_FLAGS.iter().filter(|(b, _)| file.flags & b != 0).map(|(_, n)| *n));
        }
        kind::FILE_CHMOD => {
            mode = file_syscall::has_mode(file.syscall).then(|| octal(file.mode));
        }
        _ => {}
    }
    let mut event = Event::new(origin, h.ktime_ns, h.pid, h.kind, process);
    event.file = Some(FileActivity {
        path: Bytes(file.path.clone()),
        path_truncated: file.path_truncated,
        new_path: file.new_path.clone().map(Bytes),
        new_path_truncated: file.new_path_truncated,
        access,
        flags,
        mode,
        syscall: file_syscall::name(file.syscall),
        result: if file.ret >= 0 { "ok" } else { "failed" },
        errno: (file.ret < 0).then(|| i32::try_from(-file.ret).unwrap_or(i32::MAX)),
    });
    event.verdict = file.verdict.clone();
    event
}

/// A `process_exit` event, with what the table knew of the process.
pub fn exit_event(
    origin: &Origin,
    exit: &Exit,
    known: Option<&ProcessInfo>,
    table: &ProcessTable,
) -> Event {
    let h = &exit.header;
    let mut process = Process {
        pid: h.pid,
        cgroup_id: Some(h.cgroup_id),
        start_time: origin.clock.rfc3339(exit.start_ns),
        ..Process::default()
    };
    if let Some(info) = known {
        fill_known(&mut process, info, table);
    }
    let status = exit.exit_code;
    let signal = status & 0x7f;
    let mut event = Event::new(origin, h.ktime_ns, h.pid, kind::EXIT, process);
    event.exit = Some(ExitInfo {
        code: (signal == 0).then_some((status >> 8) & 0xff),
        signal: (signal != 0).then_some(signal),
        core_dumped: signal != 0 && status & 0x80 != 0,
        duration_ns: h.ktime_ns.saturating_sub(exit.start_ns),
    });
    event
}

/// The record of a break-glass order starting or ending (`phase`), at
/// `now_ns` (monotonic). Its id is the order's and the phase's: every
/// agent that sees the order writes the same id, for receivers to
/// de-duplicate on.
pub fn break_glass_record(
    origin: &Origin,
    change: &crate::policy::judge::BreakGlassChange,
    now_ns: u64,
) -> serde_json::Value {
    let o = &change.order;
    let mut record = serde_json::json!({
        "schema": crate::event::SCHEMA,
        "id": format!("{}-{}", o.id, change.phase),
        "time": origin.clock.rfc3339(now_ns),
        "node": origin.node,
        "kind": crate::event::BREAK_GLASS,
        "phase": change.phase,
        "order": {
            "id": o.id,
            "rules": o.rules,
            "scope": o.scope,
            "by": o.owner,
            "reason": o.reason,
            "until": o.expires,
        },
    });
    if let Some(cluster) = origin.cluster {
        record["cluster"] = cluster.into();
    }
    record
}

/// The record of a bundle coming into force (`old` is the one it replaced,
/// none at the start): digests, modes, and which rules and kernel-enforced
/// rules came or went, so turning enforcement off by editing the bundle is
/// never silent.
pub fn policy_change_record(
    origin: &Origin,
    old: Option<&crate::policy::compiled::Policy>,
    new: &crate::policy::compiled::Policy,
    now_ns: u64,
) -> serde_json::Value {
    use std::collections::BTreeSet;
    let ids = |p: &crate::policy::compiled::Policy| -> BTreeSet<String> {
        p.rules.iter().map(|r| r.id.clone()).collect()
    };
    let enforced = |p: &crate::policy::compiled::Policy| -> BTreeSet<String> {
        p.kernel.rules.iter().filter(|r| r.enforce).map(|r| r.id.clone()).collect()
    };
    let side = |p: &crate::policy::compiled::Policy| serde_json::json!({"bundle": p.short_digest(), "mode": p.mode, "origin": p.origin});
    let (before, kernel_before) = old.map(|p| (ids(p), enforced(p))).unwrap_or_default();
    let (after, kernel_after) = (ids(new), enforced(new));
    let mut record = serde_json::json!({
        "schema": crate::event::SCHEMA,
        "id": format!("{}-policy-{}-{now_ns:x}", origin.node, new.short_digest()),
        "time": origin.clock.rfc3339(now_ns),
        "node": origin.node,
        "kind": crate::event::POLICY_CHANGE,
        "to": side(new),
        "rules_added": after.difference(&before).collect::<Vec<_>>(),
        "rules_removed": before.difference(&after).collect::<Vec<_>>(),
        "kernel_enforced_added": kernel_after.difference(&kernel_before).collect::<Vec<_>>(),
        "kernel_enforced_removed": kernel_before.difference(&kernel_after).collect::<Vec<_>>(),
    });
    if let Some(old) = old {
        record["from"] = side(old);
    }
    if let Some(cluster) = origin.cluster {
        record["cluster"] = cluster.into();
    }
    record
}

/// The record of enforcement state found changed behind the agent's back
/// and put back (`kernel::rules::EnforceMaps::verify`).
pub fn tamper_record(
    origin: &Origin,
    tampering: &crate::kernel::rules::Tampering,
    now_ns: u64,
) -> serde_json::Value {
    let mut record = serde_json::json!({
        "schema": crate::event::SCHEMA,
        "id": format!("{}-tamper-{now_ns:x}", origin.node),
        "time": origin.clock.rfc3339(now_ns),
        "node": origin.node,
        "kind": crate::event::TAMPER,
        "tampering": tampering,
    });
    if let Some(cluster) = origin.cluster {
        record["cluster"] = cluster.into();
    }
    record
}

/// The record of an open connection the rule set in force denies, by the
/// workload that made it; `seq` tells apart the records of one pass.
pub fn connection_ended_record(
    origin: &Origin,
    connection: &crate::workloads::sever::DeniedConnection,
    identity: crate::container::Identity,
    now_ns: u64,
    seq: usize,
) -> serde_json::Value {
    use crate::workloads::sever::Outcome;
    let (outcome, error) = match &connection.outcome {
        Outcome::Ended => ("ended", None),
        Outcome::LeftOpen => ("would_end", None),
        Outcome::NotEnded { error } => ("not_ended", Some(error.clone())),
    };
    let (local, remote) = (connection.local, connection.remote);
    let record = crate::event::ConnectionEnded {
        schema: crate::event::SCHEMA,
        id: format!("{}-ended-{now_ns:x}-{seq}", origin.node),
        time: origin.clock.rfc3339(now_ns),
        node: origin.node.clone(),
        cluster: origin.cluster,
        kind: crate::event::CONNECTION_ENDED,
        container: identity.container,
        pod: identity.pod,
        host: identity.host,
        cgroup_id: connection.cgroup,
        network: crate::event::Network {
            family: if remote.is_ipv4() { "ipv4" } else { "ipv6" },
            protocol: connection.protocol_name().to_string(),
            direction: "outbound",
            daddr: remote.ip(),
            dport: remote.port(),
            saddr: Some(local.ip()),
            sport: Some(local.port()),
            hook: "sock_diag",
            result: None,
            repeats: None,
        },
        rule: connection.rule.clone(),
        outcome,
        error,
    };
    serde_json::to_value(record).unwrap_or_default()
}
