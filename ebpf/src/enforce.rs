//! The enforcement maps and the lookups every enforcing hook shares.
//!
//! The maps are pinned by name (the agent points aya at its pin directory),
//! so the rule set stays in force when the agent dies, and a new agent picks
//! up the same maps. See `palisade_common::enforce` for keys, generations and
//! profiles.

use aya_ebpf::{
    helpers::{
        bpf_get_current_task,
        generated::{
            bpf_get_current_ancestor_cgroup_id, bpf_get_current_cgroup_id,
            bpf_probe_read_kernel_str,
        },
    },
    macros::map,
    maps::{Array, HashMap, LpmTrie, lpm_trie::Key},
};
use palisade_common::{
    drift::{self, OVERLAYFS_SUPER_MAGIC},
    enforce::{
        CGROUP_ANCESTOR_LEVELS, ENFORCE_MAP_ENTRIES, EXEC_NAME_LEN, ExecInodeKey, ExecNameKey,
        NET_KEY_FIXED_BITS, Net4Data, Net6Data, PROFILE_SLOTS, Verdict, WORKLOAD_MAP_ENTRIES,
        Workload, profile, profile_slot, strongest_net_match, verdict_flags, workload_flags,
    },
};

use core::ptr;

use crate::kernel::{Error, off, read};

/// The generation in force (index 0).
#[map]
pub static ENFORCE_ACTIVE: Array<u32> = Array::pinned(1, 0);

#[map]
pub static EXEC_DENY_INODE: HashMap<ExecInodeKey, Verdict> =
    HashMap::pinned(ENFORCE_MAP_ENTRIES, 0);

#[map]
pub static EXEC_DENY_NAME: HashMap<ExecNameKey, Verdict> = HashMap::pinned(ENFORCE_MAP_ENTRIES, 0);

/// Per generation and profile: the kernel drift rule (`MATCHED` set), if any.
#[map]
pub static EXEC_DRIFT: Array<Verdict> = Array::pinned(PROFILE_SLOTS, 0);

/// Per generation and profile: which kinds of network entries exist.
#[map]
pub static NET_PRESENT: Array<u32> = Array::pinned(PROFILE_SLOTS, 0);

/// Cgroup id -> the workload's profile in each generation.
#[map]
pub static WORKLOADS: HashMap<u64, Workload> = HashMap::pinned(WORKLOAD_MAP_ENTRIES, 0);

#[map]
pub static NET4_RULES: LpmTrie<Net4Data, Verdict> = LpmTrie::pinned(ENFORCE_MAP_ENTRIES, 0);

#[map]
pub static NET6_RULES: LpmTrie<Net6Data, Verdict> = LpmTrie::pinned(ENFORCE_MAP_ENTRIES, 0);

/// The generation of the rule set in force; read once per decision.
#[inline(always)]
pub fn active_generation() -> u8 {
    ENFORCE_ACTIVE.get(0).map_or(0, |g| *g as u8)
}

/// The profile of the calling task in `generation`: its cgroup's, else its
/// nearest registered ancestor's (a container started in a pod's cgroup,
/// a cgroup made inside a container), else by its PID namespace.
#[inline(always)]
pub fn caller_profile(generation: u8) -> u16 {
    // SAFETY: no preconditions.
    let own = unsafe { bpf_get_current_cgroup_id() };
    // SAFETY: no preconditions.
    let ancestor = |level| unsafe { bpf_get_current_ancestor_cgroup_id(level) };
    registered_profile(generation, own, ancestor).unwrap_or_else(by_pid_namespace)
}

/// The profile of the registered cgroup `own`, else of its nearest
/// registered ancestor (`ancestor(level)` is the id at that level); None
/// when none is registered or a host cgroup comes first.
#[inline(always)]
pub fn registered_profile(generation: u8, own: u64, ancestor: impl Fn(i32) -> u64) -> Option<u16> {
    let slot = usize::from(generation & 1);
    // SAFETY: the value is copied out at once.
    if let Some(w) = unsafe { WORKLOADS.get(own) } {
        return Some(w.profile[slot]);
    }
    // Deepest first, from the caller's own level: `ancestor` answers 0
    // below it, so a binary search finds it in four calls where walking
    // down from the deepest level asked up to twelve (a helper call each,
    // on every connect and exec of a process in no registered cgroup).
    let (mut top, mut below) = (0, CGROUP_ANCESTOR_LEVELS);
    for _ in 0..4 {
        if below - top > 1 {
            let mid = (top + below) / 2;
            if ancestor(mid) != 0 { top = mid } else { below = mid }
        }
    }
    let mut level = top + 1;
    while level > 0 {
        level -= 1;
        let id = ancestor(level);
        if id == 0 || id == own {
            continue;
        }
        // SAFETY: the value is copied out at once.
        if let Some(w) = unsafe { WORKLOADS.get(id) } {
            if w.flags & workload_flags::HOST != 0 {
                return None;
            }
            return Some(w.profile[slot]);
        }
    }
    None
}

/// A task the agent has not classified: one in a nested PID namespace is a
/// container being set up.
#[inline(always)]
pub fn by_pid_namespace() -> u16 {
    // SAFETY: no preconditions; the pointer is only read through probe reads.
    let task = unsafe { bpf_get_current_task() } as *const u8;
    // SAFETY: kernel reads at BTF offsets.
    let level = unsafe {
        read::<*const u8>(task, off!(task_struct_thread_pid))
            .and_then(|pid| read::<u32>(pid, off!(pid_level)))
    };
    match level {
        Ok(0) => profile::HOST,
        // Nested, or unknown: no exception's carve-out applies.
        Ok(_) | Err(Error) => profile::UNCLASSIFIED,
    }
}

/// The kernel rule an executable matches in the caller's profile, by
/// identity first, then by its file's name.
///
/// # Safety
/// `file` must point to the executable's `struct file`.
#[inline(always)]
pub unsafe fn exec_verdict(file: *const u8, generation: u8, profile: u16) -> Option<Verdict> {
    // SAFETY (whole block): kernel reads at BTF offsets.
    let (dev, ino, dentry) = unsafe {
        let inode: *const u8 = read(file, off!(file_f_inode)).ok()?;
        let ino: u64 = read(inode, off!(inode_i_ino)).ok()?;
        let sb: *const u8 = read(inode, off!(inode_i_sb)).ok()?;
        let dev: u32 = read(sb, off!(super_block_s_dev)).ok()?;
        let dentry: *const u8 = read(file.add(off!(file_f_path)), off!(path_dentry)).ok()?;
        (dev, ino, dentry)
    };
    let key = ExecInodeKey { generation, _pad: 0, profile, dev, ino };
    // SAFETY: the value is copied out at once.
    if let Some(v) = unsafe { EXEC_DENY_INODE.get(key) } {
        return Some(*v);
    }
    // Reached through an overlay: the file underneath is the one the rule
    // named, whichever overlay mount (another one, one made in a user
    // namespace) leads to it.
    // SAFETY: `file` is a `struct file`.
    let real = unsafe { real_identity(file) };
    if real.ino != 0 {
        let key = ExecInodeKey { generation, _pad: 0, profile, dev: real.dev, ino: real.ino };
        // SAFETY: the value is copied out at once.
        if let Some(v) = unsafe { EXEC_DENY_INODE.get(key) } {
            return Some(*v);
        }
    }
    // Zeroed by words (see `crate::clear`), since the name's bytes past its
    // NUL are part of the key; filled in place and looked up by reference,
    // since a move of the key was a `memset` again.
    let mut slot = core::mem::MaybeUninit::<ExecNameKey>::uninit();
    // SAFETY: `clear` writes every byte of the key.
    let key = unsafe {
        crate::clear(slot.as_mut_ptr());
        &mut *slot.as_mut_ptr()
    };
    key.generation = generation;
    key.profile = profile;
    // SAFETY: kernel reads at BTF offsets; the string read stops at
    // EXEC_NAME_LEN - 1 bytes plus a NUL, inside the zeroed key.
    unsafe {
        let name: *const u8 = read(dentry.add(off!(dentry_d_name)), off!(qstr_name)).ok()?;
        if bpf_probe_read_kernel_str(
            key.name.as_mut_ptr().cast(),
            EXEC_NAME_LEN as u32,
            name.cast(),
        ) <= 0
        {
            return None;
        }
    }
    let key: &ExecNameKey = key;
    // SAFETY: the value is copied out at once.
    unsafe { EXEC_DENY_NAME.get(key) }.copied()
}

/// A file's identity below every overlay: `ino` 0 when the file is not on
/// overlayfs, or its layers cannot be read.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Identity {
    pub dev: u32,
    pub ino: u64,
}

/// How many overlays stacked on one another are looked through.
const OVERLAY_DEPTH: usize = 3;

/// The identity of the real file behind `file` when it is on overlayfs:
/// the upper layer's inode once copied up, else the lower layer's.
///
/// A function of its own (a BPF-to-BPF call): only overlay files pay for
/// it, and the exec program's frame stays small.
///
/// # Safety
/// `file` must point to a `struct file`.
#[inline(never)]
pub unsafe fn real_identity(file: *const u8) -> Identity {
    let none = Identity { dev: 0, ino: 0 };
    if off!(ovl_known) == 0 {
        return none;
    }
    // SAFETY (whole block): kernel reads at BTF offsets.
    unsafe {
        let Ok(mut inode) = read::<*const u8>(file, off!(file_f_inode)) else { return none };
        let mut found = false;
        for _ in 0..OVERLAY_DEPTH {
            let Ok(sb) = read::<*const u8>(inode, off!(inode_i_sb)) else { return none };
            if read::<u64>(sb, off!(super_block_s_magic)).unwrap_or(0) != OVERLAYFS_SUPER_MAGIC {
                break;
            }
            // container_of(inode, struct ovl_inode, vfs_inode)
            let ovl = inode.wrapping_sub(off!(ovl_inode_vfs_inode));
            let mut dentry =
                read::<*const u8>(ovl, off!(ovl_inode_upperdentry)).unwrap_or(ptr::null());
            if dentry.is_null() {
                let lower = if off!(ovl_lower_indirect) != 0 {
                    read::<*const u8>(ovl, off!(ovl_inode_lower)).unwrap_or(ptr::null())
                } else {
                    ovl.wrapping_add(off!(ovl_inode_lower))
                };
                if lower.is_null() {
                    return none;
                }
                dentry = read::<*const u8>(lower, off!(ovl_lower_dentry)).unwrap_or(ptr::null());
            }
            let Ok(real) = read::<*const u8>(dentry, off!(dentry_d_inode)) else { return none };
            if real.is_null() {
                return none;
            }
            inode = real;
            found = true;
        }
        if !found {
            return none;
        }
        let Ok(sb) = read::<*const u8>(inode, off!(inode_i_sb)) else { return none };
        match (read::<u32>(sb, off!(super_block_s_dev)), read::<u64>(inode, off!(inode_i_ino))) {
            (Ok(dev), Ok(ino)) => Identity { dev, ino },
            _ => none,
        }
    }
}

/// The drift rule an executable with drift `bits` falls under in the
/// caller's profile. Nothing to look up without drift: an image's binary
/// costs no lookup.
#[inline(always)]
pub fn drift_verdict(bits: u32, generation: u8, profile: u16) -> Option<Verdict> {
    if bits & drift::KERNEL_MASK == 0 {
        return None;
    }
    EXEC_DRIFT
        .get(profile_slot(generation, profile))
        .filter(|v| v.flags & verdict_flags::MATCHED != 0)
        .copied()
}

/// A destination as the sock_addr hooks see it.
pub struct Destination<A> {
    pub proto: u8,
    /// Network byte order.
    pub port: [u8; 2],
    pub addr: A,
}

/// The network rule deciding a destination in the caller's profile: of
/// every entry matching (for its protocol or any, its port or any), the one
/// with the longest CIDR prefix; on a tie the one with the more specific
/// port, then protocol. `None` when nothing matches or the winner is an
/// allow entry. Map values are compared in place: copied verdicts would not
/// fit the 512-byte stack.
#[inline(always)]
pub fn net4_verdict(dst: &Destination<[u8; 4]>, generation: u8, profile: u16) -> Option<Verdict> {
    let data = Net4Data {
        generation,
        profile: profile.to_le_bytes(),
        addr: dst.addr,
        ..Net4Data::default()
    };
    best_entry(
        &NET4_RULES,
        Key::new(NET_KEY_FIXED_BITS + 32, data),
        false,
        dst,
        generation,
        profile,
    )
}

/// As [`net4_verdict`], for IPv6.
#[inline(always)]
pub fn net6_verdict(dst: &Destination<[u8; 16]>, generation: u8, profile: u16) -> Option<Verdict> {
    let data = Net6Data {
        generation,
        profile: profile.to_le_bytes(),
        addr: dst.addr,
        ..Net6Data::default()
    };
    best_entry(
        &NET6_RULES,
        Key::new(NET_KEY_FIXED_BITS + 128, data),
        true,
        dst,
        generation,
        profile,
    )
}

/// The parts of a network key a lookup varies.
pub trait NetKeyData: Copy {
    fn vary(&mut self, proto: u8, port: [u8; 2]);
}

impl NetKeyData for Net4Data {
    fn vary(&mut self, proto: u8, port: [u8; 2]) {
        (self.proto, self.port) = (proto, port);
    }
}

impl NetKeyData for Net6Data {
    fn vary(&mut self, proto: u8, port: [u8; 2]) {
        (self.proto, self.port) = (proto, port);
    }
}

#[inline(always)]
fn best_entry<D: NetKeyData, A>(
    rules: &LpmTrie<D, Verdict>,
    mut key: Key<D>,
    v6: bool,
    dst: &Destination<A>,
    generation: u8,
    profile: u16,
) -> Option<Verdict> {
    let present = NET_PRESENT.get(profile_slot(generation, profile)).copied().unwrap_or(0);
    if present == 0 {
        return None;
    }
    strongest_net_match(present, v6, dst.proto, dst.port, |proto, port| {
        // The key is packed: vary a copy of its data.
        let mut data = key.data;
        data.vary(proto, port);
        key.data = data;
        rules.get(&key)
    })
    .copied()
}
