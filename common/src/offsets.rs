//! Kernel struct field offsets, read from the running kernel's BTF at load time.
//!
//! rustc emits no CO-RE relocations for BPF, so the programs cannot ask the
//! kernel to patch field accesses. Instead the agent reads each offset from
//! `/sys/kernel/btf/vmlinux` and hands this struct to the programs as a
//! read-only global: the verifier sees constants, and the same object works on
//! kernels whose struct layouts differ.

/// Where a syscall tracepoint's record (`struct trace_event_raw_sys_enter`,
/// `..._sys_exit`) holds its first argument, or an exit record its return
/// value; each argument takes 8 bytes. Unlike the offsets below, a
/// constant: the programs load it from their context, which the verifier
/// allows only at an offset it can see. The loader checks it against the
/// format files.
pub const SYSCALL_ARG0: usize = 16;

/// Byte offsets of the fields the programs read. One `u32` per field, named
/// `<struct>_<field>`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelOffsets {
    pub task_struct_pid: u32,
    pub task_struct_tgid: u32,
    pub task_struct_real_parent: u32,
    pub task_struct_group_leader: u32,
    pub task_struct_start_time: u32,
    pub task_struct_mm: u32,
    pub task_struct_fs: u32,
    pub task_struct_cred: u32,
    pub task_struct_signal: u32,
    pub task_struct_exit_code: u32,
    pub signal_struct_live: u32,
    pub cred_euid: u32,
    pub cred_egid: u32,
    pub mm_struct_exe_file: u32,
    pub mm_struct_arg_start: u32,
    pub mm_struct_arg_end: u32,
    /// The new image's environment block (`env_start..env_end`), as
    /// argv's: NUL-separated `NAME=value` strings in user memory.
    pub mm_struct_env_start: u32,
    pub mm_struct_env_end: u32,
    pub fs_struct_pwd: u32,
    pub file_f_path: u32,
    pub file_f_inode: u32,
    /// An open file's `FMODE_*` bits and its open flags (kernel file rules).
    pub file_f_mode: u32,
    pub file_f_flags: u32,
    pub path_mnt: u32,
    pub path_dentry: u32,
    pub dentry_d_parent: u32,
    pub dentry_d_name: u32,
    pub qstr_name: u32,
    pub mount_mnt: u32,
    pub mount_mnt_parent: u32,
    pub mount_mnt_mountpoint: u32,
    pub vfsmount_mnt_root: u32,
    pub inode_i_ino: u32,
    pub inode_i_sb: u32,
    pub super_block_s_dev: u32,
    pub task_struct_thread_pid: u32,
    pub pid_level: u32,
    pub linux_binprm_file: u32,
    pub linux_binprm_filename: u32,
    /// Drift (see `crate::drift`): the file system of an executable, its
    /// link count and times.
    pub super_block_s_magic: u32,
    pub inode_i_nlink: u32,
    /// Seconds of the last data change (`i_mtime.tv_sec` before 6.7,
    /// `i_mtime_sec` since).
    pub inode_i_mtime_sec: u32,
    /// Seconds of the last inode change (`i_ctime.tv_sec`, `__i_ctime`,
    /// `i_ctime_sec`, by kernel version).
    pub inode_i_ctime_sec: u32,
    /// Their nanoseconds (`i_mtime_nsec`, else `tv_nsec` of the timespec64).
    pub inode_i_mtime_nsec: u32,
    pub inode_i_ctime_nsec: u32,
    /// Overlayfs's inode (`struct ovl_inode`, from the overlay module's BTF
    /// when it is a module): where its VFS inode sits, and its upper-layer
    /// dentry. Both 0 when the running kernel has no overlayfs BTF: the
    /// upper-layer check is then off (`ovl_known` 0).
    pub ovl_inode_vfs_inode: u32,
    pub ovl_inode_upperdentry: u32,
    pub ovl_known: u32,
    /// Where an overlay inode's lower-layer dentry is, for the identity of
    /// the real file under an overlay: `ovl_inode_lower` is the offset of
    /// the lower path in `struct ovl_inode` (6.1: `lowerpath`, inline) or of
    /// the pointer to the `struct ovl_entry` holding it (6.5+: `oe`, then
    /// `__lowerstack[0]`), `ovl_lower_indirect` says which (1: pointer), and
    /// `ovl_lower_dentry` is the dentry's offset from there. All 0 with
    /// `ovl_known` 0.
    pub ovl_inode_lower: u32,
    pub ovl_lower_indirect: u32,
    pub ovl_lower_dentry: u32,
    pub dentry_d_inode: u32,
    /// The process's root (`fs_struct.root`), whose mount tells the image's
    /// file system from a volume's.
    pub fs_struct_root: u32,
    /// A TCP socket's ends, for the `inet_sock_set_state` raw tracepoint
    /// (`struct sock_common`, at the start of `struct sock`): where its
    /// [`SockCommonHead`] starts (`skc_daddr`), where its [`SockV6Addrs`]
    /// start (`skc_v6_daddr`), and the protocol (`struct sock`).
    pub sock_common_skc_daddr: u32,
    pub sock_common_skc_v6_daddr: u32,
    pub sock_sk_protocol: u32,
}

const _: () = assert!(core::mem::size_of::<KernelOffsets>() == 56 * 4);

/// The start of `struct sock_common` from `skc_daddr`, read in one go (one
/// helper call instead of five). The addresses and ports sit in unions the
/// kernel hashes as pairs (`skc_addrpair`, `skc_portpair`), so they are
/// adjacent on every kernel; the loader checks the whole layout against
/// BTF and refuses to load on a kernel where it differs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SockCommonHead {
    /// Remote IPv4 address.
    pub daddr: [u8; 4],
    /// Bound local IPv4 address.
    pub rcv_saddr: [u8; 4],
    pub hash: u32,
    /// Remote port, network order.
    pub dport: u16,
    /// Local port, host order.
    pub num: u16,
    pub family: u16,
}

/// `skc_v6_daddr` and `skc_v6_rcv_saddr`, adjacent in `struct sock_common`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SockV6Addrs {
    pub daddr: [u8; 16],
    pub rcv_saddr: [u8; 16],
}

impl KernelOffsets {
    /// All zeroes: the value compiled into the object, replaced at load time.
    // SAFETY: every field is a plain integer, for which zero is valid.
    pub const ZERO: Self = unsafe { core::mem::zeroed() };
}

#[cfg(feature = "user")]
// SAFETY: repr(C), only u32 fields, no padding (size asserted above).
unsafe impl aya::Pod for KernelOffsets {}

/// Byte offsets of the fields of the `cgroup/cgroup_mkdir` tracepoint record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CgroupMkdirFormat {
    pub root: u32,
    pub level: u32,
    pub id: u32,
    /// The `__data_loc` of the path.
    pub path: u32,
}

impl CgroupMkdirFormat {
    pub const ZERO: Self = Self { root: 0, level: 0, id: 0, path: 0 };
}

#[cfg(feature = "user")]
// SAFETY: repr(C), only u32 fields, no padding.
unsafe impl aya::Pod for CgroupMkdirFormat {}
