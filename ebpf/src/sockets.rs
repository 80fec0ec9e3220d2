//! Socket families a kernel rule denies (`kernel.socket.families`): a
//! packet socket writes whole frames below the IP stack, where neither the
//! cgroup connect hooks nor the egress program see them, so the only place
//! to hold a rule is the socket's creation.
//!
//! With BPF-LSM, `socket_create` refuses the socket (EPERM, nothing is
//! created). Without it, the `sys_enter_socket` tracepoint sends SIGKILL:
//! the kernel still creates the socket, but the caller's whole thread
//! group is dying before the call returns, so no code of it ever holds the
//! descriptor. Only families a rule may name cost a lookup: every TCP and
//! UDP socket passes after one comparison.

use aya_ebpf::{
    bindings::BPF_RB_FORCE_WAKEUP,
    helpers::{bpf_get_current_pid_tgid, generated::bpf_send_signal},
    macros::{lsm, map, tracepoint},
    maps::HashMap,
    programs::{LsmContext, TracePointContext},
};
use core::mem::size_of;
use palisade_common::{
    SocketRecord,
    enforce::{ENFORCE_MAP_ENTRIES, SocketKey, Verdict, mechanism, socket_family, verdict_flags},
    kind,
};

use crate::{EPERM, EVENTS, SIGKILL, count_drop, enforce, header, syscall};

/// (generation, profile, family) -> the rule denying that family there.
#[map]
pub static SOCKET_DENY: HashMap<SocketKey, Verdict> = HashMap::pinned(ENFORCE_MAP_ENTRIES, 0);

/// A socket asked for.
struct Request {
    family: u32,
    sock_type: u32,
    protocol: u32,
}

/// The rule denying `family` in the caller's profile, if any.
#[inline(always)]
fn verdict(family: u32) -> Option<Verdict> {
    if !socket_family::deniable(family) {
        return None;
    }
    let generation = enforce::active_generation();
    let key = SocketKey {
        generation,
        _pad: 0,
        profile: enforce::caller_profile(generation),
        family: family as u16,
        _pad2: 0,
    };
    // SAFETY: the value is copied out at once.
    unsafe { SOCKET_DENY.get(key) }.copied()
}

/// BPF-LSM: refuses a denied family before the socket exists. Sockets the
/// kernel makes for itself (`kern`) are not the caller's.
#[lsm(hook = "socket_create")]
pub fn palisade_socket_lsm(ctx: LsmContext) -> i32 {
    // int socket_create(int family, int type, int protocol, int kern), then
    // the return value of the LSM hooks before this one.
    let previous: i32 = ctx.arg(4);
    if previous != 0 {
        return previous;
    }
    let kern: i32 = ctx.arg(3);
    let family: i32 = ctx.arg(0);
    if kern != 0 {
        return 0;
    }
    let Some(v) = verdict(family as u32) else { return 0 };
    let sock_type: i32 = ctx.arg(1);
    let protocol: i32 = ctx.arg(2);
    let request =
        Request { family: family as u32, sock_type: sock_type as u32, protocol: protocol as u32 };
    if v.flags & verdict_flags::ENFORCE != 0 {
        report(&request, v, mechanism::BPF_LSM);
        -EPERM
    } else {
        report(&request, v, mechanism::NONE);
        0
    }
}

/// Where BPF-LSM does not run (the loader attaches one of the two): kills
/// the caller of a denied family at the call's entry (see the module's
/// comment for what that leaves).
#[tracepoint(category = "syscalls", name = "sys_enter_socket")]
pub fn palisade_socket_enter(ctx: TracePointContext) -> u32 {
    let arg = |n: usize| syscall::arg(&ctx, n) as u32;
    let (family, sock_type) = (arg(0), arg(1));
    let family = socket_family::effective(family, sock_type);
    let Some(v) = verdict(family) else { return 0 };
    let request = Request { family, sock_type, protocol: arg(2) };
    let acted = v.flags & verdict_flags::ENFORCE != 0
        // SAFETY: signals the current process; no memory is touched.
        && unsafe { bpf_send_signal(SIGKILL) } == 0;
    report(&request, v, if acted { mechanism::SIGKILL_AT_SYSCALL } else { mechanism::NONE });
    0
}

fn report(request: &Request, mut verdict: Verdict, how: u32) {
    verdict.flags |= verdict_flags::MATCHED;
    let rec = SocketRecord {
        header: header(kind::NET_SOCKET, size_of::<SocketRecord>(), bpf_get_current_pid_tgid()),
        verdict,
        family: request.family,
        sock_type: request.sock_type & socket_family::SOCK_TYPE_MASK,
        protocol: request.protocol,
        mechanism: how,
    };
    // Rare and urgent, like a denied exec: wake the reader at once.
    if EVENTS.output::<SocketRecord>(&rec, u64::from(BPF_RB_FORCE_WAKEUP)).is_err() {
        count_drop(kind::NET_SOCKET);
    }
}
