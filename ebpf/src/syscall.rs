//! A syscall tracepoint's record, read in place. The record is the
//! program's context, which the verifier lets a tracepoint program load
//! from directly at a constant offset; `TracePointContext::read_at` made a
//! `bpf_probe_read` call per field instead (about 55 ns each on a kernel
//! whose every return pays a mitigation thunk, more than the rest of the
//! socket tracepoint's run).

use aya_ebpf::{EbpfContext, programs::TracePointContext};
use palisade_common::offsets::SYSCALL_ARG0;

/// Argument `n` (a constant at every call: the verifier refuses a context
/// load at an offset it cannot see).
#[inline(always)]
pub fn arg(ctx: &TracePointContext, n: usize) -> u64 {
    load(ctx, SYSCALL_ARG0 + 8 * n)
}

/// A `sys_exit_*` tracepoint's return value.
#[inline(always)]
pub fn ret(ctx: &TracePointContext) -> i64 {
    load(ctx, SYSCALL_ARG0)
}

#[inline(always)]
fn load<T: Copy>(ctx: &TracePointContext, offset: usize) -> T {
    // SAFETY: an aligned slot inside the tracepoint's record (the context
    // is at least that long for every syscall tracepoint attached).
    unsafe { *ctx.as_ptr().cast::<u8>().add(offset).cast::<T>() }
}
