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
//! **Profiles.** Every key also carries a profile: the set of kernel rules
//! in force for one class of workloads (the rules whose scope selects them,
//! each enforced or only reported when an exception carves it out for
//! them). `WORKLOADS` maps a cgroup id to its profile in each generation; a
//! hook looks its caller's cgroup up (then its nearest registered ancestor),
//! and falls back to [`profile::HOST`] or [`profile::UNCLASSIFIED`] by the
//! caller's PID namespace for a cgroup the agent has not registered. Each
//! lookup is then made in that profile alone.

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

/// Entries each enforcement map holds (every profile of both generations).
pub const ENFORCE_MAP_ENTRIES: u32 = 32768;

/// Entries one generation (one rule set) may use in each enforcement map.
/// Two generations live side by side while one replaces the other, so any
/// rule set within this can replace any other.
pub const GENERATION_ENTRIES: u32 = ENFORCE_MAP_ENTRIES / 2;

/// Profiles per generation.
pub const MAX_PROFILES: u16 = 1024;

/// Cgroups `WORKLOADS` holds.
pub const WORKLOAD_MAP_ENTRIES: u32 = 65536;

/// Cgroup levels a hook walks up from the caller's cgroup to find a
/// registered ancestor (kubepods' containers sit at level 4 or 5).
pub const CGROUP_ANCESTOR_LEVELS: i32 = 12;

/// The profiles every generation has, whatever the bundle.
pub mod profile {
    /// A cgroup the agent has not registered, in the initial PID
    /// namespace; also every registered host cgroup's profile.
    pub const HOST: u16 = 0;
    /// A cgroup the agent has not registered (yet), in a nested PID
    /// namespace: a container it has not classified. It gets the rules for
    /// every container and no exception's carve-out.
    pub const UNCLASSIFIED: u16 = 1;
}

/// Bits of [`Workload::flags`].
pub mod workload_flags {
    /// A host cgroup: its descendants the agent has not registered are
    /// judged by their PID namespace (a container being set up in a host
    /// cgroup's subtree must not get the host's profile).
    pub const HOST: u32 = 1 << 0;
}

/// A registered cgroup: its profile in each generation (indexed by the
/// generation), the value of `WORKLOADS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Workload {
    pub profile: [u16; 2],
    /// Bits of [`workload_flags`].
    pub flags: u32,
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
    /// cgroup `skb/egress` drops the packet: the send fails with EPERM.
    pub const CGROUP_SKB: u32 = 4;
    /// A system call's entry tracepoint sends SIGKILL: the caller dies
    /// before it returns to user space (kernels without BPF-LSM).
    pub const SIGKILL_AT_SYSCALL: u32 = 5;

    /// The name events and `palisade probe` use.
    pub const fn name(mechanism: u32) -> &'static str {
        match mechanism {
            SIGKILL_AT_EXEC => "sigkill-at-exec",
            BPF_LSM => "bpf-lsm",
            CGROUP_SOCK_ADDR => "cgroup-sock-addr",
            CGROUP_SKB => "cgroup-skb",
            SIGKILL_AT_SYSCALL => "sigkill-at-syscall",
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

impl Verdict {
    /// The rule id, without its NUL padding (empty if it is not UTF-8,
    /// which a loaded bundle's ids always are).
    pub fn rule_id(&self) -> &str {
        let len = self.rule.iter().position(|&b| b == 0).unwrap_or(self.rule.len());
        core::str::from_utf8(&self.rule[..len]).unwrap_or("")
    }
}

/// An executable denied by identity (device and inode), which also catches
/// symlinks, hard links and other spellings of its path.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ExecInodeKey {
    pub generation: u8,
    pub _pad: u8,
    pub profile: u16,
    /// Device in the kernel's encoding (major << 20 | minor).
    pub dev: u32,
    pub ino: u64,
}

/// An executable denied by its file's own name (the last component of its
/// real path, after symlinks), wherever it lives: in containers too, where
/// the agent cannot know the file's inode in advance. Aligned to 8 so the
/// programs can zero it a word at a time.
#[repr(C, align(8))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExecNameKey {
    pub generation: u8,
    pub _pad: u8,
    pub profile: u16,
    pub _pad2: [u8; 4],
    pub name: [u8; EXEC_NAME_LEN],
}

impl Default for ExecNameKey {
    fn default() -> Self {
        Self { generation: 0, _pad: 0, profile: 0, _pad2: [0; 4], name: [0; EXEC_NAME_LEN] }
    }
}

/// A socket family denied at creation in one profile: the key of
/// `SOCKET_DENY`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SocketKey {
    pub generation: u8,
    pub _pad: u8,
    pub profile: u16,
    /// One of [`socket_family::DENIABLE`].
    pub family: u16,
    pub _pad2: u16,
}

/// The socket families a kernel rule may deny at creation: those whose
/// traffic no other hook judges (a packet socket writes whole frames past
/// the IP stack and the cgroup hooks) or whose kernel code is attack
/// surface a workload seldom needs. `inet`, `inet6`, `unix` and `netlink`
/// are not among them: the connect and egress rules judge IP traffic, and
/// nearly every program needs the others.
pub mod socket_family {
    pub const AF_INET: u32 = 2;
    pub const AF_PACKET: u32 = 17;
    /// `socket(AF_INET, SOCK_PACKET, ...)`: the old spelling of a packet
    /// socket, which the kernel turns into `AF_PACKET`.
    pub const SOCK_PACKET: u32 = 10;
    /// The type's low bits; the rest are `SOCK_NONBLOCK`, `SOCK_CLOEXEC`.
    pub const SOCK_TYPE_MASK: u32 = 0xf;

    /// (name rules use, `AF_*` number).
    pub const DENIABLE: &[(&str, u16)] = &[
        ("packet", 17),
        ("xdp", 44),
        ("vsock", 40),
        ("alg", 38),
        ("rds", 21),
        ("tipc", 30),
        ("can", 29),
        ("bluetooth", 31),
        ("kcm", 41),
        ("smc", 43),
        ("llc", 26),
        ("x25", 9),
        ("ax25", 3),
        ("appletalk", 5),
        ("ipx", 4),
        ("nfc", 39),
        ("qipcrtr", 42),
        ("mctp", 45),
    ];

    /// The family a `socket(family, type, ...)` call creates, as the
    /// kernel's own `__sock_create` sees it.
    #[inline(always)]
    pub const fn effective(family: u32, sock_type: u32) -> u32 {
        if family == AF_INET && sock_type & SOCK_TYPE_MASK == SOCK_PACKET {
            AF_PACKET
        } else {
            family
        }
    }

    /// Bit `family` set for each deniable family.
    const DENIABLE_MASK: u64 = {
        let mut mask = 0u64;
        let mut i = 0;
        while i < DENIABLE.len() {
            mask |= 1 << DENIABLE[i].1;
            i += 1;
        }
        mask
    };

    /// Whether a rule may name `family`: the hooks look nothing up for the
    /// others (every TCP and UDP socket passes here).
    #[inline(always)]
    pub const fn deniable(family: u32) -> bool {
        family < 64 && DENIABLE_MASK & (1 << family) != 0
    }

    /// The name rules use for `family`, if it is deniable.
    pub fn name(family: u32) -> Option<&'static str> {
        DENIABLE.iter().find(|(_, f)| u32::from(*f) == family).map(|(n, _)| *n)
    }

    /// The family a rule names.
    pub fn by_name(name: &str) -> Option<u16> {
        DENIABLE.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }
}

/// Slots of the per-profile arrays (`EXEC_DRIFT`, `NET_PRESENT`): one per
/// generation and profile.
pub const PROFILE_SLOTS: u32 = 2 * MAX_PROFILES as u32;

/// The slot of a generation and profile in the per-profile arrays.
pub const fn profile_slot(generation: u8, profile: u16) -> u32 {
    (generation as u32 & 1) * MAX_PROFILES as u32 + (profile % MAX_PROFILES) as u32
}

/// Which kinds of network entries a profile holds: bit [`net_present_bit`]
/// per (family, specific protocol, specific port). A hook skips the lookups
/// no entry can answer, which makes the common case (no network rule for
/// this profile) nearly free.
pub const fn net_present_bit(v6: bool, proto_specific: bool, port_specific: bool) -> u32 {
    1 << ((v6 as u32) * 4 + (proto_specific as u32) * 2 + port_specific as u32)
}

/// The network entry that decides a destination, from the lookups a
/// profile's `present` bits call for: `lookup(proto, port)` for the exact
/// protocol and port, then any port, then any protocol, then neither
/// (`0` stands for any). The entry with the longest CIDR prefix wins; on a
/// tie the more specific lookup (earlier) does. `None` when nothing
/// matches or the winner is an allow entry. Shared by the kernel's hooks
/// (over map value references) and the agent (over copied values), so
/// both decide alike.
#[inline(always)]
pub fn strongest_net_match<T: core::borrow::Borrow<Verdict>>(
    present: u32,
    v6: bool,
    proto: u8,
    port: [u8; 2],
    mut lookup: impl FnMut(u8, [u8; 2]) -> Option<T>,
) -> Option<T> {
    let mut best: Option<T> = None;
    for port in [port, [0, 0]] {
        for proto in [proto, 0] {
            if present & net_present_bit(v6, proto != 0, port != [0, 0]) == 0 {
                continue;
            }
            let found = lookup(proto, port);
            best = match (best, found) {
                (Some(b), Some(f)) if f.borrow().prefix_len > b.borrow().prefix_len => Some(f),
                (None, f) => f,
                (b, _) => b,
            };
        }
    }
    best.filter(|v| v.borrow().flags & verdict_flags::ALLOW == 0)
}

/// Slots of `FILE_PRESENT`: one per generation and profile (the accesses
/// that profile's file rules cover), then one per generation for every
/// profile ([`file_any_slot`]), so a hook skips the profile lookup when no
/// file rule exists at all.
pub const FILE_PRESENT_SLOTS: u32 = PROFILE_SLOTS + 2;

/// The `FILE_PRESENT` slot summing up every profile of a generation.
pub const fn file_any_slot(generation: u8) -> u32 {
    PROFILE_SLOTS + (generation as u32 & 1)
}

/// Bytes of a path in a [`FileRuleData`] key: an LPM trie key holds at
/// most 256 bytes of data. Longer paths are matched by their first bytes.
pub const FILE_RULE_PATH_LEN: usize = 252;

/// Bits of a file rule key before the path: generation, profile and the
/// access (`file_watch::READ` or `WRITE`), always matched in full.
pub const FILE_KEY_FIXED_BITS: u32 = 32;

/// The data of a file rule's LPM-trie key: a path prefix denied for one
/// access in one profile.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileRuleData {
    pub generation: u8,
    /// Little endian (bytes keep the key free of padding).
    pub profile: [u8; 2],
    /// `file_watch::READ` or `file_watch::WRITE`.
    pub access: u8,
    pub path: [u8; FILE_RULE_PATH_LEN],
}

impl Default for FileRuleData {
    fn default() -> Self {
        Self { generation: 0, profile: [0; 2], access: 0, path: [0; FILE_RULE_PATH_LEN] }
    }
}

/// A file rule keyed by a file's identity instead of a path prefix: the
/// key's `path` holds a NUL (no path starts with one), then the device (in
/// the kernel's encoding) and the inode, little endian, matched in full.
/// The agent adds one for each prefix that names an existing file or
/// directory, and the hooks look up every dentry their path walk passes:
/// another mount of a covered directory, a chroot or a hard link made
/// before the rule reaches the same identity under another path.
pub const FILE_INODE_KEY_LEN: usize = 1 + 4 + 8;

/// Writes the identity key of `(dev, ino)` into a file rule key's path.
#[inline(always)]
pub fn write_file_inode_key(path: &mut [u8; FILE_RULE_PATH_LEN], dev: u32, ino: u64) {
    path[0] = 0;
    path[1..5].copy_from_slice(&dev.to_le_bytes());
    path[5..FILE_INODE_KEY_LEN].copy_from_slice(&ino.to_le_bytes());
}

/// Bits of an LPM key before the address: generation, profile, protocol
/// and port, which are always matched in full.
pub const NET_KEY_FIXED_BITS: u32 = 48;

/// The data of an IPv4 LPM-trie key (after the kernel's `prefixlen`).
/// `proto` 0 and `port` 0 stand for any.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Net4Data {
    pub generation: u8,
    /// The profile, little endian (bytes keep the key free of padding).
    pub profile: [u8; 2],
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
    pub profile: [u8; 2],
    pub proto: u8,
    pub port: [u8; 2],
    pub addr: [u8; 16],
}

const _: () = assert!(size_of::<Verdict>() == 40);
const _: () = assert!(size_of::<ExecInodeKey>() == 16);
const _: () = assert!(size_of::<ExecNameKey>() == 64);
const _: () = assert!(size_of::<Net4Data>() == 10);
const _: () = assert!(size_of::<Net6Data>() == 22);
const _: () = assert!(size_of::<Workload>() == 8);
const _: () = assert!(size_of::<FileRuleData>() == 256);
const _: () = assert!(size_of::<SocketKey>() == 8);

#[cfg(feature = "user")]
mod pod {
    // SAFETY (all): repr(C), integer and byte-array fields
    // only, no implicit padding (sizes asserted above).
    unsafe impl aya::Pod for super::Verdict {}
    unsafe impl aya::Pod for super::ExecInodeKey {}
    unsafe impl aya::Pod for super::ExecNameKey {}
    unsafe impl aya::Pod for super::Net4Data {}
    unsafe impl aya::Pod for super::Net6Data {}
    unsafe impl aya::Pod for super::Workload {}
    unsafe impl aya::Pod for super::FileRuleData {}
    unsafe impl aya::Pod for super::SocketKey {}
}
