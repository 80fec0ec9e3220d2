//! TCP connection reporting from the `sock/inet_sock_set_state` tracepoint:
//! a connect (to SYN_SENT, in the caller's context), its outcome (SYN_SENT
//! to ESTABLISHED or CLOSE, with the source port, which the kernel picks
//! only after SYN_SENT), a listen (to LISTEN, in the caller's context) and an
//! accept (SYN_RECV to ESTABLISHED, in softirq context: no process).
//!
//! A connect a kernel rule denies never reaches SYN_SENT: the cgroup hook
//! reports it (see `net`). A connect matching a rule that only reports
//! (audit mode, alert rules) is looked up here and carries the verdict.

use aya_ebpf::{
    bindings::BPF_RB_FORCE_WAKEUP, helpers::bpf_get_current_pid_tgid, macros::tracepoint,
    programs::TracePointContext,
};
use core::mem::size_of;
use palisade_common::{
    NetRecord, SockStateFormat,
    enforce::{Verdict, verdict_flags},
    kind, net_hook, tcp_state,
};

use crate::{
    EVENTS, count_drop,
    enforce::{self, Destination},
    header,
    kernel::Error,
    wakeup_flags,
};

/// Set at load time from the tracepoint's format file.
#[unsafe(no_mangle)]
static SOCK_STATE_FORMAT: SockStateFormat = SockStateFormat::ZERO;

const AF_INET: u16 = 2;
const IPPROTO_TCP: u16 = 6;

#[tracepoint(category = "sock", name = "inet_sock_set_state")]
pub fn palisade_sock_state(ctx: TracePointContext) -> u32 {
    if try_sock_state(&ctx).is_err() {
        count_drop(kind::NET_CONNECT);
    }
    0
}

#[inline(always)]
fn field<T>(ctx: &TracePointContext, offset: u32) -> Result<T, Error> {
    // SAFETY: offsets come from the tracepoint's format file.
    unsafe { ctx.read_at::<T>(offset as usize) }.map_err(|_| Error)
}

fn try_sock_state(ctx: &TracePointContext) -> Result<(), Error> {
    // SAFETY: a read-only global, written once by the loader.
    let f = unsafe { core::ptr::read_volatile(&SOCK_STATE_FORMAT) };
    if field::<u16>(ctx, f.protocol)? != IPPROTO_TCP {
        return Ok(());
    }
    let old = field::<i32>(ctx, f.oldstate)? as u32;
    let new = field::<i32>(ctx, f.newstate)? as u32;
    let kind = match (old, new) {
        (_, tcp_state::SYN_SENT) => kind::NET_CONNECT,
        (tcp_state::SYN_SENT, tcp_state::ESTABLISHED | tcp_state::CLOSE) => kind::NET_RESULT,
        (_, tcp_state::LISTEN) => kind::NET_LISTEN,
        (tcp_state::SYN_RECV, tcp_state::ESTABLISHED) => kind::NET_ACCEPT,
        _ => return Ok(()),
    };
    // Results and accepts run in softirq context: whoever is current is not
    // the socket's owner, so no process is claimed.
    let in_process = matches!(kind, kind::NET_CONNECT | kind::NET_LISTEN);
    let pid_tgid = if in_process { bpf_get_current_pid_tgid() } else { 0 };
    let family: u16 = field(ctx, f.family)?;
    let (dport, sport): (u16, u16) = (field(ctx, f.dport)?, field(ctx, f.sport)?);
    let sock: u64 = field(ctx, f.skaddr)?;
    let mut daddr = [0u8; 16];
    let mut saddr = [0u8; 16];
    if family == AF_INET {
        daddr[..4].copy_from_slice(&field::<[u8; 4]>(ctx, f.daddr)?);
        saddr[..4].copy_from_slice(&field::<[u8; 4]>(ctx, f.saddr)?);
    } else {
        daddr = field(ctx, f.daddr_v6)?;
        saddr = field(ctx, f.saddr_v6)?;
    }
    let mut verdict = Verdict::default();
    if kind == kind::NET_CONNECT
        && let Some(v) = connect_verdict(family, dport, &daddr)
    {
        verdict = v;
        verdict.flags |= verdict_flags::MATCHED;
    }
    // Built in the ring buffer itself: the stack is too small for the
    // record beside the lookups.
    let Some(mut entry) = EVENTS.reserve::<NetRecord>(0) else { return Err(Error) };
    // SAFETY: the reserved record is ours until submitted.
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    *rec = NetRecord::default();
    rec.header = header(kind, size_of::<NetRecord>(), pid_tgid);
    if !in_process {
        rec.header.cgroup_id = 0;
    }
    rec.verdict = verdict;
    rec.family = family;
    rec.dport = dport;
    rec.sport = sport;
    rec.proto = IPPROTO_TCP as u8;
    rec.hook = net_hook::TCP_STATE;
    rec.tcp_state = new;
    rec.sock = sock;
    rec.daddr = daddr;
    rec.saddr = saddr;
    let flags = if verdict.flags != 0 { u64::from(BPF_RB_FORCE_WAKEUP) } else { wakeup_flags() };
    entry.submit(flags);
    Ok(())
}

/// The kernel rule a TCP destination matches (reported, not enforced: an
/// enforced one was denied in the cgroup hook before this point).
#[inline(always)]
fn connect_verdict(family: u16, dport: u16, a: &[u8; 16]) -> Option<Verdict> {
    let generation = enforce::active_generation();
    let caller = enforce::caller_profile(generation);
    let port = dport.to_be_bytes();
    let proto = IPPROTO_TCP as u8;
    let mapped = a[..10] == [0; 10] && a[10] == 0xff && a[11] == 0xff;
    if family == AF_INET || mapped {
        let off = if mapped { 12 } else { 0 };
        let addr = [a[off], a[off + 1], a[off + 2], a[off + 3]];
        enforce::net4_verdict(&Destination { proto, port, addr }, generation, caller)
    } else {
        enforce::net6_verdict(&Destination { proto, port, addr: *a }, generation, caller)
    }
}
