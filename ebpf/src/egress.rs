//! The packet's real destination, for what the sock_addr hooks cannot see:
//! a cgroup `skb/egress` program at the cgroup v2 root.
//!
//! - **Raw and ICMP sockets** (`SOCK_RAW`, with or without `IP_HDRINCL`;
//!   ping sockets) never pass `connect4|6`/`sendmsg4|6`: each of their
//!   packets is judged here by its destination address, protocol and, for
//!   TCP/UDP headers written by hand, destination port.
//! - **Source routing** on ordinary TCP/UDP sockets (IPv4 loose/strict
//!   source route options, an IPv6 segment routing header) sends the packet
//!   to hops other than the address the hook judged: a packet carrying IP
//!   options or IPv6 extension headers is judged by its destination and by
//!   every hop of its route.
//!
//! Every other packet (a TCP or UDP socket's, without options) leaves after
//! a socket-type check and one header byte: its destination was judged at
//! connect/send. Dropping a packet makes the send fail with EPERM.
//! Not seen here: `AF_PACKET` sockets, which bypass the IP stack (BPF-LSM
//! `socket_create` would refuse them).

use aya_ebpf::{
    bindings::__sk_buff,
    helpers::{
        bpf_get_current_task,
        generated::{bpf_sk_fullsock, bpf_skb_ancestor_cgroup_id, bpf_skb_cgroup_id},
    },
    macros::cgroup_skb,
    programs::SkBuffContext,
};
use palisade_common::{
    enforce::{Verdict, mechanism},
    net_hook,
};

use crate::{
    enforce::{self, Destination},
    kernel::{off, read},
    net::{self, AF_INET, AF_INET6, ALLOW, Attempt, IPPROTO_UDP, IPPROTO_UDPLITE, Sender},
};

const SOCK_STREAM: u32 = 1;
const SOCK_DGRAM: u32 = 2;
const IPPROTO_TCP: u8 = 6;
/// IPv4 options: end of list, no-op, loose and strict source route.
const IPOPT_END: u8 = 0;
const IPOPT_NOOP: u8 = 1;
const IPOPT_LSRR: u8 = 0x83;
const IPOPT_SSRR: u8 = 0x89;
/// IPv6 extension headers walked to reach the routing header.
const NEXTHDR_HOP: u8 = 0;
const NEXTHDR_ROUTING: u8 = 43;
const NEXTHDR_DEST: u8 = 60;
/// The segment routing header's routing type (RFC 8754).
const IPV6_SRCRT_TYPE_4: u8 = 4;
/// Bounds for the verifier: IPv4 options fit in 40 bytes (at most 9 route
/// addresses); IPv6 chains and segment lists longer than these are judged
/// by what was read.
const MAX_OPTIONS: usize = 10;
const MAX_ROUTE_HOPS: usize = 9;
const MAX_EXT_HEADERS: usize = 4;
const MAX_SEGMENTS: usize = 8;

#[cgroup_skb(egress)]
pub fn palisade_egress(ctx: SkBuffContext) -> i32 {
    let skb = ctx.skb.skb;
    let plain = match socket_kind(skb) {
        Some(plain) => plain,
        // No full socket (a reply the stack makes for a request socket, a
        // time-wait socket's reset): nothing a process chose.
        None => return ALLOW,
    };
    match ctx.load::<u8>(0).map(|b| b >> 4) {
        Ok(4) => egress4(&ctx, plain),
        Ok(6) => egress6(&ctx, plain),
        _ => ALLOW,
    }
}

/// Whether the packet's socket is a plain TCP or UDP one (already judged at
/// connect/send); None without a full socket.
#[inline(always)]
fn socket_kind(skb: *mut __sk_buff) -> Option<bool> {
    // SAFETY: the context's socket pointer, which the verifier knows may be
    // NULL; it is checked before use.
    let sk = unsafe { (*skb).__bindgen_anon_2.sk };
    if sk.is_null() {
        return None;
    }
    // SAFETY: a socket pointer from the context.
    let sk = unsafe { bpf_sk_fullsock(sk) };
    if sk.is_null() {
        return None;
    }
    // SAFETY: a full socket the helper returned.
    let (ty, proto) = unsafe { ((*sk).type_, (*sk).protocol as u8) };
    Some(
        ty == SOCK_STREAM
            || (ty == SOCK_DGRAM && (proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE)),
    )
}

/// The profile of the packet's socket: its cgroup's (a socket keeps the
/// cgroup it was made in, whoever sends on it), and who sent it.
///
/// cgroup skb programs on 6.1 have no current-cgroup or pid helpers; the
/// sender is read from the current task. A raw socket's packets and a
/// source-routed datagram leave in the sender's `sendmsg`, so that is the
/// sender; a packet the kernel sends itself from softirq (a reset, an ICMP
/// error) names whichever task it interrupted.
#[inline(always)]
fn socket_profile(ctx: &SkBuffContext, generation: u8) -> (u16, Sender) {
    let skb = ctx.skb.skb;
    // SAFETY: the program's own context.
    let own = unsafe { bpf_skb_cgroup_id(skb) };
    // SAFETY: as above.
    let ancestor = |level| unsafe { bpf_skb_ancestor_cgroup_id(skb, level) };
    let profile = enforce::registered_profile(generation, own, ancestor)
        .unwrap_or_else(enforce::by_pid_namespace);
    (profile, Sender { pid_tgid: current_pid_tgid(), cgroup_id: own })
}

/// `bpf_get_current_pid_tgid`, read from the current task.
#[inline(always)]
fn current_pid_tgid() -> u64 {
    // SAFETY: no preconditions; the pointer is only read through probe reads.
    let task = unsafe { bpf_get_current_task() } as *const u8;
    // SAFETY: kernel reads at BTF offsets.
    let (pid, tgid) = unsafe {
        (read::<u32>(task, off!(task_struct_pid)), read::<u32>(task, off!(task_struct_tgid)))
    };
    match (pid, tgid) {
        (Ok(pid), Ok(tgid)) => (u64::from(tgid) << 32) | u64::from(pid),
        _ => 0,
    }
}

/// The transport's destination port for TCP and UDP headers at `at`.
#[inline(always)]
fn port_at(ctx: &SkBuffContext, proto: u8, at: usize) -> [u8; 2] {
    if proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE {
        ctx.load::<[u8; 2]>(at + 2).unwrap_or([0, 0])
    } else {
        [0, 0]
    }
}

/// What every address of one packet is judged with, packed into one
/// argument (BPF functions take at most five).
#[derive(Clone, Copy)]
struct Judged {
    proto: u8,
    port: [u8; 2],
    generation: u8,
    profile: u16,
}

impl Judged {
    #[inline(always)]
    fn pack(self) -> u64 {
        u64::from(self.proto)
            | u64::from(u16::from_ne_bytes(self.port)) << 8
            | u64::from(self.generation) << 24
            | u64::from(self.profile) << 32
    }

    #[inline(always)]
    fn unpack(v: u64) -> Self {
        Judged {
            proto: v as u8,
            port: ((v >> 8) as u16).to_ne_bytes(),
            generation: (v >> 24) as u8,
            profile: (v >> 32) as u16,
        }
    }
}

/// Whether a rule matches the IPv4 address `addr` (a function of its own:
/// a route's hops each call it, and its lookups keep their own frame).
#[inline(never)]
fn matches4(addr: u32, judged: u64) -> bool {
    let j = Judged::unpack(judged);
    let dst = Destination { proto: j.proto, port: j.port, addr: addr.to_ne_bytes() };
    enforce::net4_verdict(&dst, j.generation, j.profile).is_some()
}

/// As [`matches4`], for IPv6.
#[inline(never)]
fn matches6(addr: &[u8; 16], judged: u64) -> bool {
    let j = Judged::unpack(judged);
    let dst = Destination { proto: j.proto, port: j.port, addr: *addr };
    enforce::net6_verdict(&dst, j.generation, j.profile).is_some()
}

#[inline(never)]
fn egress4(ctx: &SkBuffContext, plain: bool) -> i32 {
    let Ok(first) = ctx.load::<u8>(0) else { return ALLOW };
    let header_len = usize::from(first & 0x0f) * 4;
    if plain && header_len <= 20 {
        return ALLOW;
    }
    let (Ok(proto), Ok(frag), Ok(daddr)) =
        (ctx.load::<u8>(9), ctx.load::<[u8; 2]>(6), ctx.load::<[u8; 4]>(16))
    else {
        return ALLOW;
    };
    // Only the first fragment carries the transport header.
    let first_fragment = u16::from_be_bytes(frag) & 0x1fff == 0;
    let port = if first_fragment { port_at(ctx, proto, header_len) } else { [0, 0] };
    let generation = enforce::active_generation();
    let (profile, sender) = socket_profile(ctx, generation);
    let j = Judged { proto: net::judged_as(proto), port, generation, profile };
    if matches4(u32::from_ne_bytes(daddr), j.pack()) {
        return refuse4(daddr, j, sender);
    }
    // Every hop of a source route: find the option (no lookups in this
    // loop, so the verifier's work stays linear), then judge its hops.
    let (route, route_len) = source_route(ctx, header_len);
    for hop in 0..MAX_ROUTE_HOPS {
        let off = 3 + hop * 4;
        if route == 0 || off + 4 > route_len {
            break;
        }
        if let Ok(addr) = ctx.load::<[u8; 4]>(route + off)
            && matches4(u32::from_ne_bytes(addr), j.pack())
        {
            return refuse4(addr, j, sender);
        }
    }
    ALLOW
}

/// Where an IPv4 loose or strict source route option starts, and its
/// length; (0, 0) when the header has none.
#[inline(always)]
fn source_route(ctx: &SkBuffContext, header_len: usize) -> (usize, usize) {
    let mut at = 20;
    for _ in 0..MAX_OPTIONS {
        if at >= header_len {
            break;
        }
        let Ok(kind) = ctx.load::<u8>(at) else { break };
        if kind == IPOPT_END {
            break;
        }
        if kind == IPOPT_NOOP {
            at += 1;
            continue;
        }
        let Ok(len) = ctx.load::<u8>(at + 1) else { break };
        let len = usize::from(len);
        if len < 2 {
            break;
        }
        if kind == IPOPT_LSRR || kind == IPOPT_SSRR {
            return (at, len);
        }
        at += len;
    }
    (0, 0)
}

#[inline(never)]
fn refuse4(addr: [u8; 4], j: Judged, sender: Sender) -> i32 {
    let dst = Destination { proto: j.proto, port: j.port, addr };
    let verdict = enforce::net4_verdict(&dst, j.generation, j.profile);
    refuse(verdict, AF_INET, j, net::widen(addr), sender)
}

#[inline(never)]
fn egress6(ctx: &SkBuffContext, plain: bool) -> i32 {
    let (Ok(mut next), Ok(daddr)) = (ctx.load::<u8>(6), ctx.load::<[u8; 16]>(24)) else {
        return ALLOW;
    };
    if plain && (next == IPPROTO_TCP || next == IPPROTO_UDP || next == IPPROTO_UDPLITE) {
        return ALLOW;
    }
    // Walk the extension headers to the transport, noting a segment list.
    let mut at = 40;
    let mut segments_at = 0;
    let mut segments = 0;
    for _ in 0..MAX_EXT_HEADERS {
        if next != NEXTHDR_HOP && next != NEXTHDR_ROUTING && next != NEXTHDR_DEST {
            break;
        }
        let (Ok(following), Ok(len)) = (ctx.load::<u8>(at), ctx.load::<u8>(at + 1)) else {
            break;
        };
        if next == NEXTHDR_ROUTING
            && ctx.load::<u8>(at + 2) == Ok(IPV6_SRCRT_TYPE_4)
            && let Ok(last_entry) = ctx.load::<u8>(at + 4)
        {
            segments_at = at + 8;
            segments = usize::from(last_entry) + 1;
        }
        next = following;
        at += (usize::from(len) + 1) * 8;
    }
    let generation = enforce::active_generation();
    let (profile, sender) = socket_profile(ctx, generation);
    let j =
        Judged { proto: net::judged_as(next), port: port_at(ctx, next, at), generation, profile };
    if matches6(&daddr, j.pack()) {
        return refuse6(&daddr, j, sender);
    }
    for i in 0..MAX_SEGMENTS {
        if i >= segments {
            break;
        }
        if let Ok(addr) = ctx.load::<[u8; 16]>(segments_at + i * 16)
            && matches6(&addr, j.pack())
        {
            return refuse6(&addr, j, sender);
        }
    }
    ALLOW
}

#[inline(never)]
fn refuse6(addr: &[u8; 16], j: Judged, sender: Sender) -> i32 {
    let dst = Destination { proto: j.proto, port: j.port, addr: *addr };
    let verdict = enforce::net6_verdict(&dst, j.generation, j.profile);
    refuse(verdict, AF_INET6, j, *addr, sender)
}

/// Reports a matched packet and drops it when its rule is enforced.
#[inline(always)]
fn refuse(verdict: Option<Verdict>, family: u16, j: Judged, addr: [u8; 16], sender: Sender) -> i32 {
    let (port, proto, hook, how) = (j.port, j.proto, net_hook::EGRESS, mechanism::CGROUP_SKB);
    net::decide(verdict, &Attempt { family, port, proto, hook, addr, sender, how })
}
