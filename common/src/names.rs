//! Names of programs, maps and globals: the one place both sides take them from.

/// Tracepoint `sched/sched_process_exec`.
pub const PROG_EXEC: &str = "palisade_exec";
/// Raw tracepoint `sched_process_fork` (needs the child's `task_struct`).
pub const PROG_FORK: &str = "palisade_fork";
/// Tracepoint `sched/sched_process_exit`.
pub const PROG_EXIT: &str = "palisade_exit";

/// Ring buffer carrying every record to userspace.
pub const MAP_EVENTS: &str = "EVENTS";
/// Per-CPU counters of records the kernel could not deliver, indexed by kind.
pub const MAP_DROPS: &str = "DROPS";

/// Read-only global: struct offsets read from the running kernel's BTF.
pub const GLOBAL_OFFSETS: &str = "OFFSETS";
/// Read-only global: the agent's own process id, whose activity is not reported.
pub const GLOBAL_AGENT_TGID: &str = "AGENT_TGID";

/// Read-only global: offset of the filename `__data_loc` in the
/// `sched_process_exec` tracepoint record, from its format file.
pub const GLOBAL_EXEC_FILENAME_LOC: &str = "EXEC_FILENAME_LOC";

/// Read-only global: unread ring-buffer bytes above which a record wakes the
/// reader at once.
pub const GLOBAL_WAKEUP_BYTES: &str = "WAKEUP_BYTES";

/// Size of the events ring buffer in bytes (a power of two, page aligned).
pub const EVENTS_RING_BYTES: u32 = 8 << 20;
