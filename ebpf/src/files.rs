//! File activity on watched paths, from the system calls' tracepoints.
//!
//! At a call's entry the path the caller passed is read from its memory and
//! looked up in `FILE_WATCH`, an LPM trie of path prefixes compiled from the
//! bundle: a path under no watched prefix (or watched for other operations)
//! costs that lookup and nothing else. A match is parked per thread in
//! `FILE_PENDING`; the call's exit adds the result and sends the record.
//!
//! What this cannot do: deny, see a relative path's target (only absolute
//! paths match a prefix), or see through the path string to the file the
//! kernel opens (the memory may change after the read: a TOCTOU window an
//! attacker can race, and symlinks are not followed). Where BPF-LSM runs,
//! `file_rules` judges opens by the resolved path and denies them; its
//! verdict joins the record parked here.

use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_probe_read_user,
        generated::{bpf_probe_read_kernel, bpf_probe_read_user_str},
    },
    macros::{map, tracepoint},
    maps::{LpmTrie, LruHashMap, PerCpuArray, lpm_trie::Key},
    programs::TracePointContext,
};
use core::mem::size_of;
use palisade_common::{
    FILE_PATH_MAX, FileRecord, file_status, file_syscall, file_watch, kind,
    open_flags::{self, O_CREAT, O_TRUNC, O_WRONLY},
};

use crate::{
    EVENTS, count_drop, header, is_agent,
    kernel::Error,
    syscall::{self, arg},
    wakeup_flags,
};

/// Watched prefixes, written by the agent from the bundle.
#[map]
static FILE_WATCH: LpmTrie<[u8; FILE_PATH_MAX], u32> = LpmTrie::with_max_entries(4096, 0);

/// Records of calls under way, by thread id, waiting for their result. LRU:
/// a call whose exit is never seen cannot fill the map.
#[map]
pub(crate) static FILE_PENDING: LruHashMap<u32, FileRecord> = LruHashMap::with_max_entries(4096, 0);

/// Off the 512-byte stack: the two lookup keys and the record being built.
#[repr(C)]
struct Scratch {
    keys: [Key<[u8; FILE_PATH_MAX]>; 2],
    record: FileRecord,
}

#[map]
static FILE_SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

/// One call, as its entry tracepoint gives it.
struct Call {
    kind: u32,
    syscall: u32,
    /// User pointers; `new_path` 0 when the call has one path.
    path: u64,
    new_path: u64,
    flags: u32,
    mode: u32,
}

/// The `file_watch` bit a call needs: reading opens need READ, everything
/// else (writing opens, unlink, rename, chmod) WRITE.
#[inline(always)]
fn needed(call: &Call) -> u32 {
    let reads = call.kind == kind::FILE_OPEN && !open_flags::writes(call.flags);
    if reads { file_watch::READ } else { file_watch::WRITE }
}

/// Reads the user string at `ptr` into `key` and looks it up; the bits of
/// the longest watched prefix of it (0: none), and whether it filled the key.
#[inline(always)]
fn watched(key: &mut Key<[u8; FILE_PATH_MAX]>, ptr: u64) -> (u32, bool) {
    if ptr == 0 {
        return (0, false);
    }
    // SAFETY: writes at most FILE_PATH_MAX bytes into the key's data.
    let n = unsafe {
        bpf_probe_read_user_str(
            key.data.as_mut_ptr().cast(),
            FILE_PATH_MAX as u32,
            ptr as *const core::ffi::c_void,
        )
    };
    // Fewer than 2 bytes: unreadable or empty; a relative path matches no
    // prefix (they all start with '/') and is skipped by the lookup.
    if n < 2 {
        return (0, false);
    }
    // The path without its NUL: what lies after it in the key is not compared.
    key.prefix_len = ((n as u32) - 1) * 8;
    let bits = FILE_WATCH.get(&*key).copied().unwrap_or(0);
    (bits, n as usize == FILE_PATH_MAX)
}

#[inline(always)]
fn enter(call: Call) -> u32 {
    if try_enter(&call).is_err() {
        count_drop(call.kind);
    }
    0
}

fn try_enter(call: &Call) -> Result<(), Error> {
    let pid_tgid = bpf_get_current_pid_tgid();
    if is_agent((pid_tgid >> 32) as u32) {
        return Ok(());
    }
    let scratch = FILE_SCRATCH.get_ptr_mut(0).ok_or(Error)?;
    // SAFETY: the map value is ours for the duration of this program run.
    let scratch = unsafe { &mut *scratch };
    let need = needed(call);
    let (old_bits, old_full) = watched(&mut scratch.keys[0], call.path);
    let (new_bits, new_full) = watched(&mut scratch.keys[1], call.new_path);
    if (old_bits | new_bits) & need == 0 {
        return Ok(());
    }
    let rec = &mut scratch.record;
    rec.header = header(call.kind, size_of::<FileRecord>(), pid_tgid);
    rec.syscall = call.syscall;
    rec.status = 0;
    if old_full {
        rec.status |= file_status::PATH_TRUNCATED;
    }
    if new_full {
        rec.status |= file_status::NEW_PATH_TRUNCATED;
    }
    rec.flags = call.flags;
    rec.mode = call.mode;
    rec.ret = 0;
    // BPF-LSM `file_open` sets it if a kernel file rule matches the open.
    // SAFETY: a field of the record (zeroed by words, see `crate::clear`).
    unsafe { crate::clear(&mut rec.verdict) };
    rec.path[0] = 0;
    rec.new_path[0] = 0;
    // SAFETY: copies between two arrays of FILE_PATH_MAX bytes in map memory.
    unsafe {
        if call.path != 0 {
            bpf_probe_read_kernel(
                rec.path.as_mut_ptr().cast(),
                FILE_PATH_MAX as u32,
                scratch.keys[0].data.as_ptr().cast(),
            );
        }
        if call.new_path != 0 {
            bpf_probe_read_kernel(
                rec.new_path.as_mut_ptr().cast(),
                FILE_PATH_MAX as u32,
                scratch.keys[1].data.as_ptr().cast(),
            );
        }
    }
    // By reference: a copy of the record would not fit the stack.
    FILE_PENDING.insert(pid_tgid as u32, rec, 0).map_err(|_| Error)
}

/// Every watched call's exit: sends the parked record with the result.
#[tracepoint(category = "syscalls", name = "sys_exit_openat")]
pub fn palisade_file_exit(ctx: TracePointContext) -> u32 {
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(rec) = FILE_PENDING.get_ptr_mut(tid) else {
        return 0;
    };
    // SAFETY: the entry is this thread's, and only this thread touches it
    // between its call's entry and exit.
    let rec = unsafe { &mut *rec };
    rec.ret = syscall::ret(&ctx);
    if EVENTS.output::<FileRecord>(&*rec, wakeup_flags()).is_err() {
        count_drop(rec.header.kind);
    }
    let _ = FILE_PENDING.remove(tid);
    0
}

/// An open: reading or writing decides which prefixes apply.
#[inline(always)]
fn open(syscall: u32, path: u64, flags: u64, mode: u64) -> u32 {
    enter(Call {
        kind: kind::FILE_OPEN,
        syscall,
        path,
        new_path: 0,
        flags: flags as u32,
        mode: mode as u32,
    })
}

#[tracepoint(category = "syscalls", name = "sys_enter_open")]
pub fn palisade_file_open(ctx: TracePointContext) -> u32 {
    // open(filename, flags, mode)
    open(file_syscall::OPEN, arg(&ctx, 0), arg(&ctx, 1), arg(&ctx, 2))
}

#[tracepoint(category = "syscalls", name = "sys_enter_openat")]
pub fn palisade_file_openat(ctx: TracePointContext) -> u32 {
    // openat(dfd, filename, flags, mode)
    open(file_syscall::OPENAT, arg(&ctx, 1), arg(&ctx, 2), arg(&ctx, 3))
}

#[tracepoint(category = "syscalls", name = "sys_enter_openat2")]
pub fn palisade_file_openat2(ctx: TracePointContext) -> u32 {
    // openat2(dfd, filename, struct open_how *how, usize): how starts
    // with u64 flags, then u64 mode.
    let (path, how) = (arg(&ctx, 1), arg(&ctx, 2));
    // SAFETY: user reads fault safely.
    let how = unsafe { bpf_probe_read_user(how as *const [u64; 2]) }.unwrap_or([0; 2]);
    open(file_syscall::OPENAT2, path, how[0], how[1])
}

#[tracepoint(category = "syscalls", name = "sys_enter_creat")]
pub fn palisade_file_creat(ctx: TracePointContext) -> u32 {
    // creat(pathname, mode) is open(O_CREAT | O_WRONLY | O_TRUNC).
    let flags = u64::from(O_CREAT | O_TRUNC | O_WRONLY);
    open(file_syscall::CREAT, arg(&ctx, 0), flags, arg(&ctx, 1))
}

/// A call with one path and nothing else that matters but `flags` and `mode`.
#[inline(always)]
fn one_path(kind: u32, syscall: u32, path: u64, flags: u64, mode: u64) -> u32 {
    enter(Call { kind, syscall, path, new_path: 0, flags: flags as u32, mode: mode as u32 })
}

#[tracepoint(category = "syscalls", name = "sys_enter_unlink")]
pub fn palisade_file_unlink(ctx: TracePointContext) -> u32 {
    one_path(kind::FILE_UNLINK, file_syscall::UNLINK, arg(&ctx, 0), 0, 0)
}

#[tracepoint(category = "syscalls", name = "sys_enter_unlinkat")]
pub fn palisade_file_unlinkat(ctx: TracePointContext) -> u32 {
    // unlinkat(dfd, pathname, flag)
    let flag = arg(&ctx, 2);
    one_path(kind::FILE_UNLINK, file_syscall::UNLINKAT, arg(&ctx, 1), flag, 0)
}

#[tracepoint(category = "syscalls", name = "sys_enter_chmod")]
pub fn palisade_file_chmod(ctx: TracePointContext) -> u32 {
    let mode = arg(&ctx, 1);
    one_path(kind::FILE_CHMOD, file_syscall::CHMOD, arg(&ctx, 0), 0, mode)
}

#[tracepoint(category = "syscalls", name = "sys_enter_fchmodat")]
pub fn palisade_file_fchmodat(ctx: TracePointContext) -> u32 {
    // fchmodat(dfd, filename, mode)
    let mode = arg(&ctx, 2);
    one_path(kind::FILE_CHMOD, file_syscall::FCHMODAT, arg(&ctx, 1), 0, mode)
}

#[tracepoint(category = "syscalls", name = "sys_enter_fchmodat2")]
pub fn palisade_file_fchmodat2(ctx: TracePointContext) -> u32 {
    // fchmodat2(dfd, filename, mode, flags)
    let (mode, flags) = (arg(&ctx, 2), arg(&ctx, 3));
    one_path(kind::FILE_CHMOD, file_syscall::FCHMODAT2, arg(&ctx, 1), flags, mode)
}

/// A rename: recorded when either name is watched.
#[inline(always)]
fn rename(syscall: u32, path: u64, new_path: u64, flags: u64) -> u32 {
    enter(Call { kind: kind::FILE_RENAME, syscall, path, new_path, flags: flags as u32, mode: 0 })
}

#[tracepoint(category = "syscalls", name = "sys_enter_rename")]
pub fn palisade_file_rename(ctx: TracePointContext) -> u32 {
    rename(file_syscall::RENAME, arg(&ctx, 0), arg(&ctx, 1), 0)
}

#[tracepoint(category = "syscalls", name = "sys_enter_renameat")]
pub fn palisade_file_renameat(ctx: TracePointContext) -> u32 {
    // renameat(olddfd, oldname, newdfd, newname)
    rename(file_syscall::RENAMEAT, arg(&ctx, 1), arg(&ctx, 3), 0)
}

#[tracepoint(category = "syscalls", name = "sys_enter_renameat2")]
pub fn palisade_file_renameat2(ctx: TracePointContext) -> u32 {
    // renameat2(olddfd, oldname, newdfd, newname, flags)
    let flags = arg(&ctx, 4);
    rename(file_syscall::RENAMEAT2, arg(&ctx, 1), arg(&ctx, 3), flags)
}
