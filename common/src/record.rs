//! Records the kernel writes to the events ring buffer.
//!
//! Every record starts with a [`RecordHeader`] that names its kind and its total
//! size. Variable-length data (paths, arguments) sits in a tail after the fixed
//! part, referenced by [`Span`]s relative to the start of that tail.

use core::mem::size_of;

use crate::enforce::{EXEC_NAME_LEN, Verdict};

/// Record kinds. Also the index into the per-kind drop counters.
pub mod kind {
    pub const EXEC: u32 = 1;
    pub const EXIT: u32 = 2;
    pub const FORK: u32 = 3;
    /// BPF-LSM denied an exec (the exec never happened).
    pub const EXEC_DENIED: u32 = 4;
    /// An outbound connection attempt: a TCP connect (from the TCP state
    /// tracepoint, or from the cgroup hook when a kernel rule denied it), a
    /// UDP connect or an unconnected UDP send (cgroup hooks).
    pub const NET_CONNECT: u32 = 5;
    /// How a TCP connect ended (SYN_SENT to ESTABLISHED or CLOSE), with the
    /// source address and port, which exist only by then.
    pub const NET_RESULT: u32 = 6;
    /// A TCP socket started listening.
    pub const NET_LISTEN: u32 = 7;
    /// A TCP connection was accepted (SYN_RECV to ESTABLISHED; softirq
    /// context, so no process).
    pub const NET_ACCEPT: u32 = 8;
    /// A cgroup was created (container starts create theirs).
    pub const CGROUP_MKDIR: u32 = 9;
    /// A watched file was opened (for reading, or for writing: write access,
    /// create or truncate). File kinds come from syscall tracepoints and
    /// carry the outcome ([`super::FileRecord`]).
    pub const FILE_OPEN: u32 = 10;
    /// A watched file was unlinked (or a watched directory removed).
    pub const FILE_UNLINK: u32 = 11;
    /// A file was renamed from or to a watched path.
    pub const FILE_RENAME: u32 = 12;
    /// A watched file's mode was changed.
    pub const FILE_CHMOD: u32 = 13;
    /// A socket of a family a kernel rule denies was asked for
    /// ([`super::SocketRecord`]): refused (BPF-LSM), its caller killed
    /// (the syscall tracepoint) or, in audit mode, only reported.
    pub const NET_SOCKET: u32 = 14;
    /// One past the largest kind: the length of the drop-counter array.
    pub const COUNT: u32 = 15;

    /// Human name of a kind, for logs and metrics.
    pub const fn name(kind: u32) -> &'static str {
        match kind {
            EXEC => "process_exec",
            EXIT => "process_exit",
            FORK => "process_fork",
            EXEC_DENIED => "exec_denied",
            NET_CONNECT => "network_connect",
            NET_RESULT => "network_result",
            NET_LISTEN => "network_listen",
            NET_ACCEPT => "network_accept",
            CGROUP_MKDIR => "cgroup_mkdir",
            FILE_OPEN => "file_open",
            FILE_UNLINK => "file_unlink",
            FILE_RENAME => "file_rename",
            FILE_CHMOD => "file_chmod",
            NET_SOCKET => "network_socket",
            _ => "unknown",
        }
    }
}

/// Bits of [`ExecRecord::flags`].
pub mod exec_flags {
    /// argv was longer than [`super::ARGS_MAX`] bytes; `args` holds the start.
    pub const ARGS_TRUNCATED: u32 = 1 << 0;
    /// The user memory holding argv could not be read.
    pub const ARGS_UNREADABLE: u32 = 1 << 1;
    /// The filename passed to execve was longer than [`super::FILENAME_MAX`].
    pub const FILENAME_TRUNCATED: u32 = 1 << 2;
    /// The executable's path was deeper or longer than the kernel walk allows.
    pub const BINARY_TRUNCATED: u32 = 1 << 3;
    /// The working directory's path was deeper or longer than the walk allows.
    pub const CWD_TRUNCATED: u32 = 1 << 4;
    /// The task had no executable file (`mm->exe_file` was NULL).
    pub const NO_EXE_FILE: u32 = 1 << 5;
    /// The environment was longer than [`super::ENV_MAX`] bytes; `env`
    /// holds its start only, and variables after the window are not seen.
    pub const ENV_TRUNCATED: u32 = 1 << 6;
    /// The user memory holding the environment could not be read.
    pub const ENV_UNREADABLE: u32 = 1 << 7;
}

/// Bytes of argv copied at most.
pub const ARGS_MAX: usize = 8192;
/// Bytes of the environment block copied at most (a power of two: the
/// verifier's bound on the read size is a mask).
pub const ENV_MAX: usize = 4096;
/// Bytes of the execve filename copied at most.
pub const FILENAME_MAX: usize = 512;
/// Bytes a walked path (executable or cwd) may take, components included.
pub const PATH_MAX: usize = 4096;
/// Path components walked at most, leaf to root.
pub const PATH_DEPTH_MAX: usize = 48;
/// One path component read from the kernel: NAME_MAX plus its NUL.
pub const NAME_SLOT: usize = 256;
/// Write positions in the tail are masked with this, which lets the verifier
/// prove every write stays inside [`TAIL_CAPACITY`].
pub const TAIL_POS_MASK: usize = 16384 - 1;
/// Room in the per-CPU scratch record for the tail: any masked position plus
/// the largest single write (argv; the environment window is smaller).
pub const TAIL_CAPACITY: usize = TAIL_POS_MASK + 1 + ARGS_MAX;

/// A byte range inside a record's tail.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub off: u32,
    pub len: u32,
}

/// Common to every record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordHeader {
    /// One of [`kind`].
    pub kind: u32,
    /// Total bytes of the record, header and tail included.
    pub size: u32,
    /// `bpf_ktime_get_ns()` when the record was made (CLOCK_MONOTONIC).
    pub ktime_ns: u64,
    /// Process id (the kernel's tgid).
    pub pid: u32,
    /// Thread id (the kernel's pid).
    pub tid: u32,
    /// cgroup v2 id of the task.
    pub cgroup_id: u64,
}

/// `sched_process_exec`: a task replaced its program image.
///
/// The tail holds, at the spans given: the filename as passed to execve; the
/// executable's path and the working directory, each as NUL-terminated
/// components from leaf to root (the mount tree is crossed); the first
/// [`ENV_MAX`] bytes of the environment and argv, their strings
/// NUL-separated as they sit in the new process's memory.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecRecord {
    pub header: RecordHeader,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    /// Bits of [`exec_flags`].
    pub flags: u32,
    /// Device of the executable's file system, in the kernel's `dev_t` encoding
    /// (major << 20 | minor).
    pub exe_dev: u32,
    /// Total bytes of argv in the process, copied or not.
    pub args_total: u32,
    pub exe_ino: u64,
    /// Start of the process (`task_struct.start_time` of its leader), monotonic ns.
    pub start_ns: u64,
    pub filename: Span,
    pub binary: Span,
    pub cwd: Span,
    pub args: Span,
    pub comm: [u8; 16],
    /// The kernel rule the executable matched, if any (`flags` 0: none), and
    /// whether the exec hook acted on it.
    pub verdict: Verdict,
    /// The [`crate::enforce::mechanism`] that acted on `verdict`, or NONE.
    pub mechanism: u32,
    /// Bits of [`drift`]: how the executable's file shows it was not part
    /// of the image, as far as the kernel can tell.
    pub drift: u32,
    /// The executable's last data change and last inode change (ns since
    /// the epoch), for the checks against the container's start.
    pub exe_mtime_ns: i64,
    pub exe_ctime_ns: i64,
    /// The start of the new image's environment block (`NAME=value\0`...).
    pub env: Span,
    /// Total bytes of the environment in the process, copied or not.
    pub env_total: u32,
    pub _pad: u32,
}

/// Bits of [`ExecRecord::drift`] and [`ExecDeniedRecord::drift`], computed
/// in the hook from the executable's `struct file`, before it runs.
pub mod drift {
    /// The file lives in an overlayfs upper (writable) layer: written or
    /// copied up after the image's layers were unpacked.
    pub const UPPER_LAYER: u32 = 1 << 0;
    /// The file is a memfd (`memfd_create`): it exists in memory only.
    pub const MEMFD: u32 = 1 << 1;
    /// The file has no link left on disk (deleted, or anonymous).
    pub const DELETED: u32 = 1 << 2;
    /// The file was reached through another mount than the one of the
    /// process's root: in a container, a volume (emptyDir, hostPath, a
    /// ConfigMap...) or a bind mount, not its image's root file system.
    pub const OTHER_MOUNT: u32 = 1 << 3;
    /// What a kernel drift rule acts on.
    pub const KERNEL_MASK: u32 = UPPER_LAYER | MEMFD | DELETED | OTHER_MOUNT;

    /// `super_block.s_magic` values the check tells apart.
    pub const OVERLAYFS_SUPER_MAGIC: u64 = 0x794c_7630;
    pub const TMPFS_MAGIC: u64 = 0x0102_1994;
    pub const HUGETLBFS_MAGIC: u64 = 0x9584_58f6;
    /// The dentry name prefix of every memfd (`mm/memfd.c`).
    pub const MEMFD_PREFIX: &[u8; 6] = b"memfd:";
}

/// `sched_process_fork` for a new process (new threads are not reported).
/// `header.pid` is the child.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForkRecord {
    pub header: RecordHeader,
    pub parent_pid: u32,
    pub _pad: u32,
    /// Start of the child, monotonic ns.
    pub start_ns: u64,
}

/// `sched_process_exit` of the last thread of a process.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExitRecord {
    pub header: RecordHeader,
    /// The wait(2) status: exit code in bits 8..16, or the signal in bits 0..7.
    pub exit_code: u32,
    pub _pad: u32,
    /// Start of the process, monotonic ns.
    pub start_ns: u64,
}

/// BPF-LSM `bprm_check_security` denied an exec: the calling process keeps
/// running its old image and `execve` returns EPERM. `header.pid` is the
/// caller.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecDeniedRecord {
    pub header: RecordHeader,
    pub verdict: Verdict,
    pub exe_dev: u32,
    /// Bits of [`drift`].
    pub drift: u32,
    pub exe_ino: u64,
    /// Start of the calling process, monotonic ns.
    pub start_ns: u64,
    /// The filename passed to execve (NUL terminated unless full).
    pub filename: [u8; FILENAME_MAX],
    /// The executable file's own name (NUL padded).
    pub name: [u8; EXEC_NAME_LEN],
}

/// Which hook saw a [`NetRecord`].
pub mod net_hook {
    /// cgroup `connect4|6`.
    pub const CONNECT: u8 = 1;
    /// cgroup `sendmsg4|6`.
    pub const SENDMSG: u8 = 2;
    /// The `inet_sock_set_state` raw tracepoint.
    pub const TCP_STATE: u8 = 3;
    /// cgroup `skb/egress`: a packet of a raw or ICMP socket, or one
    /// carrying a source route, judged by its real destination.
    pub const EGRESS: u8 = 4;
}

/// TCP states, as the kernel numbers them (`include/net/tcp_states.h`).
pub mod tcp_state {
    pub const ESTABLISHED: u32 = 1;
    pub const SYN_SENT: u32 = 2;
    pub const SYN_RECV: u32 = 3;
    pub const CLOSE: u32 = 7;
    pub const LISTEN: u32 = 10;
}

/// A network record: `NET_CONNECT`, `NET_RESULT`, `NET_LISTEN` or
/// `NET_ACCEPT`. `header.pid` is the caller except for `NET_RESULT` and
/// `NET_ACCEPT`, which the kernel reports from softirq context.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetRecord {
    pub header: RecordHeader,
    /// The kernel rule the destination matched (`flags` 0: none).
    pub verdict: Verdict,
    /// AF_INET (2) or AF_INET6 (10).
    pub family: u16,
    /// Destination (remote) port, host byte order.
    pub dport: u16,
    /// Source (local) port, host byte order; 0 when not known yet.
    pub sport: u16,
    /// IPPROTO_TCP or IPPROTO_UDP.
    pub proto: u8,
    /// One of [`net_hook`].
    pub hook: u8,
    /// The [`crate::enforce::mechanism`] that acted on `verdict`, or NONE.
    pub mechanism: u32,
    /// For TCP state records: the new state ([`tcp_state`]).
    pub tcp_state: u32,
    /// The kernel's socket address: pairs a connect with its result.
    pub sock: u64,
    /// Remote address: 4 bytes for IPv4, else 16, network order.
    pub daddr: [u8; 16],
    /// Local address, when known.
    pub saddr: [u8; 16],
}

/// `NET_SOCKET`: a process asked for a socket of a family a kernel rule
/// names (`socket(AF_PACKET, ...)`). `header.pid` is the caller.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketRecord {
    pub header: RecordHeader,
    /// The kernel rule that names the family (`MATCHED` set).
    pub verdict: Verdict,
    /// The address family, as the kernel judges it: `(AF_INET,
    /// SOCK_PACKET)`, the old spelling of a packet socket, is `AF_PACKET`.
    pub family: u32,
    /// The socket type, without `SOCK_NONBLOCK` and `SOCK_CLOEXEC`.
    pub sock_type: u32,
    /// The protocol argument as passed (for a packet socket, an ethertype
    /// in network byte order).
    pub protocol: u32,
    /// The [`crate::enforce::mechanism`] that acted, or NONE (reported only).
    pub mechanism: u32,
}

/// `cgroup/cgroup_mkdir`: a cgroup was created. Recorded at once, so the
/// agent knows a container's cgroup path even if it is gone before the
/// agent looks.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CgroupRecord {
    pub header: RecordHeader,
    /// The cgroup's id (its directory's inode in cgroup v2).
    pub id: u64,
    /// The hierarchy id (cgroup v2's default hierarchy is 0).
    pub root: i32,
    pub level: i32,
    /// The path below the hierarchy root, NUL terminated unless full.
    pub path: [u8; CGROUP_PATH_MAX],
}

/// Bytes of a cgroup path recorded at most.
pub const CGROUP_PATH_MAX: usize = 512;

/// Bytes of a path a file record holds, its NUL included: also the key
/// length of the watched-prefix map (an LPM trie takes at most 256 bytes).
pub const FILE_PATH_MAX: usize = 256;

/// Bits of a watched prefix's value in the `FILE_WATCH` map: which
/// operations under the prefix produce a record.
pub mod file_watch {
    /// Opens for reading only.
    pub const READ: u32 = 1 << 0;
    /// Opens for writing (write access, O_CREAT or O_TRUNC), unlinks,
    /// renames from or to the prefix, mode changes.
    pub const WRITE: u32 = 1 << 1;
}

/// The system call behind a [`FileRecord`].
pub mod file_syscall {
    pub const OPEN: u32 = 1;
    pub const OPENAT: u32 = 2;
    pub const OPENAT2: u32 = 3;
    pub const CREAT: u32 = 4;
    pub const UNLINK: u32 = 5;
    pub const UNLINKAT: u32 = 6;
    pub const RENAME: u32 = 7;
    pub const RENAMEAT: u32 = 8;
    pub const RENAMEAT2: u32 = 9;
    pub const CHMOD: u32 = 10;
    pub const FCHMODAT: u32 = 11;
    pub const FCHMODAT2: u32 = 12;
    /// Seen by BPF-LSM `file_open` alone, when a kernel file rule matched
    /// an open the system call tracepoints did not record (a relative path
    /// or one through a symlink, io_uring, open_by_handle_at): the record
    /// carries the file's resolved path.
    pub const FILE_OPEN_HOOK: u32 = 13;
    /// Seen by a BPF-LSM `path_*` hook alone (a kernel file rule matched
    /// a call the tracepoints did not record): kind `file_unlink`.
    pub const PATH_UNLINK_HOOK: u32 = 14;
    /// Kind `file_rename`, both paths resolved.
    pub const PATH_RENAME_HOOK: u32 = 15;
    /// Kind `file_chmod`, with the new mode.
    pub const PATH_CHMOD_HOOK: u32 = 16;
    /// Kind `file_chmod` (an ownership change; no mode).
    pub const PATH_CHOWN_HOOK: u32 = 17;
    /// Kind `file_open`, access write: a new name made by `mknod(2)` or an
    /// `O_CREAT` open (`flags` create, `mode` asked for).
    pub const PATH_MKNOD_HOOK: u32 = 18;
    /// Kind `file_open`, access write, flags create: a new symlink.
    pub const PATH_SYMLINK_HOOK: u32 = 19;
    /// Kind `file_open`, access write, flags create: a new hard link, or a
    /// hard link to a file a rule covers (`path` is the one matched).
    pub const PATH_LINK_HOOK: u32 = 20;
    /// Kind `file_open`, access write, flags truncate: `truncate(2)`,
    /// `ftruncate(2)` or an `O_TRUNC` open.
    pub const PATH_TRUNCATE_HOOK: u32 = 21;

    pub const fn name(syscall: u32) -> &'static str {
        match syscall {
            OPEN => "open",
            OPENAT => "openat",
            OPENAT2 => "openat2",
            CREAT => "creat",
            UNLINK => "unlink",
            UNLINKAT => "unlinkat",
            RENAME => "rename",
            RENAMEAT => "renameat",
            RENAMEAT2 => "renameat2",
            CHMOD => "chmod",
            FCHMODAT => "fchmodat",
            FCHMODAT2 => "fchmodat2",
            FILE_OPEN_HOOK => "file_open_hook",
            PATH_UNLINK_HOOK => "path_unlink_hook",
            PATH_RENAME_HOOK => "path_rename_hook",
            PATH_CHMOD_HOOK => "path_chmod_hook",
            PATH_CHOWN_HOOK => "path_chown_hook",
            PATH_MKNOD_HOOK => "path_mknod_hook",
            PATH_SYMLINK_HOOK => "path_symlink_hook",
            PATH_LINK_HOOK => "path_link_hook",
            PATH_TRUNCATE_HOOK => "path_truncate_hook",
            _ => "unknown",
        }
    }

    /// Whether a record of `syscall` carries a mode: a hard link's file
    /// has its own, which the hook does not read, and a chown changes none.
    pub const fn has_mode(syscall: u32) -> bool {
        !matches!(syscall, PATH_LINK_HOOK | PATH_CHOWN_HOOK)
    }
}

/// The `open(2)` flags the file sensor reads (x86-64 and arm64 values).
pub mod open_flags {
    pub const O_ACCMODE: u32 = 0o3;
    pub const O_WRONLY: u32 = 0o1;
    pub const O_CREAT: u32 = 0o100;
    pub const O_EXCL: u32 = 0o200;
    pub const O_TRUNC: u32 = 0o1000;
    pub const O_APPEND: u32 = 0o2000;

    /// An open that can change the file: write access, create or truncate.
    pub const fn writes(flags: u32) -> bool {
        flags & O_ACCMODE != 0 || flags & (O_CREAT | O_TRUNC) != 0
    }
}

/// unlinkat's flag for removing a directory.
pub const AT_REMOVEDIR: u32 = 0x200;

/// Bits of [`FileRecord::status`].
pub mod file_status {
    /// `path` filled its array: the path may be longer.
    pub const PATH_TRUNCATED: u32 = 1 << 0;
    /// `new_path` filled its array.
    pub const NEW_PATH_TRUNCATED: u32 = 1 << 1;
}

/// A file operation on a watched path (kinds `FILE_*`), seen at the system
/// call's entry and sent at its exit with the result. `path` and
/// `new_path` are the strings the caller passed, as read from its memory at
/// entry (NUL terminated unless full): absolute, since only absolute paths
/// match a watched prefix.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileRecord {
    pub header: RecordHeader,
    /// One of [`file_syscall`].
    pub syscall: u32,
    /// Bits of [`file_status`].
    pub status: u32,
    /// open: the `O_*` flags; unlinkat: its flag (AT_REMOVEDIR);
    /// renameat2: its RENAME_* flags.
    pub flags: u32,
    /// chmod: the new mode; an open that may create: the mode asked for.
    pub mode: u32,
    /// The system call's return value: a file descriptor or 0, or -errno.
    /// For the hooks' own records (`*_HOOK`): -EPERM when the hook denied
    /// the call, else 0.
    pub ret: i64,
    /// The kernel file rule the call matched (BPF-LSM `file_open` and
    /// `path_*` hooks), if any.
    pub verdict: Verdict,
    pub path: [u8; FILE_PATH_MAX],
    /// rename: the new name; empty otherwise.
    pub new_path: [u8; FILE_PATH_MAX],
}

/// The per-CPU scratch area an exec record is built in before it is copied to
/// the ring buffer: too big for the 512-byte BPF stack.
#[repr(C)]
pub struct ExecScratch {
    pub record: ExecRecord,
    pub tail: [u8; TAIL_CAPACITY],
}

const _: () = assert!(size_of::<Span>() == 8);
const _: () = assert!(size_of::<RecordHeader>() == 32);
const _: () = assert!(size_of::<ExecRecord>() == 208);
const _: () = assert!(size_of::<ExecDeniedRecord>() == 32 + 40 + 24 + FILENAME_MAX + EXEC_NAME_LEN);
const _: () = assert!(size_of::<NetRecord>() == 32 + 40 + 16 + 8 + 32);
const _: () = assert!(size_of::<CgroupRecord>() == 32 + 16 + CGROUP_PATH_MAX);
const _: () = assert!(size_of::<ForkRecord>() == 48);
const _: () = assert!(size_of::<FileRecord>() == 32 + 24 + 40 + 2 * FILE_PATH_MAX);
const _: () = assert!(size_of::<ExitRecord>() == 48);
const _: () = assert!(size_of::<SocketRecord>() == 32 + 40 + 16);
// A per-CPU map value may not exceed 32 KiB (PCPU_MIN_UNIT_SIZE).
const _: () = assert!(size_of::<ExecScratch>() <= 32 * 1024);
// The masked position plus the largest write must stay inside the tail.
const _: () = assert!(TAIL_POS_MASK + 1 + NAME_SLOT <= TAIL_CAPACITY);
// Every logical write position (after the filename, both paths and the
// environment at most) lies below the mask, so masking never moves a write
// that is in range.
const _: () = assert!(FILENAME_MAX + 2 * PATH_MAX + ENV_MAX <= TAIL_POS_MASK + 1);
const _: () = assert!(ENV_MAX <= ARGS_MAX && ENV_MAX.is_power_of_two());
