//! The enforcement maps: keys and values the agent writes from the policy
//! bundle and the kernel hooks read to decide, in the hook, whether an exec
//! or a connection is denied.
//!
//! **Generations.** Every key carries a generation (0 or 1); the one in force
//! is the single value of the `ENFORCE_ACTIVE` array. A policy change writes
//! the new rule set under the inactive generation, flips `ENFORCE_ACTIVE`,
//! then deletes the old entries. A hook reads the generation once, so each
//! decision sees either the whole old rule set or the whole new one, never a
//! mix and never neither.
//!
//! **Scopes.** Every key also carries a scope ([`scope`]): a hook looks up
//! both `ALL` and the caller's own scope (`CONTAINERS` or `HOST`).

use core::mem::size_of;

/// Bytes of a rule id carried in a [`Verdict`] (NUL padded). Rule ids of
/// kernel-enforced rules must be shorter.
pub const RULE_ID_LEN: usize = 32;
/// Bytes of an executable's file name in an [`ExecNameKey`] (NUL padded).
pub const EXEC_NAME_LEN: usize = 56;
/// Longest name a rule may deny. The hook copies at most
/// `EXEC_NAME_LEN - 1` bytes of a file's name, so a denied name of that
/// length would also match every longer name it begins.
pub const EXEC_NAME_MAX: usize = EXEC_NAME_LEN - 2;

/// Entries each enforcement map holds (both generations together).
pub const ENFORCE_MAP_ENTRIES: u32 = 8192;

/// Where a kernel rule applies, by the caller's PID namespace: a process in
/// a nested PID namespace is in a container.
pub mod scope {
    pub const ALL: u8 = 0;
    pub const CONTAINERS: u8 = 1;
    pub const HOST: u8 = 2;
}

/// Bits of [`Verdict::flags`].
pub mod verdict_flags {
    /// A kernel rule matched.
    pub const MATCHED: u32 = 1 << 0;
    /// The rule is in enforce mode: the hook denied the action. Without it
    /// the match is reported (audit mode, or an `alert` rule) and nothing is
    /// stopped.
    pub const ENFORCE: u32 = 1 << 1;
    /// The rule's action is `block` or `kill`: in audit mode the match is
    /// reported as `would_block`.
    pub const BLOCKING: u32 = 1 << 2;
    /// (Network map values) an allow entry: it carves a destination out of
    /// broader deny entries.
    pub const ALLOW: u32 = 1 << 3;
}

/// Which mechanism a hook used; also what `ENFORCE_EXEC_MECHANISM` selects.
pub mod mechanism {
    /// No enforcement: matches are reported only.
    pub const NONE: u32 = 0;
    /// `sched_process_exec` sends SIGKILL before the new image runs.
    pub const SIGKILL_AT_EXEC: u32 = 1;
    /// BPF-LSM `bprm_check_security` returns -EPERM: the exec fails.
    pub const BPF_LSM: u32 = 2;
    /// cgroup `connect4|6` / `sendmsg4|6` return EPERM.
    pub const CGROUP_SOCK_ADDR: u32 = 3;

    /// The name events and `palisade probe` use.
    pub const fn name(mechanism: u32) -> &'static str {
        match mechanism {
            SIGKILL_AT_EXEC => "sigkill-at-exec",
            BPF_LSM => "bpf-lsm",
            CGROUP_SOCK_ADDR => "cgroup-sock-addr",
            _ => "none",
        }
    }
}

/// What a kernel rule decided; the value of every enforcement map, and
/// copied into the record of the event it matched.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// The rule id, NUL padded.
    pub rule: [u8; RULE_ID_LEN],
    /// Bits of [`verdict_flags`].
    pub flags: u32,
    /// (Network) the CIDR prefix length of the entry, which decides between
    /// overlapping entries: the longest wins.
    pub prefix_len: u32,
}

/// An executable denied by identity (device and inode), which also catches
/// symlinks, hard links and other spellings of its path.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ExecInodeKey {
    pub generation: u8,
    pub scope: u8,
    pub _pad: [u8; 2],
    /// Device in the kernel's encoding (major << 20 | minor).
    pub dev: u32,
    pub ino: u64,
}

/// An executable denied by its file's own name (the last component of its
/// real path, after symlinks), wherever it lives: in containers too, where
/// the agent cannot know the file's inode in advance.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExecNameKey {
    pub generation: u8,
    pub scope: u8,
    pub _pad: [u8; 6],
    pub name: [u8; EXEC_NAME_LEN],
}

impl Default for ExecNameKey {
    fn default() -> Self {
        Self { generation: 0, scope: 0, _pad: [0; 6], name: [0; EXEC_NAME_LEN] }
    }
}

/// Slots of the `EXEC_DRIFT` array: one verdict per generation and scope
/// (a verdict with `flags` 0 is no rule).
pub const DRIFT_SLOTS: u32 = 2 * 3;

/// The `EXEC_DRIFT` slot of a generation and scope.
pub const fn drift_slot(generation: u8, scope: u8) -> u32 {
    (generation as u32 & 1) * 3 + (scope as u32 % 3)
}

/// Which kinds of network entries a generation holds: bit
/// [`net_present_bit`] per (family, scope, specific protocol, specific
/// port). A hook skips the lookups no entry can answer, which makes the
/// common case (no rule for this scope) nearly free.
pub const fn net_present_bit(
    v6: bool,
    scope: u8,
    proto_specific: bool,
    port_specific: bool,
) -> u32 {
    1 << ((v6 as u32) * 12
        + (scope as u32) * 4
        + (proto_specific as u32) * 2
        + port_specific as u32)
}

/// Bits of an LPM key before the address: generation, scope, protocol and
/// port, which are always matched in full.
pub const NET_KEY_FIXED_BITS: u32 = 40;

/// The data of an IPv4 LPM-trie key (after the kernel's `prefixlen`).
/// `proto` 0 and `port` 0 stand for any.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Net4Data {
    pub generation: u8,
    pub scope: u8,
    /// IPPROTO_TCP (6), IPPROTO_UDP (17), or 0 for any.
    pub proto: u8,
    /// Destination port, network byte order.
    pub port: [u8; 2],
    pub addr: [u8; 4],
}

/// The data of an IPv6 LPM-trie key; as [`Net4Data`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Net6Data {
    pub generation: u8,
    pub scope: u8,
    pub proto: u8,
    pub port: [u8; 2],
    pub addr: [u8; 16],
}

const _: () = assert!(size_of::<Verdict>() == 40);
const _: () = assert!(size_of::<ExecInodeKey>() == 16);
const _: () = assert!(size_of::<ExecNameKey>() == 64);
const _: () = assert!(size_of::<Net4Data>() == 9);
const _: () = assert!(size_of::<Net6Data>() == 21);

#[cfg(feature = "user")]
mod pod {
    // SAFETY (all): repr(C), integer and byte-array fields
    // only, no implicit padding (sizes asserted above).
    unsafe impl aya::Pod for super::Verdict {}
    unsafe impl aya::Pod for super::ExecInodeKey {}
    unsafe impl aya::Pod for super::ExecNameKey {}
    unsafe impl aya::Pod for super::Net4Data {}
    unsafe impl aya::Pod for super::Net6Data {}
}
