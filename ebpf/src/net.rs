//! Outbound network enforcement and UDP reporting: cgroup `connect4|6` (TCP
//! connects, UDP connects) and `sendmsg4|6` (unconnected UDP sends),
//! attached to the cgroup v2 root so they cover every process. They run in
//! the caller's context, so the verdict and the report are the caller's.
//! Returning 0 makes the syscall fail with EPERM.
//!
//! Reports: every UDP connect and send; a TCP connect only when a rule
//! denies it here (an allowed one is reported by the TCP state tracepoint,
//! which also learns its source port and outcome; see `sock`).

use aya_ebpf::{
    bindings::{BPF_RB_FORCE_WAKEUP, bpf_sock_addr},
    helpers::{bpf_get_current_cgroup_id, bpf_get_current_pid_tgid},
    macros::cgroup_sock_addr,
    programs::SockAddrContext,
};
use core::mem::size_of;
use palisade_common::{
    NetRecord,
    enforce::{Verdict, mechanism, verdict_flags},
    kind, net_hook,
};

use crate::{
    EVENTS, count_drop,
    enforce::{self, Destination},
    header_in,
};

pub(crate) const AF_INET: u16 = 2;
pub(crate) const AF_INET6: u16 = 10;
pub(crate) const ALLOW: i32 = 1;
pub(crate) const DENY: i32 = 0;
pub(crate) const IPPROTO_UDP: u8 = 17;
/// UDP-Lite (RFC 3828): UDP with partial checksums, a socket type of its
/// own; a rule naming `udp` must hold for it too, or it is a way around.
pub(crate) const IPPROTO_UDPLITE: u8 = 136;

/// The protocol the rules are looked up by: UDP-Lite is judged as UDP.
#[inline(always)]
pub(crate) fn judged_as(proto: u8) -> u8 {
    if proto == IPPROTO_UDPLITE { IPPROTO_UDP } else { proto }
}

#[cgroup_sock_addr(connect4)]
pub fn palisade_connect4(ctx: SockAddrContext) -> i32 {
    on_v4(&ctx, net_hook::CONNECT)
}

#[cgroup_sock_addr(sendmsg4)]
pub fn palisade_sendmsg4(ctx: SockAddrContext) -> i32 {
    on_v4(&ctx, net_hook::SENDMSG)
}

#[cgroup_sock_addr(connect6)]
pub fn palisade_connect6(ctx: SockAddrContext) -> i32 {
    on_v6(&ctx, net_hook::CONNECT)
}

#[cgroup_sock_addr(sendmsg6)]
pub fn palisade_sendmsg6(ctx: SockAddrContext) -> i32 {
    on_v6(&ctx, net_hook::SENDMSG)
}

#[inline(always)]
fn sock_addr(ctx: &SockAddrContext) -> &bpf_sock_addr {
    // SAFETY: the kernel hands every sock_addr program a valid context.
    unsafe { &*ctx.sock_addr }
}

#[inline(always)]
fn port_of(sa: &bpf_sock_addr) -> [u8; 2] {
    // The port sits in the low 16 bits, in network byte order.
    (sa.user_port as u16).to_ne_bytes()
}

fn on_v4(ctx: &SockAddrContext, hook: u8) -> i32 {
    let sa = sock_addr(ctx);
    let dst = Destination {
        proto: judged_as(sa.protocol as u8),
        port: port_of(sa),
        addr: sa.user_ip4.to_ne_bytes(),
    };
    let generation = enforce::active_generation();
    let verdict = enforce::net4_verdict(&dst, generation, enforce::caller_profile(generation));
    let attempt = Attempt::hooked(AF_INET, dst.port, dst.proto, hook, widen(dst.addr));
    decide(verdict, &attempt)
}

fn on_v6(ctx: &SockAddrContext, hook: u8) -> i32 {
    let sa = sock_addr(ctx);
    let mut addr = [0u8; 16];
    for (i, word) in sa.user_ip6.iter().enumerate() {
        addr[i * 4..i * 4 + 4].copy_from_slice(&word.to_ne_bytes());
    }
    let (proto, port) = (judged_as(sa.protocol as u8), port_of(sa));
    let generation = enforce::active_generation();
    let caller = enforce::caller_profile(generation);
    // A dual-stack socket reaches IPv4 through an IPv4-mapped address
    // (::ffff:a.b.c.d): judge it by the IPv4 rules, or they are bypassed.
    let verdict = if addr[..10] == [0; 10] && addr[10] == 0xff && addr[11] == 0xff {
        let v4 = [addr[12], addr[13], addr[14], addr[15]];
        enforce::net4_verdict(&Destination { proto, port, addr: v4 }, generation, caller)
    } else {
        enforce::net6_verdict(&Destination { proto, port, addr }, generation, caller)
    };
    decide(verdict, &Attempt::hooked(AF_INET6, port, proto, hook, addr))
}

/// An IPv4 address in a 16-byte field, zero-padded. Made in registers: a
/// zeroed array is a byte-loop `memset` call (see `crate::clear`).
#[inline(always)]
pub(crate) fn widen(v4: [u8; 4]) -> [u8; 16] {
    u128::from(u32::from_le_bytes(v4)).to_le_bytes()
}

/// Who a network record is about.
#[derive(Clone, Copy)]
pub(crate) struct Sender {
    /// 0 when not known (a packet sent outside its process's context).
    pub pid_tgid: u64,
    pub cgroup_id: u64,
}

/// What a network hook saw, and how it would refuse it.
pub(crate) struct Attempt {
    pub family: u16,
    /// Network byte order.
    pub port: [u8; 2],
    pub proto: u8,
    /// One of [`net_hook`].
    pub hook: u8,
    pub addr: [u8; 16],
    pub sender: Sender,
    /// The [`mechanism`] that refuses it.
    pub how: u32,
}

impl Attempt {
    /// An attempt seen by a sock_addr hook, in its caller's context.
    #[inline(always)]
    fn hooked(family: u16, port: [u8; 2], proto: u8, hook: u8, addr: [u8; 16]) -> Self {
        let sender = Sender {
            pid_tgid: bpf_get_current_pid_tgid(),
            // SAFETY: no preconditions.
            cgroup_id: unsafe { bpf_get_current_cgroup_id() },
        };
        Attempt { family, port, proto, hook, addr, sender, how: mechanism::CGROUP_SOCK_ADDR }
    }
}

/// Reports the attempt (see the module doc) and denies it when a matching
/// rule is enforced.
#[inline(always)]
pub(crate) fn decide(verdict: Option<Verdict>, attempt: &Attempt) -> i32 {
    let mut verdict = verdict.unwrap_or_default();
    let matched = verdict.flags != 0;
    if matched {
        verdict.flags |= verdict_flags::MATCHED;
    }
    let enforced = matched && verdict.flags & verdict_flags::ENFORCE != 0;
    // Egress records come only for matched packets (see `egress`).
    if attempt.proto == IPPROTO_UDP || enforced || attempt.hook == net_hook::EGRESS {
        // Built in the ring buffer itself: the stack is too small for the
        // record beside the lookups.
        match EVENTS.reserve::<NetRecord>(0) {
            Some(mut entry) => {
                // SAFETY: the reserved record is ours until submitted.
                let rec = unsafe { &mut *entry.as_mut_ptr() };
                let Sender { pid_tgid, cgroup_id } = attempt.sender;
                let size = size_of::<NetRecord>();
                // Every field written, not zeroed first (see `crate::clear`).
                *rec = NetRecord {
                    header: header_in(kind::NET_CONNECT, size, pid_tgid, cgroup_id),
                    verdict,
                    family: attempt.family,
                    dport: u16::from_be_bytes(attempt.port),
                    sport: 0,
                    proto: attempt.proto,
                    hook: attempt.hook,
                    mechanism: if enforced { attempt.how } else { mechanism::NONE },
                    tcp_state: 0,
                    sock: 0,
                    daddr: attempt.addr,
                    saddr: widen([0; 4]),
                };
                let flags =
                    if matched { u64::from(BPF_RB_FORCE_WAKEUP) } else { crate::wakeup_flags() };
                entry.submit(flags);
            }
            None => count_drop(kind::NET_CONNECT),
        }
    }
    if enforced { DENY } else { ALLOW }
}
