//! Kernel file rules: BPF-LSM hooks judge file operations against
//! `FILE_RULES`, the denied prefixes of the caller's profile for the access
//! asked, two ways at once:
//!
//! - by path: the file's path, resolved from the dentries up to the root of
//!   the caller's mount namespace (`resolve`: symlinks, `..`, relative
//!   spellings, a chroot and `/proc/<pid>/root` make no difference, nor
//!   whichever system call or io_uring made the call);
//! - by identity: the device and inode of every dentry that walk passes,
//!   the file's own and each directory's above it, against the identities
//!   the agent took of the prefixes that name existing files and
//!   directories (`FILE_INODE_KEY_LEN`): another mount of a covered
//!   directory (bind, detached `open_tree` copy) or a hard link made before
//!   the rule is another path to the same identity.
//!
//! An enforced match fails the call with EPERM; every match is recorded.
//!
//! - read: `file_open` for reading;
//! - write: `file_open` for writing, and every call that changes a name or
//!   an attribute under the prefix: `path_unlink`, `path_rename` (either
//!   side), `path_link` (the new name; and the linked file itself under a
//!   read or a write prefix: a hard link would give it a name no rule
//!   covers), `path_symlink`, `path_mknod` (also an `O_CREAT` open's
//!   create, before the file exists), `path_truncate`, `path_chmod`,
//!   `path_chown`.
//!
//! Cost when no kernel file rule exists: one array lookup per call. When
//! some profile has file rules: the caller's profile, then, only where that
//! profile covers the access, the walk (one or two identity lookups per
//! dentry) and one or two prefix lookups.
//!
//! Not judged: directories made or removed (`path_mkdir`, `path_rmdir`:
//! what lands in them is), times and other attributes (`inode_setattr`
//! has no mount to resolve the path from), files opened before the rule,
//! an overlay mount of a covered directory (its inodes are the overlay's),
//! and a file replaced after the rule took its identity (its path still
//! matches).

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, generated::bpf_probe_read_kernel},
    macros::{lsm, map},
    maps::{Array, LpmTrie, PerCpuArray, lpm_trie::Key},
    programs::LsmContext,
};
use core::{mem::size_of, ptr};
use palisade_common::{
    FILE_PATH_MAX, FileRecord,
    enforce::{
        ENFORCE_MAP_ENTRIES, FILE_INODE_KEY_LEN, FILE_KEY_FIXED_BITS, FILE_PRESENT_SLOTS,
        FILE_RULE_PATH_LEN, FileRuleData, Verdict, file_any_slot, profile_slot, verdict_flags,
        write_file_inode_key,
    },
    file_status, file_syscall, file_watch, kind,
    open_flags::{O_CREAT, O_TRUNC, O_WRONLY},
};

use crate::{
    EPERM, EVENTS, count_drop,
    enforce::{active_generation, caller_profile},
    files::FILE_PENDING,
    header, is_agent,
    kernel::{off, read},
    resolve::{self, Resolved, Visit},
    wakeup_flags,
};

/// `struct file`'s `f_mode` bits.
const FMODE_READ: u32 = 1 << 0;
const FMODE_WRITE: u32 = 1 << 1;
const BOTH: u32 = file_watch::READ | file_watch::WRITE;
/// A symlink's mode, for its record.
const SYMLINK_MODE: u32 = 0o777;

/// Denied path prefixes, by generation, profile and access.
#[map]
pub static FILE_RULES: LpmTrie<FileRuleData, Verdict> = LpmTrie::pinned(ENFORCE_MAP_ENTRIES, 0);

/// Per generation and profile, the accesses its file rules cover; then per
/// generation, those of every profile (`file_any_slot`).
#[map]
pub static FILE_PRESENT: Array<u32> = Array::pinned(FILE_PRESENT_SLOTS, 0);

/// Off the 512-byte stack: the lookup key and the record.
#[repr(C)]
struct Scratch {
    key: Key<FileRuleData>,
    record: FileRecord,
}

#[map]
static FILE_RULE_SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

/// The identity lookups of one walk (see [`ByIdentity`]): in map memory,
/// where the walk's callback reaches it.
#[repr(C)]
struct IdentityQuery {
    key: Key<FileRuleData>,
    /// `file_watch` bits to look up; 0 once found.
    bits: u32,
    found: u32,
    verdict: Verdict,
}

#[map]
static IDENTITY_QUERY: PerCpuArray<IdentityQuery> = PerCpuArray::with_max_entries(1, 0);

/// Looks up the identity (device, inode) of each dentry the walk passes
/// among the rules keyed by identity (`FILE_INODE_KEY_LEN`), until one
/// matches: the file itself, or a directory above it, however the walk
/// reached them (another mount, a chroot, a hard link).
struct ByIdentity;

impl Visit for ByIdentity {
    #[inline(always)]
    unsafe fn visit(dentry: *const u8) {
        let Some(query) = IDENTITY_QUERY.get_ptr_mut(0) else { return };
        // SAFETY: this CPU's value, ours for the program run.
        let query = unsafe { &mut *query };
        if query.bits == 0 {
            return;
        }
        // SAFETY: kernel reads at BTF offsets; a negative dentry (a name
        // being created) has no inode.
        let identity = unsafe {
            read::<*const u8>(dentry, off!(dentry_d_inode)).ok().filter(|i| !i.is_null()).and_then(
                |inode| {
                    let ino = read::<u64>(inode, off!(inode_i_ino)).ok()?;
                    let sb = read::<*const u8>(inode, off!(inode_i_sb)).ok()?;
                    Some((read::<u32>(sb, off!(super_block_s_dev)).ok()?, ino))
                },
            )
        };
        let Some((dev, ino)) = identity else { return };
        write_file_inode_key(&mut query.key.data.path, dev, ino);
        for bit in [file_watch::WRITE, file_watch::READ] {
            if query.bits & bit != 0 {
                query.key.data.access = bit as u8;
                if let Some(verdict) = FILE_RULES.get(&query.key) {
                    query.verdict = *verdict;
                    query.found = 1;
                    query.bits = 0;
                }
            }
        }
    }
}

/// The return value of the BPF-LSM programs before this one on the hook:
/// the argument after the hook's own `n`.
#[inline(always)]
fn previous(ctx: &LsmContext, n: usize) -> i32 {
    // BPF-LSM passes the hook's arguments, then that value.
    ctx.arg(n)
}

// Every hook reads its arguments at the positions of the hook's signature
// in include/linux/lsm_hook_defs.h (6.1).

#[lsm(hook = "file_open")]
pub fn palisade_file_lsm(ctx: LsmContext) -> i32 {
    // int file_open(struct file *file)
    let prev = previous(&ctx, 1);
    if prev != 0 {
        return prev;
    }
    let file: *const u8 = ctx.arg(0);
    let Some((caller, scratch)) = Caller::asking(access(file)) else { return 0 };
    // SAFETY: `f_path` is the hook's file's `struct path`.
    let Some(target) = (unsafe { of_path(file.add(off!(file_f_path))) }) else { return 0 };
    let (path, found) = caller.judge(&mut scratch.key, target, caller.asked);
    if found.is_null() {
        return 0;
    }
    let rec = &mut scratch.record;
    copy_path(&mut rec.path, path, &mut rec.status, file_status::PATH_TRUNCATED);
    // SAFETY: a kernel read at a BTF offset.
    let flags = unsafe { read::<u32>(file, off!(file_f_flags)) }.unwrap_or(0);
    caller.report(found, kind::FILE_OPEN, file_syscall::FILE_OPEN_HOOK, flags, 0, rec)
}

#[lsm(hook = "path_unlink")]
pub fn palisade_path_unlink(ctx: LsmContext) -> i32 {
    // int path_unlink(const struct path *dir, struct dentry *dentry)
    let prev = previous(&ctx, 2);
    if prev != 0 {
        return prev;
    }
    let (dir, dentry) = (ctx.arg(0), ctx.arg(1));
    entry(dir, dentry, kind::FILE_UNLINK, file_syscall::PATH_UNLINK_HOOK, 0, 0)
}

#[lsm(hook = "path_mknod")]
pub fn palisade_path_mknod(ctx: LsmContext) -> i32 {
    // int path_mknod(const struct path *dir, struct dentry *dentry,
    //                umode_t mode, unsigned int dev)
    let prev = previous(&ctx, 4);
    if prev != 0 {
        return prev;
    }
    let (dir, dentry, mode): (_, _, u16) = (ctx.arg(0), ctx.arg(1), ctx.arg(2));
    let flags = O_WRONLY | O_CREAT;
    entry(dir, dentry, kind::FILE_OPEN, file_syscall::PATH_MKNOD_HOOK, flags, u32::from(mode))
}

#[lsm(hook = "path_symlink")]
pub fn palisade_path_symlink(ctx: LsmContext) -> i32 {
    // int path_symlink(const struct path *dir, struct dentry *dentry,
    //                  const char *old_name)
    let prev = previous(&ctx, 3);
    if prev != 0 {
        return prev;
    }
    let (dir, dentry) = (ctx.arg(0), ctx.arg(1));
    let flags = O_WRONLY | O_CREAT;
    entry(dir, dentry, kind::FILE_OPEN, file_syscall::PATH_SYMLINK_HOOK, flags, SYMLINK_MODE)
}

#[lsm(hook = "path_truncate")]
pub fn palisade_path_truncate(ctx: LsmContext) -> i32 {
    // int path_truncate(const struct path *path)
    let prev = previous(&ctx, 1);
    if prev != 0 {
        return prev;
    }
    let path = ctx.arg(0);
    let flags = O_WRONLY | O_TRUNC;
    whole(path, kind::FILE_OPEN, file_syscall::PATH_TRUNCATE_HOOK, flags, 0)
}

#[lsm(hook = "path_chmod")]
pub fn palisade_path_chmod(ctx: LsmContext) -> i32 {
    // int path_chmod(const struct path *path, umode_t mode)
    let prev = previous(&ctx, 2);
    if prev != 0 {
        return prev;
    }
    let (path, mode): (_, u16) = (ctx.arg(0), ctx.arg(1));
    whole(path, kind::FILE_CHMOD, file_syscall::PATH_CHMOD_HOOK, 0, u32::from(mode))
}

#[lsm(hook = "path_chown")]
pub fn palisade_path_chown(ctx: LsmContext) -> i32 {
    // int path_chown(const struct path *path, kuid_t uid, kgid_t gid)
    let prev = previous(&ctx, 3);
    if prev != 0 {
        return prev;
    }
    let path = ctx.arg(0);
    whole(path, kind::FILE_CHMOD, file_syscall::PATH_CHOWN_HOOK, 0, 0)
}

#[lsm(hook = "path_link")]
pub fn palisade_path_link(ctx: LsmContext) -> i32 {
    // int path_link(struct dentry *old_dentry, const struct path *new_dir,
    //               struct dentry *new_dentry)
    let prev = previous(&ctx, 3);
    if prev != 0 {
        return prev;
    }
    let (old_dentry, new_dir, new_dentry): (*const u8, *const u8, *const u8) =
        (ctx.arg(0), ctx.arg(1), ctx.arg(2));
    let Some((caller, scratch)) = Caller::asking(BOTH) else { return 0 };
    let rec = &mut scratch.record;
    let mut found = ptr::null();
    // The new name, under a write prefix.
    // SAFETY: the hook's directory and new entry.
    if let Some(target) = unsafe { of_entry(new_dir, new_dentry) } {
        let path;
        (path, found) = caller.judge(&mut scratch.key, target, file_watch::WRITE);
        copy_path(&mut rec.path, path, &mut rec.status, file_status::PATH_TRUNCATED);
        // The file linked, under any prefix: a link cannot cross mounts,
        // so it is in the new directory's.
        if found.is_null() {
            let old = (old_dentry, target.1);
            let path;
            (path, found) = caller.judge(&mut scratch.key, old, caller.asked);
            copy_path(&mut rec.path, path, &mut rec.status, file_status::PATH_TRUNCATED);
        }
    }
    let flags = O_WRONLY | O_CREAT;
    caller.report(found, kind::FILE_OPEN, file_syscall::PATH_LINK_HOOK, flags, 0, rec)
}

#[lsm(hook = "path_rename")]
pub fn palisade_path_rename(ctx: LsmContext) -> i32 {
    // int path_rename(const struct path *old_dir, struct dentry *old_dentry,
    //                 const struct path *new_dir, struct dentry *new_dentry,
    //                 unsigned int flags)    (flags since 5.19)
    let prev = previous(&ctx, 5);
    if prev != 0 {
        return prev;
    }
    let (old_dir, old_dentry, new_dir, new_dentry, flags): (_, _, _, _, u32) =
        (ctx.arg(0), ctx.arg(1), ctx.arg(2), ctx.arg(3), ctx.arg(4));
    let Some((caller, scratch)) = Caller::asking(file_watch::WRITE) else { return 0 };
    let rec = &mut scratch.record;
    // Both names are resolved, judged and copied for the record in turn
    // (they share the buffer); either under a write prefix denies: the old
    // one loses its file, the new one gets another.
    let mut found = ptr::null();
    rec.path[0] = 0;
    // SAFETY: the hook's old directory and entry.
    if let Some(target) = unsafe { of_entry(old_dir, old_dentry) } {
        let path;
        (path, found) = caller.judge(&mut scratch.key, target, file_watch::WRITE);
        copy_path(&mut rec.path, path, &mut rec.status, file_status::PATH_TRUNCATED);
    }
    // SAFETY: the hook's new directory and entry.
    if let Some(target) = unsafe { of_entry(new_dir, new_dentry) } {
        let (path, new_found) = caller.judge(&mut scratch.key, target, file_watch::WRITE);
        if found.is_null() {
            found = new_found;
        }
        copy_path(&mut rec.new_path, path, &mut rec.status, file_status::NEW_PATH_TRUNCATED);
    }
    caller.report(found, kind::FILE_RENAME, file_syscall::PATH_RENAME_HOOK, flags, 0, rec)
}

/// A hook on a whole `struct path` (truncate, chmod, chown): a write.
#[inline(always)]
fn whole(path: *const u8, kind: u32, syscall: u32, flags: u32, mode: u32) -> i32 {
    let Some((caller, scratch)) = Caller::asking(file_watch::WRITE) else { return 0 };
    // SAFETY: the hook's `struct path`.
    let Some(target) = (unsafe { of_path(path) }) else { return 0 };
    judged(caller, scratch, target, kind, syscall, flags, mode)
}

/// A hook on an entry of a directory (unlink, mknod, symlink): a write.
#[inline(always)]
fn entry(dir: *const u8, dentry: *const u8, kind: u32, syscall: u32, flags: u32, mode: u32) -> i32 {
    let Some((caller, scratch)) = Caller::asking(file_watch::WRITE) else { return 0 };
    // SAFETY: the hook's directory and entry.
    let Some(target) = (unsafe { of_entry(dir, dentry) }) else { return 0 };
    judged(caller, scratch, target, kind, syscall, flags, mode)
}

/// Judges a write to `target`, and reports a match.
#[inline(always)]
fn judged(
    caller: Caller,
    scratch: &mut Scratch,
    target: Target,
    kind: u32,
    syscall: u32,
    flags: u32,
    mode: u32,
) -> i32 {
    let (path, found) = caller.judge(&mut scratch.key, target, file_watch::WRITE);
    if found.is_null() {
        return 0;
    }
    let rec = &mut scratch.record;
    copy_path(&mut rec.path, path, &mut rec.status, file_status::PATH_TRUNCATED);
    caller.report(found, kind, syscall, flags, mode, rec)
}

/// A file as a dentry and the `struct vfsmount` it was reached through.
type Target = (*const u8, *const u8);

/// The target of a `struct path` the hook was given.
///
/// # Safety
/// `path` must point to a `struct path`.
#[inline(always)]
unsafe fn of_path(path: *const u8) -> Option<Target> {
    // SAFETY: kernel reads at BTF offsets of a `struct path`.
    unsafe { Some((read(path, off!(path_dentry)).ok()?, read(path, off!(path_mnt)).ok()?)) }
}

/// The target of an entry `dentry` the hook was given in the directory
/// `dir` (a `struct path`): a new entry's dentry already hangs under its
/// directory.
///
/// # Safety
/// `dir` must point to a `struct path`.
#[inline(always)]
unsafe fn of_entry(dir: *const u8, dentry: *const u8) -> Option<Target> {
    // SAFETY: a kernel read at a BTF offset of a `struct path`.
    Some((dentry, unsafe { read(dir, off!(path_mnt)) }.ok()?))
}

/// Who asks, in which generation and profile, for which of the accesses
/// its profile's file rules cover.
struct Caller {
    generation: u8,
    profile: u16,
    pid_tgid: u64,
    /// `file_watch` bits: asked for, and covered by the caller's profile.
    asked: u32,
}

impl Caller {
    /// The caller, when some of the accesses `wanted` are covered by its
    /// profile's file rules (the agent's own calls never are); with the
    /// scratch area, its record's status cleared.
    #[inline(always)]
    fn asking(wanted: u32) -> Option<(Caller, &'static mut Scratch)> {
        let generation = active_generation();
        let any = FILE_PRESENT.get(file_any_slot(generation)).copied().unwrap_or(0);
        if wanted & any == 0 {
            return None;
        }
        let pid_tgid = bpf_get_current_pid_tgid();
        if is_agent((pid_tgid >> 32) as u32) {
            return None;
        }
        let profile = caller_profile(generation);
        let covered = FILE_PRESENT.get(profile_slot(generation, profile)).copied().unwrap_or(0);
        let asked = wanted & any & covered;
        if asked == 0 {
            return None;
        }
        let scratch = FILE_RULE_SCRATCH.get_ptr_mut(0)?;
        // SAFETY: the map value is ours for the duration of this program run.
        let scratch = unsafe { &mut *scratch };
        scratch.record.status = 0;
        scratch.record.new_path[0] = 0;
        Some((Caller { generation, profile, pid_tgid, asked }, scratch))
    }

    /// Resolves `target` and judges it for the `bits`: by its path, else
    /// by the identity of the file or of a directory above it. The path
    /// (if it has one) and the rule's verdict (null: none).
    #[inline(always)]
    fn judge(
        &self,
        key: &mut Key<FileRuleData>,
        target: Target,
        bits: u32,
    ) -> (Option<Resolved>, *const Verdict) {
        let Some(query) = IDENTITY_QUERY.get_ptr_mut(0) else { return (None, ptr::null()) };
        // SAFETY: this CPU's value, ours for the program run.
        let query = unsafe { &mut *query };
        query.key.prefix_len = FILE_KEY_FIXED_BITS + (FILE_INODE_KEY_LEN as u32) * 8;
        query.key.data.generation = self.generation;
        query.key.data.profile = self.profile.to_le_bytes();
        query.bits = bits & self.asked;
        query.found = 0;
        // SAFETY: the target came from the hook's arguments.
        let path = unsafe { resolve::resolve::<ByIdentity>(target.0, target.1) };
        let mut found = ptr::null();
        if let Some(path) = path {
            found = self.lookup(key, path, bits);
        }
        if found.is_null() && query.found != 0 {
            found = &query.verdict as *const Verdict;
        }
        (path, found)
    }

    /// The rule denying the resolved `path` for one of the `bits`, writing
    /// first (a rule denying writes is the one an open for both breaks
    /// first): its map value, or null. A pointer, not an
    /// `Option<Verdict>`: LLVM may copy the payload of a `None` it never
    /// wrote, a read of an uninitialised register the verifier refuses.
    #[inline(always)]
    fn lookup(&self, key: &mut Key<FileRuleData>, path: Resolved, bits: u32) -> *const Verdict {
        let mut found: *const Verdict = ptr::null();
        let Some(buffer) = resolve::buffer() else { return found };
        key.data.generation = self.generation;
        key.data.profile = self.profile.to_le_bytes();
        // SAFETY: copies FILE_RULE_PATH_LEN bytes from inside the buffer
        // (it has that much room past any start) into the key.
        unsafe {
            bpf_probe_read_kernel(
                key.data.path.as_mut_ptr().cast(),
                FILE_RULE_PATH_LEN as u32,
                buffer.path.as_ptr().add(path.start).cast(),
            );
        }
        key.prefix_len = FILE_KEY_FIXED_BITS + (path.len.min(FILE_RULE_PATH_LEN) as u32) * 8;
        for bit in [file_watch::WRITE, file_watch::READ] {
            if bits & self.asked & bit != 0 && found.is_null() {
                key.data.access = bit as u8;
                found = FILE_RULES.get(&*key).map_or(ptr::null(), |v| v as *const Verdict);
            }
        }
        found
    }

    /// Records the match `found` (if not null), and denies the call if the
    /// rule is enforced: the
    /// verdict joins the call the syscall tracepoints parked for this
    /// thread (it leaves at the call's exit, with the result), else `rec`
    /// (its paths filled by the hook) leaves as a record of its own.
    #[inline(always)]
    fn report(
        &self,
        found: *const Verdict,
        kind: u32,
        syscall: u32,
        flags: u32,
        mode: u32,
        rec: &mut FileRecord,
    ) -> i32 {
        if found.is_null() {
            return 0;
        }
        // SAFETY: a value of the rules map, looked up by this run.
        let mut verdict = unsafe { *found };
        verdict.flags |= verdict_flags::MATCHED;
        let enforced = verdict.flags & verdict_flags::ENFORCE != 0;
        let denied = if enforced { -EPERM } else { 0 };
        if let Some(pending) = FILE_PENDING.get_ptr_mut(self.pid_tgid as u32) {
            // SAFETY: this thread's entry, touched only by this thread
            // between its call's entry and exit.
            unsafe { (*pending).verdict = verdict };
            return denied;
        }
        rec.header = header(kind, size_of::<FileRecord>(), self.pid_tgid);
        rec.syscall = syscall;
        rec.flags = flags;
        rec.mode = mode;
        rec.ret = i64::from(denied);
        rec.verdict = verdict;
        if EVENTS.output::<FileRecord>(&*rec, wakeup_flags()).is_err() {
            count_drop(kind);
        }
        denied
    }
}

/// Copies a resolved path into a record's path field (NUL terminated
/// unless it fills it, and then flagged with `truncated`); empty when the
/// file has no path (a match by identity alone).
#[inline(always)]
fn copy_path(
    to: &mut [u8; FILE_PATH_MAX],
    path: Option<Resolved>,
    status: &mut u32,
    truncated: u32,
) {
    to[0] = 0;
    let (Some(path), Some(buffer)) = (path, resolve::buffer()) else { return };
    // SAFETY: copies FILE_PATH_MAX bytes from inside the buffer (it has
    // that much room past any start; the path ends with a NUL).
    unsafe {
        bpf_probe_read_kernel(
            to.as_mut_ptr().cast(),
            FILE_PATH_MAX as u32,
            buffer.path.as_ptr().add(path.start).cast(),
        );
    }
    if path.len >= FILE_PATH_MAX {
        *status |= truncated;
    }
}

/// The accesses an open asks for (`file_watch` bits), from its `FMODE_*`
/// bits. (An `O_TRUNC` open's truncation comes after, to `path_truncate`,
/// as a write.)
#[inline(always)]
fn access(file: *const u8) -> u32 {
    // SAFETY: a kernel read at a BTF offset.
    let mode = unsafe { read::<u32>(file, off!(file_f_mode)) }.unwrap_or(0);
    let mut bits = 0;
    if mode & FMODE_READ != 0 {
        bits |= file_watch::READ;
    }
    if mode & FMODE_WRITE != 0 {
        bits |= file_watch::WRITE;
    }
    bits
}
