//! Palisade's kernel side: the process sensor and the enforcing hooks.
//!
//! The sensor: exec (tracepoint), fork (raw tracepoint, which hands us the
//! child's `task_struct`) and exit (tracepoint) feed one ring buffer.
//! Enforcement (see `enforce`): the exec tracepoint kills a denied executable
//! before its first instruction where BPF-LSM is not available; the
//! `bprm_check_security` LSM hook denies it with EPERM where it is; the cgroup
//! `connect4|6` and `sendmsg4|6` hooks deny destinations with EPERM.
//! File activity on watched paths comes from syscall tracepoints (`files`).
//! Each entry point is a thin wrapper around a `try_*` function; a record that
//! cannot be delivered is counted per kind in `DROPS`, never lost silently.
#![no_std]
#![no_main]

mod cgroup;
mod diag;
mod drift;
mod egress;
mod enforce;
mod file_rules;
mod files;
mod kernel;
mod net;
mod path;
mod resolve;
mod sock;
mod sockets;
mod syscall;

use aya_ebpf::{
    EbpfContext,
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::{
        bpf_get_current_cgroup_id, bpf_get_current_pid_tgid, bpf_get_current_task,
        bpf_get_current_uid_gid, bpf_ktime_get_ns,
        generated::{
            bpf_get_current_comm, bpf_probe_read_kernel_str, bpf_probe_read_user, bpf_send_signal,
        },
    },
    macros::{lsm, map, raw_tracepoint, tracepoint},
    maps::{Array, PerCpuArray, RingBuf},
    programs::{LsmContext, RawTracePointContext, TracePointContext},
};
use core::{
    mem::{align_of, size_of},
    ptr::write_volatile,
};
use palisade_common::{
    ARGS_MAX, ENV_MAX, ExecDeniedRecord, ExecRecord, ExecScratch, ExitRecord, FILENAME_MAX,
    ForkRecord, RecordHeader, Span, TAIL_POS_MASK,
    enforce::{EXEC_NAME_LEN, Verdict, mechanism, verdict_flags},
    exec_flags, kind,
    names::EVENTS_RING_BYTES,
};

use kernel::{Error, off, read, task_tgid};

/// Set at load time to the agent's tgid: its own activity is not reported.
#[unsafe(no_mangle)]
static AGENT_TGID: u32 = 0;

/// Byte offset of `__data_loc char[] filename` in the `sched_process_exec`
/// tracepoint record; set at load time from the tracepoint's format file.
#[unsafe(no_mangle)]
static EXEC_FILENAME_LOC: u32 = 8;

/// Unread bytes in the ring buffer above which a record wakes the reader; below
/// it records are written without a wake-up and the reader collects them on
/// its next timed poll. Set at load time.
#[unsafe(no_mangle)]
static WAKEUP_BYTES: u64 = 1 << 20;

/// How exec denials are enforced: `mechanism::SIGKILL_AT_EXEC` makes the
/// exec tracepoint kill a denied executable; with `mechanism::BPF_LSM` the
/// LSM hook denies it and the tracepoint only reports. Set at load time.
#[unsafe(no_mangle)]
static EXEC_MECHANISM: u32 = mechanism::NONE;

pub(crate) const SIGKILL: u32 = 9;
pub(crate) const EPERM: i32 = 1;

/// The enforcement mechanism the loader chose (`EXEC_MECHANISM`).
#[inline(always)]
pub(crate) fn exec_mechanism() -> u32 {
    // SAFETY: a read-only global, written once by the loader.
    unsafe { core::ptr::read_volatile(&EXEC_MECHANISM) }
}

#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_RING_BYTES, 0);

/// Non-zero while the reader sleeps until a record wakes it (it found the
/// ring empty for a while): every record then wakes it.
#[map]
static READER_ASLEEP: Array<u32> = Array::with_max_entries(1, 0);

#[map]
static DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(kind::COUNT, 0);

#[map]
static EXEC_SCRATCH: PerCpuArray<ExecScratch> = PerCpuArray::with_max_entries(1, 0);

#[inline(always)]
pub(crate) fn is_agent(tgid: u32) -> bool {
    // SAFETY: a read-only global, written once by the loader.
    tgid == unsafe { core::ptr::read_volatile(&AGENT_TGID) }
}

#[inline(always)]
pub(crate) fn count_drop(kind: u32) {
    if let Some(counter) = DROPS.get_ptr_mut(kind) {
        // SAFETY: per-CPU slot, and BPF programs do not migrate mid-run.
        unsafe { *counter += 1 };
    }
}

/// Zeroes `*value` with volatile four-byte stores. A zeroing LLVM sees
/// (`[0; N]`, a default struct, zero stores in a row) is otherwise a
/// `memset` call: bpf-linker has LLVM leave every one a call
/// (`--bpf-expand-memcpy-in-order`), and aya-ebpf's `memset` stores a byte
/// per loop turn of five instructions. Volatile, so LLVM does not merge the
/// stores back into a `memset`; in place, since a move of the value can be
/// one again.
///
/// # Safety
/// `value` must be valid for writes of a `T` (it may be uninitialized).
#[inline(always)]
pub(crate) unsafe fn clear<T>(value: *mut T) {
    const { assert!(size_of::<T>().is_multiple_of(4) && align_of::<T>() >= 4) };
    let words = value.cast::<u32>();
    for i in 0..size_of::<T>() / 4 {
        // SAFETY: `i < size_of::<T>() / 4`, inside `*value`, aligned.
        unsafe { words.add(i).write_volatile(0) };
    }
}

/// Ring-buffer flags for the next record: wake-ups are batched (see
/// `WAKEUP_BYTES`), which saves a polling reader a wake-up per event; a
/// sleeping one (`READER_ASLEEP`) is woken by every record.
#[inline(always)]
pub(crate) fn wakeup_flags() -> u64 {
    // SAFETY: a read-only global, written once by the loader.
    let threshold = unsafe { core::ptr::read_volatile(&WAKEUP_BYTES) };
    // SAFETY: the agent writes the value whole (a u32) with bpf(2).
    let asleep = READER_ASLEEP.get(0).is_some_and(|a| unsafe { core::ptr::read_volatile(a) } != 0);
    if asleep || EVENTS.query(u64::from(BPF_RB_AVAIL_DATA)) >= threshold {
        u64::from(BPF_RB_FORCE_WAKEUP)
    } else {
        u64::from(BPF_RB_NO_WAKEUP)
    }
}

#[inline(always)]
pub(crate) fn header(kind: u32, size: usize, pid_tgid: u64) -> RecordHeader {
    // SAFETY: no preconditions.
    header_in(kind, size, pid_tgid, unsafe { bpf_get_current_cgroup_id() })
}

/// As [`header`], with the cgroup given (program types without the
/// current-task helpers, such as cgroup skb programs on 6.1).
#[inline(always)]
pub(crate) fn header_in(kind: u32, size: usize, pid_tgid: u64, cgroup_id: u64) -> RecordHeader {
    RecordHeader {
        kind,
        size: size as u32,
        // SAFETY: no preconditions.
        ktime_ns: unsafe { bpf_ktime_get_ns() },
        pid: (pid_tgid >> 32) as u32,
        tid: pid_tgid as u32,
        cgroup_id,
    }
}

#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn palisade_exec(ctx: TracePointContext) -> u32 {
    // Decided first and apart from the rest of the record: a record that
    // cannot be built or delivered must not let a denied executable run.
    // The outcome is written straight into the scratch record (kept off the
    // stack: the frame, with the path walk's callback, must fit 512 bytes
    // on 6.1's verifier).
    match EXEC_SCRATCH.get_ptr_mut(0) {
        Some(scratch) => {
            // SAFETY: the map value is ours for the duration of this run.
            exec_enforce(&ctx, unsafe { &mut (*scratch).record });
            if try_exec(&ctx).is_err() {
                count_drop(kind::EXEC);
            }
        }
        None => {
            exec_enforce(&ctx, &mut ExecRecord::default());
            count_drop(kind::EXEC);
        }
    }
    0
}

/// Looks the new executable up in the exec deny maps, then (if it shows
/// drift) in the drift rules and, when the exec mechanism is the signal,
/// kills it on an enforced match: the SIGKILL is pending before the task
/// returns to user space, so the new image never runs an instruction.
/// Sets the record's verdict, the mechanism that acted and the drift bits.
#[inline(always)]
fn exec_enforce(ctx: &TracePointContext, rec: &mut ExecRecord) {
    // SAFETY: a field of the record.
    unsafe { clear(&mut rec.verdict) };
    rec.mechanism = mechanism::NONE;
    rec.drift = 0;
    // SAFETY: no preconditions; the pointer is only read through probe reads.
    let task = unsafe { bpf_get_current_task() } as *const u8;
    // SAFETY: kernel reads at BTF offsets.
    let file = unsafe {
        read::<*const u8>(task, off!(task_struct_mm))
            .and_then(|mm| read::<*const u8>(mm, off!(mm_struct_exe_file)))
    };
    let Ok(file) = file else {
        diag::exec_file_unreadable(ctx, (bpf_get_current_pid_tgid() >> 32) as u32);
        return;
    };
    if file.is_null() {
        return;
    }
    let (verdict, drift) = file_verdict(file);
    rec.drift = drift;
    let Some(mut verdict) = verdict else { return };
    verdict.flags |= verdict_flags::MATCHED;
    rec.verdict = verdict;
    let how = exec_mechanism();
    if verdict.flags & verdict_flags::ENFORCE != 0
        && how == mechanism::SIGKILL_AT_EXEC
        // SAFETY: signals the current process; no memory is touched.
        && unsafe { bpf_send_signal(SIGKILL) } == 0
    {
        rec.mechanism = mechanism::SIGKILL_AT_EXEC;
    }
}

/// The rule an executable file matches (deny maps first, then the drift
/// rules) and its drift bits.
#[inline(always)]
fn file_verdict(file: *const u8) -> (Option<Verdict>, u32) {
    let generation = enforce::active_generation();
    let caller = enforce::caller_profile(generation);
    // SAFETY: `file` is the executable's `struct file`.
    let drift = unsafe { drift::of_file(file) };
    // SAFETY: as above.
    let verdict = unsafe { enforce::exec_verdict(file, generation, caller) }
        .or_else(|| enforce::drift_verdict(drift, generation, caller));
    (verdict, drift)
}

/// Fills in the rest of the exec record (`exec_enforce` wrote its verdict)
/// and sends it.
fn try_exec(ctx: &TracePointContext) -> Result<(), Error> {
    let pid_tgid = bpf_get_current_pid_tgid();
    if is_agent((pid_tgid >> 32) as u32) {
        return Ok(());
    }
    let scratch = EXEC_SCRATCH.get_ptr_mut(0).ok_or(Error)?;
    // SAFETY: the map value is ours for the duration of this program run.
    let scratch = unsafe { &mut *scratch };
    // SAFETY: no preconditions; the pointer is only read through probe reads.
    let task = unsafe { bpf_get_current_task() } as *const u8;
    let rec = &mut scratch.record;
    let tail = scratch.tail.as_mut_ptr();

    rec.header = header(kind::EXEC, 0, pid_tgid);
    let uid_gid = bpf_get_current_uid_gid();
    rec.uid = uid_gid as u32;
    rec.gid = (uid_gid >> 32) as u32;
    // Read in place: aya's `bpf_get_current_comm` zeroes a buffer of its
    // own first, a `memset` call (see `clear`).
    // SAFETY: `comm` is 16 bytes of the map value, as many as the helper writes.
    if unsafe { bpf_get_current_comm(rec.comm.as_mut_ptr().cast(), 16) } != 0 {
        rec.comm = [0; 16];
    }
    // Each written on its own: zero stores in a row are merged into a
    // `memset` call (see `clear`).
    let none = Span { off: 0, len: 0 };
    // SAFETY: plain stores to fields of the map value.
    unsafe {
        write_volatile(&mut rec.flags, 0);
        write_volatile(&mut rec.exe_ino, 0);
        write_volatile(&mut rec.exe_dev, 0);
        write_volatile(&mut rec.args_total, 0);
        write_volatile(&mut rec.binary, none);
        write_volatile(&mut rec.cwd, none);
        write_volatile(&mut rec.args, none);
        write_volatile(&mut rec.exe_mtime_ns, 0);
        write_volatile(&mut rec.exe_ctime_ns, 0);
        write_volatile(&mut rec.env, none);
        write_volatile(&mut rec.env_total, 0);
        write_volatile(&mut rec._pad, 0);
    }

    // SAFETY (whole block): every read goes through bpf_probe_read_kernel at
    // offsets taken from this kernel's BTF.
    unsafe {
        let parent: *const u8 = read(task, off!(task_struct_real_parent))?;
        rec.ppid = task_tgid(parent)?;
        let cred: *const u8 = read(task, off!(task_struct_cred))?;
        rec.euid = read(cred, off!(cred_euid))?;
        rec.egid = read(cred, off!(cred_egid))?;
        let leader: *const u8 = read(task, off!(task_struct_group_leader))?;
        rec.start_ns = read(leader, off!(task_struct_start_time))?;
    }

    // The filename as passed to execve, from the tracepoint's own record.
    let mut cursor = 0usize;
    // SAFETY: the offset comes from the tracepoint's format file.
    let loc: u32 = unsafe { ctx.read_at(core::ptr::read_volatile(&EXEC_FILENAME_LOC) as usize) }
        .map_err(|_| Error)?;
    let (loc_off, loc_len) = ((loc & 0xffff) as usize, (loc >> 16) as usize);
    if loc_len > FILENAME_MAX {
        rec.flags |= exec_flags::FILENAME_TRUNCATED;
    }
    // SAFETY: writes at most FILENAME_MAX bytes at the start of the tail.
    let copied = unsafe {
        bpf_probe_read_kernel_str(
            tail.cast(),
            FILENAME_MAX as u32,
            ctx.as_ptr().cast::<u8>().add(loc_off).cast(),
        )
    };
    if copied > 0 {
        let len = copied as usize - 1; // without the NUL
        rec.filename = Span { off: 0, len: len as u32 };
        cursor = len;
    } else {
        rec.filename = Span::default();
    }

    // SAFETY: kernel reads as above; path walks write inside the tail.
    unsafe {
        let mm: *const u8 = read(task, off!(task_struct_mm))?;
        let exe_file: *const u8 = read(mm, off!(mm_struct_exe_file))?;
        if exe_file.is_null() {
            rec.flags |= exec_flags::NO_EXE_FILE;
        } else {
            let inode: *const u8 = read(exe_file, off!(file_f_inode))?;
            rec.exe_ino = read(inode, off!(inode_i_ino))?;
            let sb: *const u8 = read(inode, off!(inode_i_sb))?;
            rec.exe_dev = read(sb, off!(super_block_s_dev))?;
            (rec.exe_mtime_ns, rec.exe_ctime_ns) = drift::times(exe_file);
            let walked = path::walk(cursor, exe_file.add(off!(file_f_path)))?;
            if walked.truncated {
                rec.flags |= exec_flags::BINARY_TRUNCATED;
            }
            rec.binary = Span { off: cursor as u32, len: walked.len as u32 };
            cursor += walked.len;
        }

        let fs: *const u8 = read(task, off!(task_struct_fs))?;
        let walked = path::walk(cursor, fs.add(off!(fs_struct_pwd)))?;
        if walked.truncated {
            rec.flags |= exec_flags::CWD_TRUNCATED;
        }
        rec.cwd = Span { off: cursor as u32, len: walked.len as u32 };
        cursor += walked.len;

        // The first ENV_MAX bytes of the environment, as the new image
        // sees it; userspace picks the configured variables out of it. A
        // longer environment is flagged: what lies past the window (a
        // variable pushed there by padding) is not seen.
        let env_start: u64 = read(mm, off!(mm_struct_env_start))?;
        let env_end: u64 = read(mm, off!(mm_struct_env_end))?;
        let total = env_end.saturating_sub(env_start) as usize;
        rec.env_total = total as u32;
        let mut want = total;
        if want > ENV_MAX {
            want = ENV_MAX;
            rec.flags |= exec_flags::ENV_TRUNCATED;
        }
        let pos = cursor & TAIL_POS_MASK;
        // As for argv below: the bound re-derived by a mask for 6.1.
        let size = (want.wrapping_sub(1) & (ENV_MAX - 1)) + 1;
        if want == 0 {
            rec.env = Span { off: pos as u32, len: 0 };
        } else if bpf_probe_read_user(tail.add(pos).cast(), size as u32, env_start as *const _) == 0
        {
            rec.env = Span { off: pos as u32, len: size as u32 };
            cursor = pos + size;
        } else {
            rec.flags |= exec_flags::ENV_UNREADABLE;
        }

        let arg_start: u64 = read(mm, off!(mm_struct_arg_start))?;
        let arg_end: u64 = read(mm, off!(mm_struct_arg_end))?;
        let total = arg_end.saturating_sub(arg_start) as usize;
        rec.args_total = total as u32;
        let mut want = total;
        if want > ARGS_MAX {
            want = ARGS_MAX;
            rec.flags |= exec_flags::ARGS_TRUNCATED;
            diag::exec_args_truncated(ctx, rec.header.pid, total as u64);
        }
        let pos = cursor & TAIL_POS_MASK;
        // Re-derive the bound arithmetically right before the call: older
        // verifiers (6.1) forget a compare-derived bound once the value has
        // been spilled to the stack. For 1..=ARGS_MAX this is `want` itself.
        let size = (want.wrapping_sub(1) & (ARGS_MAX - 1)) + 1;
        if want == 0 {
            rec.args = Span { off: pos as u32, len: 0 };
        } else if bpf_probe_read_user(tail.add(pos).cast(), size as u32, arg_start as *const _) == 0
        {
            rec.args = Span { off: pos as u32, len: size as u32 };
            cursor = pos + size;
        } else {
            rec.flags |= exec_flags::ARGS_UNREADABLE;
            diag::exec_args_unreadable(ctx, rec.header.pid, arg_start);
        }
    }

    let mut size = size_of::<ExecRecord>() + cursor;
    if size > size_of::<ExecScratch>() {
        size = size_of::<ExecScratch>();
    }
    rec.header.size = size as u32;
    // SAFETY: `size` is bounded by the scratch value's size just above.
    let bytes =
        unsafe { core::slice::from_raw_parts((scratch as *const ExecScratch).cast::<u8>(), size) };
    EVENTS.output::<[u8]>(bytes, wakeup_flags()).map_err(|_| Error)
}

#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn palisade_fork(ctx: RawTracePointContext) -> u32 {
    match try_fork(&ctx) {
        Ok(()) => {}
        Err(_) => count_drop(kind::FORK),
    }
    0
}

fn try_fork(ctx: &RawTracePointContext) -> Result<(), Error> {
    // TP_PROTO(struct task_struct *parent, struct task_struct *child)
    let child: *const u8 = ctx.arg(1);
    // SAFETY: kernel reads at BTF offsets.
    let (tid, tgid, parent_pid, start_ns) = unsafe {
        let tid: u32 = read(child, off!(task_struct_pid))?;
        let tgid = task_tgid(child)?;
        let parent: *const u8 = read(child, off!(task_struct_real_parent))?;
        (tid, tgid, task_tgid(parent)?, read::<u64>(child, off!(task_struct_start_time))?)
    };
    // New threads share their process's identity: only new processes matter.
    if tid != tgid || is_agent(parent_pid) {
        return Ok(());
    }
    let mut rec = ForkRecord {
        header: header(kind::FORK, size_of::<ForkRecord>(), 0),
        parent_pid,
        _pad: 0,
        start_ns,
    };
    rec.header.pid = tgid;
    rec.header.tid = tid;
    EVENTS.output::<ForkRecord>(&rec, wakeup_flags()).map_err(|_| Error)
}

#[tracepoint(category = "sched", name = "sched_process_exit")]
pub fn palisade_exit(ctx: TracePointContext) -> u32 {
    let _ = ctx;
    if try_exit().is_err() {
        count_drop(kind::EXIT);
    }
    0
}

fn try_exit() -> Result<(), Error> {
    let pid_tgid = bpf_get_current_pid_tgid();
    if is_agent((pid_tgid >> 32) as u32) {
        return Ok(());
    }
    // SAFETY: no preconditions; the pointer is only read through probe reads.
    let task = unsafe { bpf_get_current_task() } as *const u8;
    // SAFETY: kernel reads at BTF offsets.
    let (live, exit_code, start_ns) = unsafe {
        let signal: *const u8 = read(task, off!(task_struct_signal))?;
        let live: i32 = read(signal, off!(signal_struct_live))?;
        let exit_code: u32 = read(task, off!(task_struct_exit_code))?;
        let leader: *const u8 = read(task, off!(task_struct_group_leader))?;
        (live, exit_code, read::<u64>(leader, off!(task_struct_start_time))?)
    };
    // do_exit() decrements signal->live before this tracepoint: zero means the
    // last thread of the process is leaving, so the process is gone.
    if live != 0 {
        return Ok(());
    }
    let rec = ExitRecord {
        header: header(kind::EXIT, size_of::<ExitRecord>(), pid_tgid),
        exit_code,
        _pad: 0,
        start_ns,
    };
    EVENTS.output::<ExitRecord>(&rec, wakeup_flags()).map_err(|_| Error)
}

/// BPF-LSM: denies an exec before it happens. Enforced matches only; the
/// exec tracepoint reports the others. Runs for the interpreter of a script
/// too (the kernel checks it again), so `#!/denied/binary` is denied as well.
#[lsm(hook = "bprm_check_security")]
pub fn palisade_bprm_check(ctx: LsmContext) -> i32 {
    // int bprm_check_security(struct linux_binprm *bprm), then the return
    // value of the LSM hooks before this one.
    let previous: i32 = ctx.arg(1);
    if previous != 0 {
        return previous;
    }
    let bprm: *const u8 = ctx.arg(0);
    // SAFETY: kernel reads at BTF offsets.
    let file = unsafe { read::<*const u8>(bprm, off!(linux_binprm_file)) };
    let Ok(file) = file else {
        diag::lsm_file_unreadable(&ctx, (bpf_get_current_pid_tgid() >> 32) as u32);
        return 0;
    };
    // The file being executed: for a script, the script itself (the hook
    // runs again for its interpreter).
    match file_verdict(file) {
        (Some(v), drift) if v.flags & verdict_flags::ENFORCE != 0 => {
            report_exec_denied(bprm, file, v, drift);
            -EPERM
        }
        _ => 0,
    }
}

fn report_exec_denied(bprm: *const u8, file: *const u8, mut verdict: Verdict, drift: u32) {
    let Some(mut entry) = EVENTS.reserve::<ExecDeniedRecord>(0) else {
        count_drop(kind::EXEC_DENIED);
        return;
    };
    let rec = entry.as_mut_ptr();
    verdict.flags |= verdict_flags::MATCHED;
    let pid_tgid = bpf_get_current_pid_tgid();
    // SAFETY: `rec` is the reserved record; kernel reads at BTF offsets; the
    // string reads stop inside their arrays.
    unsafe {
        (*rec).header = header(kind::EXEC_DENIED, size_of::<ExecDeniedRecord>(), pid_tgid);
        (*rec).verdict = verdict;
        (*rec).drift = drift;
        (*rec).filename[0] = 0;
        (*rec).name[0] = 0;
        let task = bpf_get_current_task() as *const u8;
        (*rec).start_ns = read(task, off!(task_struct_group_leader))
            .and_then(|leader: *const u8| read(leader, off!(task_struct_start_time)))
            .unwrap_or(0);
        let inode: Result<*const u8, Error> = read(file, off!(file_f_inode));
        (*rec).exe_ino = inode.and_then(|i| read(i, off!(inode_i_ino))).unwrap_or(0);
        (*rec).exe_dev = inode
            .and_then(|i| read::<*const u8>(i, off!(inode_i_sb)))
            .and_then(|sb| read(sb, off!(super_block_s_dev)))
            .unwrap_or(0);
        if let Ok(filename) = read::<*const u8>(bprm, off!(linux_binprm_filename)) {
            bpf_probe_read_kernel_str(
                (*rec).filename.as_mut_ptr().cast(),
                FILENAME_MAX as u32,
                filename.cast(),
            );
        }
        let name = read::<*const u8>(file.add(off!(file_f_path)), off!(path_dentry))
            .and_then(|d| read::<*const u8>(d.add(off!(dentry_d_name)), off!(qstr_name)));
        if let Ok(name) = name {
            bpf_probe_read_kernel_str(
                (*rec).name.as_mut_ptr().cast(),
                EXEC_NAME_LEN as u32,
                name.cast(),
            );
        }
    }
    // A denial is rare and urgent: wake the reader at once.
    entry.submit(u64::from(BPF_RB_FORCE_WAKEUP));
}

// Host builds (clippy over the workspace) get std's handler.
#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
