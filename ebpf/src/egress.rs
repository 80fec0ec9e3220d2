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
//!   every address its options (every 4-byte window) or its segment list
//!   carry.
//!
//! - **MPTCP subflows** the kernel's path manager opens by itself (to an
//!   address the peer announced) pass the connect hook from a kernel
//!   worker, judged by the worker's cgroup (the root's), not by the
//!   workload whose connection they serve: a SYN carrying the `MP_JOIN`
//!   option is judged here by its socket's cgroup, which the subflow
//!   inherits from the connection's socket.
//!
//! Every other packet (a TCP or UDP socket's, without options) leaves after
//! a check of its socket's type and state and one load of the header's
//! first bytes (a connecting TCP socket's SYN: two loads more): its destination was
//! judged at connect/send. Dropping a packet makes the send fail with
//! EPERM.
//! Not seen here: `AF_PACKET` sockets, which bypass the IP stack (BPF-LSM
//! `socket_create` would refuse them).

use aya_ebpf::{
    bindings::__sk_buff,
    helpers::{
        bpf_get_current_task,
        generated::{
            bpf_loop, bpf_sk_fullsock, bpf_skb_ancestor_cgroup_id, bpf_skb_cgroup_id,
            bpf_skb_load_bytes,
        },
    },
    macros::{cgroup_skb, map},
    maps::PerCpuArray,
    programs::SkBuffContext,
};
use core::ffi::c_void;
use palisade_common::{
    enforce::{Verdict, mechanism},
    net_hook, tcp_state,
};

use crate::{
    enforce::{self, Destination},
    kernel::{off, read},
    net::{self, AF_INET, AF_INET6, ALLOW, Attempt, DENY, IPPROTO_UDP, IPPROTO_UDPLITE, Sender},
};

const SOCK_STREAM: u32 = 1;
const SOCK_DGRAM: u32 = 2;
const IPPROTO_TCP: u8 = 6;
/// IPv6 extension headers walked to reach the routing header.
const NEXTHDR_HOP: u8 = 0;
const NEXTHDR_ROUTING: u8 = 43;
const NEXTHDR_DEST: u8 = 60;
/// TCP flags, and the MPTCP option whose `MP_JOIN` subtype (the high
/// nibble of its third byte) opens a subflow (RFC 8684).
const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;
const TCPOPT_EOL: u8 = 0;
const TCPOPT_NOP: u8 = 1;
const TCPOPT_MPTCP: u8 = 30;
const MPTCPOPT_MP_JOIN: u8 = 1;
/// Options walked in a SYN: a Linux SYN carries five before MP_JOIN.
const MAX_TCP_OPTIONS: usize = 12;
const MAX_TCP_OPTION_BYTES: usize = 40;
/// The length of `MP_JOIN` in a SYN: no shorter option list can hold it.
const MP_JOIN_SYN_LEN: usize = 12;
/// The segment routing header's routing type (RFC 8754).
const IPV6_SRCRT_TYPE_4: u8 = 4;
/// Bounds for the verifier: IPv4 options fit in 40 bytes; IPv6 chains and
/// segment lists longer than these are judged by what was read.
const MAX_OPTION_BYTES: usize = 40;
const MAX_EXT_HEADERS: usize = 4;
const MAX_SEGMENTS: usize = 4;
/// Addresses one packet is judged by: its destination, then each 4-byte
/// window of its IPv4 options or each segment of its IPv6 routing header.
const MAX_CANDIDATES: usize = 1 + MAX_OPTION_BYTES - 3;

/// The addresses of the packet being judged, kept off the stack (one per
/// CPU; a program run is not preempted).
#[map]
static EGRESS_SCRATCH: PerCpuArray<Candidates> = PerCpuArray::with_max_entries(1, 0);

/// What the judging loop reads and writes, and what the record needs.
#[repr(C)]
pub struct Candidates {
    /// IPv4: the destination, then the option bytes (windows overlap).
    v4: [u8; 4 + MAX_OPTION_BYTES],
    /// IPv6: the destination, then the segments.
    v6: [[u8; 16]; 1 + MAX_SEGMENTS],
    /// How many candidates there are; which family.
    count: u64,
    is_v6: u64,
    judged: Judged,
    /// 1 + the index of the first candidate a rule matched; 0 for none.
    hit: u64,
    /// The matched rule.
    verdict: Verdict,
    sender: Sender,
    /// Counts judgings on this CPU: a softirq sending a packet of its own
    /// (a reset, an ICMP error) can run this program in the middle of
    /// another run, on the same scratch value.
    seq: u64,
}

#[cgroup_skb(egress)]
pub fn palisade_egress(ctx: SkBuffContext) -> i32 {
    // Three calls, each with a frame of its own: 6.1 allows 512 bytes of
    // stack over a chain of calls, and the record alone takes most of that.
    let seq = prepare(&ctx);
    if seq == 0 {
        return ALLOW;
    }
    judge();
    let mut hit = judged_hit();
    if scratch_seq() != seq {
        // A nested run (see `Candidates::seq`) overwrote the scratch value
        // while this one was judging: judge again; if that is overwritten
        // too, refuse the packet rather than guess.
        let seq = prepare(&ctx);
        judge();
        hit = judged_hit();
        if seq == 0 || scratch_seq() != seq {
            return DENY;
        }
    }
    if hit { refuse() } else { ALLOW }
}

/// Runs the judging loop over the scratch value's candidates. Under
/// bpf_loop the verifier checks the lookups once; an open-coded loop makes
/// it check them again for each candidate (the 6.1 verifier then runs for
/// minutes). The callback finds the scratch value itself: bpf_loop hands
/// it only a pointer to this stack.
#[inline(always)]
fn judge() {
    let mut unused = 0u64;
    // SAFETY: `candidate` has the callback signature bpf_loop expects, and
    // its context outlives the call.
    unsafe {
        bpf_loop(
            MAX_CANDIDATES as u32,
            candidate as *mut c_void,
            (&mut unused as *mut u64).cast(),
            0,
        );
    }
}

/// The scratch value's judging count (0 when unreadable).
#[inline(always)]
fn scratch_seq() -> u64 {
    // SAFETY: a plain read of the scratch value, on this CPU.
    EGRESS_SCRATCH.get_ptr_mut(0).map_or(0, |c| unsafe { (*c).seq })
}

/// Fills the scratch value with the packet's candidates, what they are
/// judged with and who sent it. Returns the judging's count, 0 when the
/// packet needs no judging.
#[inline(never)]
fn prepare(ctx: &SkBuffContext) -> u64 {
    let skb = ctx.skb.skb;
    let kind = match socket_kind(skb) {
        Some(kind) => kind,
        // No full socket (a reply the stack makes for a request socket, a
        // time-wait socket's reset): nothing a process chose.
        None => return 0,
    };
    // The IP header's first bytes, in one load: a plain socket's packet
    // leaves on them, before the scratch value is claimed (every helper
    // call counts on the path every packet takes).
    let Some(head) = load_head::<[u8; 8]>(ctx, 0) else { return 0 };
    let version = head[0] >> 4;
    if (version != 4 && version != 6) || !needs_judging(ctx, kind, &head) {
        return 0;
    }
    let Some(c) = EGRESS_SCRATCH.get_ptr_mut(0) else { return 0 };
    // SAFETY: the map value is ours for the duration of this program run
    // (but see `Candidates::seq`).
    let c = unsafe { &mut *c };
    // Claimed before anything is written: a nested run that writes after
    // this moves the count on, and this run judges again.
    c.seq = c.seq.wrapping_add(1).max(1);
    let seq = c.seq;
    let found = if version == 4 { read4(ctx, head[0], c) } else { read6(ctx, head[6], c) };
    let Some((proto, port)) = found else { return 0 };
    let generation = enforce::active_generation();
    let (profile, sender) = socket_profile(ctx, generation);
    c.judged = Judged { proto: net::judged_as(proto), port, generation, profile };
    c.sender = sender;
    c.hit = 0;
    seq
}

/// A `T` at `offset` of the packet, read in place from its linear part
/// (direct packet access: the verifier checks the bounds test below), or
/// with `bpf_skb_load_bytes` when it lies beyond it. Every packet reads its
/// header's first bytes, and a helper call is dear where every return pays
/// a thunk.
#[inline(always)]
fn load_head<T: Copy>(ctx: &SkBuffContext, offset: usize) -> Option<T> {
    let skb = ctx.skb.skb;
    // SAFETY: the program's own context; cgroup skb programs may read
    // `data` and `data_end` (Linux 5.2 and later, with CAP_BPF).
    let (data, end) = unsafe { ((*skb).data as usize, (*skb).data_end as usize) };
    let at = data + offset;
    if at + size_of::<T>() <= end {
        // SAFETY: inside the packet's linear data, as just tested.
        return Some(unsafe { core::ptr::read_unaligned(at as *const T) });
    }
    ctx.load::<T>(offset).ok()
}

/// Whether a packet of a socket of `kind` whose IP header starts with
/// `head` (IPv4 or IPv6) is judged here: every packet of a raw or other
/// socket; a TCP or UDP socket's only with IPv4 options or IPv6 extension
/// headers, or when a connecting socket's SYN opens an MPTCP subflow.
#[inline(always)]
fn needs_judging(ctx: &SkBuffContext, kind: SocketKind, head: &[u8; 8]) -> bool {
    if kind == SocketKind::Other {
        return true;
    }
    if head[0] >> 4 == 4 {
        let header_len = usize::from(head[0] & 0x0f) * 4;
        header_len > 20 || (kind == SocketKind::Connecting && opens_subflow(ctx, header_len))
    } else {
        let next = head[6];
        !(next == IPPROTO_TCP || next == IPPROTO_UDP || next == IPPROTO_UDPLITE)
            || (kind == SocketKind::Connecting && next == IPPROTO_TCP && opens_subflow(ctx, 40))
    }
}

/// Whether the judging loop matched a candidate.
#[inline(always)]
fn judged_hit() -> bool {
    // SAFETY: a plain read of the scratch value, on this CPU.
    EGRESS_SCRATCH.get_ptr_mut(0).is_some_and(|c| unsafe { (*c).hit != 0 })
}

/// What the packet's socket says about judging it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SocketKind {
    /// A plain TCP or UDP socket: its destination was judged at
    /// connect/send.
    Plain,
    /// A TCP socket in SYN_SENT: plain, but its SYN may open an MPTCP
    /// subflow the path manager chose.
    Connecting,
    /// Raw, ICMP or anything else: every packet is judged.
    Other,
}

/// The kind of the packet's socket; None without a full socket.
#[inline(always)]
fn socket_kind(skb: *mut __sk_buff) -> Option<SocketKind> {
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
    let (ty, proto, state) = unsafe { ((*sk).type_, (*sk).protocol as u8, (*sk).state) };
    Some(if ty == SOCK_STREAM && proto == IPPROTO_TCP && state == tcp_state::SYN_SENT {
        SocketKind::Connecting
    } else if ty == SOCK_STREAM
        || (ty == SOCK_DGRAM && (proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE))
    {
        SocketKind::Plain
    } else {
        SocketKind::Other
    })
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

/// Whether the TCP segment at `at` opens an MPTCP subflow: a SYN without
/// ACK whose options carry `MP_JOIN`. Two loads; the options are walked on
/// the stack.
#[inline(always)]
fn opens_subflow(ctx: &SkBuffContext, at: usize) -> bool {
    let Some([offset, flags]) = load_head::<[u8; 2]>(ctx, at + 12) else { return false };
    if flags & (TCP_SYN | TCP_ACK) != TCP_SYN {
        return false;
    }
    // The header's length in words (at most 15, so the options at most 40
    // bytes: a bound the verifier can follow).
    let words = u32::from(offset >> 4);
    if words * 4 < 20 + MP_JOIN_SYN_LEN as u32 {
        return false;
    }
    let len = words * 4 - 20;
    // Zeroed in place by words (see `crate::clear`): past `len`, zeros read
    // as the end of the options.
    let mut slot = core::mem::MaybeUninit::<[u64; MAX_TCP_OPTION_BYTES / 8]>::uninit();
    // SAFETY: `clear` writes every byte; [u64; N] is 8 * N bytes.
    let options: &mut [u8; MAX_TCP_OPTION_BYTES] = unsafe {
        crate::clear(slot.as_mut_ptr());
        &mut *slot.as_mut_ptr().cast()
    };
    // SAFETY: the program's own context; the buffer holds `len` bytes.
    let loaded = unsafe {
        bpf_skb_load_bytes(
            ctx.skb.skb as *const c_void,
            (at + 20) as u32,
            options.as_mut_ptr().cast(),
            len,
        )
    };
    if loaded != 0 {
        return false;
    }
    let mut pos = 0;
    for _ in 0..MAX_TCP_OPTIONS {
        let (Some(&kind), Some(&size), Some(&subtype)) =
            (options.get(pos), options.get(pos + 1), options.get(pos + 2))
        else {
            break;
        };
        match kind {
            TCPOPT_EOL => break,
            TCPOPT_NOP => pos += 1,
            TCPOPT_MPTCP if subtype >> 4 == MPTCPOPT_MP_JOIN => return true,
            _ if size < 2 => break,
            _ => pos += usize::from(size),
        }
    }
    false
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

/// What every address of one packet is judged with.
#[repr(C)]
#[derive(Clone, Copy)]
struct Judged {
    proto: u8,
    port: [u8; 2],
    generation: u8,
    profile: u16,
}

/// Reads an IPv4 packet's candidates into `c` (`first` is its header's
/// first byte): its destination and, when it carries options, their
/// bytes. Returns its protocol and destination port; None when the header
/// cannot be read.
#[inline(always)]
fn read4(ctx: &SkBuffContext, first: u8, c: &mut Candidates) -> Option<(u8, [u8; 2])> {
    let header_len = usize::from(first & 0x0f) * 4;
    let proto = ctx.load::<u8>(9).ok()?;
    let frag = ctx.load::<[u8; 2]>(6).ok()?;
    let daddr = ctx.load::<[u8; 4]>(16).ok()?;
    c.is_v6 = 0;
    c.v4 = [0; 4 + MAX_OPTION_BYTES];
    c.v4[..4].copy_from_slice(&daddr);
    // The options are not parsed: every 4-byte window of them is judged as
    // an address, so a source route's hops are, wherever they sit. Bytes of
    // another option that spell a denied address deny the packet (more is
    // denied, never less); only packets with options pay for it.
    let mut count = 1;
    for word in 0..MAX_OPTION_BYTES / 4 {
        let at = 20 + word * 4;
        if at + 4 > header_len {
            break;
        }
        let bytes = ctx.load::<[u8; 4]>(at).unwrap_or([0; 4]);
        c.v4[4 + word * 4..8 + word * 4].copy_from_slice(&bytes);
        count = 1 + (word + 1) * 4 - 3;
    }
    c.count = count as u64;
    // Only the first fragment carries the transport header.
    let first_fragment = u16::from_be_bytes(frag) & 0x1fff == 0;
    Some((proto, if first_fragment { port_at(ctx, proto, header_len) } else { [0, 0] }))
}

/// As [`read4`], for IPv6 (`first_next` is the header's next-header
/// field): its destination and the segments of a segment routing header,
/// walking the extension headers to the transport.
#[inline(always)]
fn read6(ctx: &SkBuffContext, first_next: u8, c: &mut Candidates) -> Option<(u8, [u8; 2])> {
    let mut next = first_next;
    c.is_v6 = 1;
    c.v6 = [[0; 16]; 1 + MAX_SEGMENTS];
    c.v6[0] = ctx.load::<[u8; 16]>(24).ok()?;
    let mut count = 1;
    let mut at = 40;
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
            let segments = (usize::from(last_entry) + 1).min(MAX_SEGMENTS);
            for i in 0..MAX_SEGMENTS {
                if i >= segments {
                    break;
                }
                c.v6[1 + i] = ctx.load::<[u8; 16]>(at + 8 + i * 16).unwrap_or([0; 16]);
                count = 2 + i;
            }
        }
        next = following;
        at += (usize::from(len) + 1) * 8;
    }
    c.count = count as u64;
    Some((next, port_at(ctx, next, at)))
}

/// Judges candidate `index`. Returns 1 to stop the loop, 0 to go on.
extern "C" fn candidate(index: u64, _ctx: *mut c_void) -> i64 {
    let Some(c) = EGRESS_SCRATCH.get_ptr_mut(0) else { return 1 };
    // SAFETY: the map value `palisade_egress` filled, on this CPU, for the
    // duration of this program run.
    let c = unsafe { &mut *c };
    if index >= c.count {
        return 1;
    }
    let i = index as usize;
    let j = c.judged;
    let verdict = if c.is_v6 != 0 {
        match c.v6.get(i & 7) {
            Some(addr) => {
                let dst = Destination { proto: j.proto, port: j.port, addr: *addr };
                enforce::net6_verdict(&dst, j.generation, j.profile)
            }
            None => None,
        }
    } else {
        // Candidate 0 is the destination; candidate i > 0 the window at
        // option byte i - 1.
        let at = if i == 0 { 0 } else { (i + 3) & 63 };
        match c.v4.get(at..at + 4) {
            Some(a) => {
                let dst =
                    Destination { proto: j.proto, port: j.port, addr: [a[0], a[1], a[2], a[3]] };
                enforce::net4_verdict(&dst, j.generation, j.profile)
            }
            None => None,
        }
    };
    match verdict {
        Some(v) => {
            c.verdict = v;
            c.hit = index + 1;
            1
        }
        None => 0,
    }
}

/// Reports the matched packet from the scratch value and drops it when its
/// rule is enforced.
#[inline(never)]
fn refuse() -> i32 {
    let Some(c) = EGRESS_SCRATCH.get_ptr_mut(0) else { return ALLOW };
    // SAFETY: as in `palisade_egress`.
    let c = unsafe { &*c };
    let j = c.judged;
    let i = (c.hit as usize).wrapping_sub(1);
    let (family, addr) = if c.is_v6 != 0 {
        let Some(addr) = c.v6.get(i & 7) else { return ALLOW };
        (AF_INET6, *addr)
    } else {
        let at = if i == 0 { 0 } else { (i + 3) & 63 };
        let Some(a) = c.v4.get(at..at + 4) else { return ALLOW };
        (AF_INET, net::widen([a[0], a[1], a[2], a[3]]))
    };
    let (port, proto, hook, how) = (j.port, j.proto, net_hook::EGRESS, mechanism::CGROUP_SKB);
    let sender = c.sender;
    net::decide(Some(c.verdict), &Attempt { family, port, proto, hook, addr, sender, how })
}
