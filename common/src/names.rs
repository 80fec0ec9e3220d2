//! Names of programs, maps and globals: the one place both sides take them from.

/// Tracepoint `sched/sched_process_exec`.
pub const PROG_EXEC: &str = "palisade_exec";
/// Raw tracepoint `sched_process_fork` (needs the child's `task_struct`).
pub const PROG_FORK: &str = "palisade_fork";
/// Tracepoint `sched/sched_process_exit`.
pub const PROG_EXIT: &str = "palisade_exit";

/// BPF-LSM `bprm_check_security`: denies an exec with EPERM.
pub const PROG_BPRM_CHECK: &str = "palisade_bprm_check";
/// BPF-LSM `file_open`: judges opens by the file's resolved path, denies
/// them with EPERM.
pub const PROG_FILE_LSM: &str = "palisade_file_lsm";
/// BPF-LSM `path_*` hooks: judge the calls that change a name or an
/// attribute by the resolved path, deny them with EPERM. (program, hook)
pub const PATH_LSM_PROGRAMS: &[(&str, &str)] = &[
    ("palisade_path_unlink", "path_unlink"),
    ("palisade_path_rename", "path_rename"),
    ("palisade_path_link", "path_link"),
    ("palisade_path_symlink", "path_symlink"),
    ("palisade_path_mknod", "path_mknod"),
    ("palisade_path_truncate", "path_truncate"),
    ("palisade_path_chmod", "path_chmod"),
    ("palisade_path_chown", "path_chown"),
];
/// BPF-LSM `socket_create`: refuses a socket of a family a kernel rule
/// denies, with EPERM.
pub const PROG_SOCKET_LSM: &str = "palisade_socket_lsm";
/// Tracepoint `syscalls/sys_enter_socket`: where BPF-LSM does not run,
/// kills the caller of a socket a kernel rule denies.
pub const PROG_SOCKET_ENTER: &str = "palisade_socket_enter";
/// cgroup `connect4`, `sendmsg4`, `connect6`, `sendmsg6`: deny destinations.
pub const PROG_CONNECT4: &str = "palisade_connect4";
pub const PROG_SENDMSG4: &str = "palisade_sendmsg4";
pub const PROG_CONNECT6: &str = "palisade_connect6";
pub const PROG_SENDMSG6: &str = "palisade_sendmsg6";
/// cgroup `skb/egress`: judges raw, ICMP and source-routed packets by
/// their real destination.
pub const PROG_EGRESS: &str = "palisade_egress";

/// Raw tracepoint `inet_sock_set_state`: TCP connects, results, listens,
/// accepts.
pub const PROG_SOCK_STATE: &str = "palisade_sock_state";
/// Tracepoint `cgroup/cgroup_mkdir`.
pub const PROG_CGROUP_MKDIR: &str = "palisade_cgroup_mkdir";

/// File activity: one program per system call's entry tracepoint
/// (`syscalls/<tracepoint>`), and one for all their exits.
pub const FILE_ENTER_PROGRAMS: &[(&str, &str)] = &[
    ("palisade_file_open", "sys_enter_open"),
    ("palisade_file_openat", "sys_enter_openat"),
    ("palisade_file_openat2", "sys_enter_openat2"),
    ("palisade_file_creat", "sys_enter_creat"),
    ("palisade_file_unlink", "sys_enter_unlink"),
    ("palisade_file_unlinkat", "sys_enter_unlinkat"),
    ("palisade_file_rename", "sys_enter_rename"),
    ("palisade_file_renameat", "sys_enter_renameat"),
    ("palisade_file_renameat2", "sys_enter_renameat2"),
    ("palisade_file_chmod", "sys_enter_chmod"),
    ("palisade_file_fchmodat", "sys_enter_fchmodat"),
    ("palisade_file_fchmodat2", "sys_enter_fchmodat2"),
];
/// Attached to `sys_exit_<name>` of every entry above.
pub const PROG_FILE_EXIT: &str = "palisade_file_exit";

/// LPM trie of watched path prefixes -> `file_watch` bits.
pub const MAP_FILE_WATCH: &str = "FILE_WATCH";

/// Ring buffer carrying every record to userspace.
pub const MAP_EVENTS: &str = "EVENTS";
/// aya-log's ring buffer of the programs' own log records (named by
/// aya-log-ebpf).
pub const MAP_KERNEL_LOG: &str = "AYA_LOGS";
/// One u32, non-zero while the reader sleeps: every record wakes it.
pub const MAP_READER_ASLEEP: &str = "READER_ASLEEP";
/// Per-CPU counters of records the kernel could not deliver, indexed by kind.
pub const MAP_DROPS: &str = "DROPS";

/// The enforcement maps, pinned by these names (see `enforce`).
pub const MAP_ENFORCE_ACTIVE: &str = "ENFORCE_ACTIVE";
pub const MAP_EXEC_DENY_INODE: &str = "EXEC_DENY_INODE";
pub const MAP_EXEC_DENY_NAME: &str = "EXEC_DENY_NAME";
pub const MAP_NET4_RULES: &str = "NET4_RULES";
pub const MAP_NET6_RULES: &str = "NET6_RULES";
/// Per generation and profile: the verdict of the kernel drift rule, if any
/// (`enforce::profile_slot`).
pub const MAP_EXEC_DRIFT: &str = "EXEC_DRIFT";
/// Per generation and profile: which kinds of network entries exist
/// (`net_present_bit`).
pub const MAP_NET_PRESENT: &str = "NET_PRESENT";
/// LPM trie of kernel file rules (`enforce::FileRuleData` -> verdict).
pub const MAP_FILE_RULES: &str = "FILE_RULES";
/// Per generation and profile: which accesses file rules cover
/// (`file_watch` bits); then one slot per generation for all profiles.
pub const MAP_FILE_PRESENT: &str = "FILE_PRESENT";
/// (generation, profile, family) -> the verdict of the rule denying that
/// socket family (`enforce::SocketKey`).
pub const MAP_SOCKET_DENY: &str = "SOCKET_DENY";
/// Cgroup id -> the workload's profile per generation (`enforce::Workload`).
pub const MAP_WORKLOADS: &str = "WORKLOADS";

/// Read-only global: struct offsets read from the running kernel's BTF.
pub const GLOBAL_OFFSETS: &str = "OFFSETS";
/// Read-only global: the most verbose level the programs log at, 0 for off
/// (aya-log-ebpf's `AYA_LOG_LEVEL`, which the verifier reads as a constant).
pub const GLOBAL_KERNEL_LOG_LEVEL: &str = "AYA_LOG_LEVEL";
/// Read-only global: the agent's own process id, whose activity is not reported.
pub const GLOBAL_AGENT_TGID: &str = "AGENT_TGID";

/// Read-only global: offset of the filename `__data_loc` in the
/// `sched_process_exec` tracepoint record, from its format file.
pub const GLOBAL_EXEC_FILENAME_LOC: &str = "EXEC_FILENAME_LOC";

/// Read-only global: unread ring-buffer bytes above which a record wakes the
/// reader at once.
pub const GLOBAL_WAKEUP_BYTES: &str = "WAKEUP_BYTES";

/// Read-only global: field offsets of the `cgroup_mkdir` tracepoint
/// record, from its format file.
pub const GLOBAL_CGROUP_MKDIR_FORMAT: &str = "CGROUP_MKDIR_FORMAT";

/// Read-only global: the exec enforcement mechanism (`enforce::mechanism`).
pub const GLOBAL_EXEC_MECHANISM: &str = "EXEC_MECHANISM";

/// Where the agent pins what must outlive it: the enforcement maps and the
/// links of every program.
pub const PIN_DIR: &str = "/sys/fs/bpf/palisade";

/// Size of the events ring buffer in bytes (a power of two, page aligned).
pub const EVENTS_RING_BYTES: u32 = 8 << 20;
