//! Kernel file rules: BPF-LSM `file_open` judges each open by the file's
//! resolved path (`bpf_d_path`: absolute from the caller's root, symlinks,
//! `..` and relative spellings resolved, whichever system call or io_uring
//! opened it) against `FILE_RULES`, the denied prefixes of the caller's
//! profile for the access asked (read, write). An enforced match fails the
//! open with EPERM; every match is recorded.
//!
//! Cost when no kernel file rule exists: one array lookup per open. When
//! some profile has file rules: the caller's profile, then the path and one
//! or two prefix lookups only where that profile covers the access.
//!
//! Not judged here (the sensor still reports them on watched paths):
//! renames, unlinks, links and mode changes, and a file created empty by
//! `O_RDONLY|O_CREAT` before this hook denies its open. The `path_*` hooks
//! would judge them, but 6.1 refuses `bpf_d_path` there ("helper call is
//! not allowed in probe"): they need the path walked from the dentries,
//! root first. Nor are files opened before the rule.

use aya_ebpf::{
    bindings::path,
    helpers::{
        bpf_get_current_pid_tgid,
        generated::{bpf_d_path, bpf_probe_read_kernel},
    },
    macros::{lsm, map},
    maps::{Array, LpmTrie, PerCpuArray, lpm_trie::Key},
    programs::LsmContext,
};
use core::mem::size_of;
use palisade_common::{
    FILE_PATH_MAX, FileRecord,
    enforce::{
        ENFORCE_MAP_ENTRIES, FILE_KEY_FIXED_BITS, FILE_PRESENT_SLOTS, FILE_RULE_PATH_LEN,
        FileRuleData, Verdict, file_any_slot, profile_slot, verdict_flags,
    },
    file_status, file_syscall, file_watch, kind,
};

use crate::{
    EVENTS, count_drop,
    enforce::{active_generation, caller_profile},
    files::FILE_PENDING,
    header, is_agent,
    kernel::{off, read},
    wakeup_flags,
};

const EPERM: i32 = 1;
/// `struct file`'s `f_mode` bits.
const FMODE_READ: u32 = 1 << 0;
const FMODE_WRITE: u32 = 1 << 1;
/// Room for any path `d_path` can build.
const PATH_BUF: usize = 4096;

/// Denied path prefixes, by generation, profile and access.
#[map]
pub static FILE_RULES: LpmTrie<FileRuleData, Verdict> = LpmTrie::pinned(ENFORCE_MAP_ENTRIES, 0);

/// Per generation and profile, the accesses its file rules cover; then per
/// generation, those of every profile (`file_any_slot`).
#[map]
pub static FILE_PRESENT: Array<u32> = Array::pinned(FILE_PRESENT_SLOTS, 0);

/// Off the 512-byte stack: the resolved path, the lookup key and the record.
#[repr(C)]
struct Scratch {
    path: [u8; PATH_BUF],
    key: Key<FileRuleData>,
    record: FileRecord,
}

#[map]
static FILE_RULE_SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

#[lsm(hook = "file_open")]
pub fn palisade_file_lsm(ctx: LsmContext) -> i32 {
    // int file_open(struct file *file), then the return value of the LSM
    // hooks before this one.
    let previous: i32 = ctx.arg(1);
    if previous != 0 {
        return previous;
    }
    let file: *const u8 = ctx.arg(0);
    judge(file)
}

#[inline(always)]
fn judge(file: *const u8) -> i32 {
    let generation = active_generation();
    let any = FILE_PRESENT.get(file_any_slot(generation)).copied().unwrap_or(0);
    if any == 0 {
        return 0;
    }
    let pid_tgid = bpf_get_current_pid_tgid();
    if is_agent((pid_tgid >> 32) as u32) {
        return 0;
    }
    let asked = access(file) & any;
    if asked == 0 {
        return 0;
    }
    let profile = caller_profile(generation);
    let covered = FILE_PRESENT.get(profile_slot(generation, profile)).copied().unwrap_or(0);
    let asked = asked & covered;
    if asked == 0 {
        return 0;
    }
    let Some(scratch) = FILE_RULE_SCRATCH.get_ptr_mut(0) else { return 0 };
    // SAFETY: the map value is ours for the duration of this program run.
    let scratch = unsafe { &mut *scratch };
    // SAFETY: `file` is the hook's `struct file`; `f_path` is its
    // `struct path`; the helper writes at most PATH_BUF bytes.
    let n = unsafe {
        bpf_d_path(
            file.add(off!(file_f_path)) as *mut path,
            scratch.path.as_mut_ptr().cast(),
            PATH_BUF as u32,
        )
    };
    // Unresolvable (no path for an anonymous file): nothing a prefix names.
    if n < 2 {
        return 0;
    }
    let len = (n as usize - 1).min(FILE_RULE_PATH_LEN);
    let key = &mut scratch.key;
    key.data.generation = generation;
    key.data.profile = profile.to_le_bytes();
    // SAFETY: copies FILE_RULE_PATH_LEN bytes between two map-memory arrays
    // at least that long.
    unsafe {
        bpf_probe_read_kernel(
            key.data.path.as_mut_ptr().cast(),
            FILE_RULE_PATH_LEN as u32,
            scratch.path.as_ptr().cast(),
        );
    }
    key.prefix_len = FILE_KEY_FIXED_BITS + (len as u32) * 8;
    // Writing first: a rule denying writes is the one an open for both
    // breaks first.
    let mut found = None;
    for bit in [file_watch::WRITE, file_watch::READ] {
        if asked & bit != 0 && found.is_none() {
            key.data.access = bit as u8;
            found = FILE_RULES.get(&*key).copied();
        }
    }
    let Some(mut verdict) = found else { return 0 };
    verdict.flags |= verdict_flags::MATCHED;
    let enforced = verdict.flags & verdict_flags::ENFORCE != 0;
    report(file, verdict, enforced, n as usize, pid_tgid, scratch);
    if enforced { -EPERM } else { 0 }
}

/// The accesses an open asks for (`file_watch` bits), from its `FMODE_*`
/// bits. (`O_TRUNC` is gone from the file's flags by now: an
/// `O_RDONLY|O_TRUNC` open asks for reading, and a read rule denies it
/// before the truncation.)
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

/// Records the match: on the call the syscall tracepoints parked for this
/// thread (it leaves at the call's exit, with the result), else as a
/// record of its own with the resolved path.
#[inline(always)]
fn report(
    file: *const u8,
    verdict: Verdict,
    enforced: bool,
    resolved_len: usize,
    pid_tgid: u64,
    scratch: &mut Scratch,
) {
    if let Some(pending) = FILE_PENDING.get_ptr_mut(pid_tgid as u32) {
        // SAFETY: this thread's entry, touched only by this thread between
        // its call's entry and exit.
        unsafe { (*pending).verdict = verdict };
        return;
    }
    let rec = &mut scratch.record;
    rec.header = header(kind::FILE_OPEN, size_of::<FileRecord>(), pid_tgid);
    rec.syscall = file_syscall::FILE_OPEN_HOOK;
    rec.status = if resolved_len > FILE_PATH_MAX { file_status::PATH_TRUNCATED } else { 0 };
    // SAFETY: a kernel read at a BTF offset.
    rec.flags = unsafe { read::<u32>(file, off!(file_f_flags)) }.unwrap_or(0);
    rec.mode = 0;
    rec.ret = if enforced { -i64::from(EPERM) } else { 0 };
    rec.verdict = verdict;
    rec.new_path[0] = 0;
    // SAFETY: copies FILE_PATH_MAX bytes between two map-memory arrays at
    // least that long (NUL terminated unless the path filled it).
    unsafe {
        bpf_probe_read_kernel(
            rec.path.as_mut_ptr().cast(),
            FILE_PATH_MAX as u32,
            scratch.path.as_ptr().cast(),
        );
    }
    if EVENTS.output::<FileRecord>(&*rec, wakeup_flags()).is_err() {
        count_drop(kind::FILE_OPEN);
    }
}
