//! TCP connection reporting from the `inet_sock_set_state` tracepoint, as a
//! raw tracepoint (the socket read at BTF offsets; the classic tracepoint
//! copied every field into a record first, and each read of it was a helper
//! call): a connect (to SYN_SENT, in the caller's context), its outcome (SYN_SENT
//! to ESTABLISHED or CLOSE, with the source port, which the kernel picks
//! only after SYN_SENT), a listen (to LISTEN, in the caller's context) and an
//! accept (SYN_RECV to ESTABLISHED, in softirq context: no process).
//!
//! A connect a kernel rule denies never reaches SYN_SENT: the cgroup hook
//! reports it (see `net`). A connect matching a rule that only reports
//! (audit mode, alert rules) is looked up here and carries the verdict.

use aya_ebpf::{
    bindings::BPF_RB_FORCE_WAKEUP,
    helpers::{bpf_get_current_cgroup_id, bpf_get_current_pid_tgid},
    macros::raw_tracepoint,
    programs::RawTracePointContext,
};
use core::mem::size_of;
use palisade_common::{
    NetRecord, SockCommonHead, SockV6Addrs,
    enforce::{Verdict, mechanism, verdict_flags},
    kind, net_hook, tcp_state,
};

use crate::{
    EVENTS, count_drop,
    enforce::{self, Destination},
    header_in,
    kernel::{Error, off, read},
    net::widen,
    wakeup_flags,
};

const AF_INET: u16 = 2;
const IPPROTO_TCP: u16 = 6;

#[raw_tracepoint(tracepoint = "inet_sock_set_state")]
pub fn palisade_sock_state(ctx: RawTracePointContext) -> i32 {
    if try_sock_state(&ctx).is_err() {
        count_drop(kind::NET_CONNECT);
    }
    0
}

fn try_sock_state(ctx: &RawTracePointContext) -> Result<(), Error> {
    // TP_PROTO(const struct sock *sk, const int oldstate, const int newstate).
    // The states are loads from the context: the transitions that make no
    // record (half of a connection's) leave without a helper call.
    let old = ctx.arg::<u64>(1) as u32;
    let new = ctx.arg::<u64>(2) as u32;
    let kind = match (old, new) {
        (_, tcp_state::SYN_SENT) => kind::NET_CONNECT,
        (tcp_state::SYN_SENT, tcp_state::ESTABLISHED | tcp_state::CLOSE) => kind::NET_RESULT,
        (_, tcp_state::LISTEN) => kind::NET_LISTEN,
        (tcp_state::SYN_RECV, tcp_state::ESTABLISHED) => kind::NET_ACCEPT,
        _ => return Ok(()),
    };
    let sk: *const u8 = ctx.arg(0);
    // SAFETY: `sk` is the tracepoint's socket; kernel reads at BTF offsets,
    // each block in one read (the loader checked its layout): a helper
    // call per field was most of this program's time.
    let (family, dport, sport, daddr, saddr) = unsafe {
        // MPTCP's own socket passes here too: TCP's subflows only.
        if read::<u16>(sk, off!(sock_sk_protocol))? != IPPROTO_TCP {
            return Ok(());
        }
        let head: SockCommonHead = read(sk, off!(sock_common_skc_daddr))?;
        let (daddr, saddr) = if head.family == AF_INET {
            (widen(head.daddr), widen(head.rcv_saddr))
        } else {
            let v6: SockV6Addrs = read(sk, off!(sock_common_skc_v6_daddr))?;
            (v6.daddr, v6.rcv_saddr)
        };
        (head.family, u16::from_be(head.dport), head.num, daddr, saddr)
    };
    // Results and accepts run in softirq context: whoever is current is not
    // the socket's owner, so no process is claimed.
    let in_process = matches!(kind, kind::NET_CONNECT | kind::NET_LISTEN);
    let pid_tgid = if in_process { bpf_get_current_pid_tgid() } else { 0 };
    let sock = sk as u64;
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
    // SAFETY: no preconditions (asked only where the task is the owner).
    let cgroup_id = if in_process { unsafe { bpf_get_current_cgroup_id() } } else { 0 };
    let header = header_in(kind, size_of::<NetRecord>(), pid_tgid, cgroup_id);
    // Every field written, rather than the record zeroed first: a zeroing
    // is a byte-loop `memset` call (see `crate::clear`).
    *rec = NetRecord {
        header,
        verdict,
        family,
        dport,
        sport,
        proto: IPPROTO_TCP as u8,
        hook: net_hook::TCP_STATE,
        mechanism: mechanism::NONE,
        tcp_state: new,
        sock,
        daddr,
        saddr,
    };
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
