//! What the programs have to say to the agent's log (aya-log): where a
//! kernel read failed, and where a bound the verifier needs cut something
//! short. The agent forwards these into its own log (`palisade::kernel::log`).
//!
//! Off unless the agent's log filter asks for them: the level is a
//! read-only global (`AYA_LOG_LEVEL`) the agent sets at load, so with
//! logging off the verifier sees every branch below as dead and drops it;
//! it costs no instruction at run time. Each site is a function of its own
//! (never inlined), so the record it builds sits in its own small stack
//! frame, not in the exec program's, which the path walk already fills
//! close to the verifier's 512 bytes.

use aya_ebpf::EbpfContext;
use aya_log_ebpf::{debug, warn};
use palisade_common::ARGS_MAX;

/// argv was longer than one copy may be (`ARGS_MAX`, a bound the verifier
/// needs): the record holds its start and says `args_truncated`.
#[inline(never)]
pub fn exec_args_truncated<C: EbpfContext>(ctx: &C, pid: u32, total: u64) {
    debug!(
        ctx,
        "exec tracepoint: pid {}: argv of {} bytes cut to its first {} (ARGS_MAX)",
        pid,
        total,
        ARGS_MAX as u64
    );
}

/// `bpf_probe_read_user` of argv failed: the record says `args_unreadable`.
#[inline(never)]
pub fn exec_args_unreadable<C: EbpfContext>(ctx: &C, pid: u32, start: u64) {
    warn!(
        ctx,
        "exec tracepoint: pid {}: cannot read argv at {:x} (bpf_probe_read_user)", pid, start
    );
}

/// The new executable's `struct file` could not be read (`task->mm->exe_file`):
/// no exec rule was looked up for this exec.
#[inline(never)]
pub fn exec_file_unreadable<C: EbpfContext>(ctx: &C, pid: u32) {
    warn!(
        ctx,
        "exec tracepoint: pid {}: cannot read task->mm->exe_file; no exec rule checked", pid
    );
}

/// `bprm->file` could not be read in the LSM hook: the exec is let through
/// (the exec tracepoint still reports it, and kills it if a rule says so).
#[inline(never)]
pub fn lsm_file_unreadable<C: EbpfContext>(ctx: &C, pid: u32) {
    warn!(ctx, "bprm_check_security: pid {}: cannot read bprm->file; exec allowed", pid);
}
