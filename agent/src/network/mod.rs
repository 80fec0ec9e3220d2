//! Turning network records into events: a TCP connect waits briefly for its
//! outcome (which brings the source port), an accept is attributed to the
//! process listening on its port, and identical attempts (connects to one
//! destination, accepts from one peer on one port) are folded into one
//! event with a count.

use std::{collections::HashMap, net::IpAddr};

use palisade_common::{kind, tcp_state};

use crate::{
    enrich::build,
    event::{Event, Origin},
    process::table::ProcessTable,
    sensor::decode::Net,
};

/// How long a TCP connect waits for its outcome before it is reported as
/// `pending` (a SYN to a silent address is retried for minutes).
const RESULT_WAIT_NS: u64 = 500_000_000;
/// Identical attempts within this window after a reported one are counted,
/// and reported once, with the count, when the window closes.
const AGGREGATE_WINDOW_NS: u64 = 1_000_000_000;

/// What makes two attempts identical.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AttemptKey {
    pid: u32,
    proto: u8,
    daddr: IpAddr,
    dport: u16,
    hook: &'static str,
    result: Option<&'static str>,
    rule: Option<String>,
    enforced: bool,
}

struct Window {
    opened_ns: u64,
    repeats: u64,
    /// The latest repeat, reported with the count when the window closes.
    latest: Option<Event>,
}

#[derive(Default)]
pub struct NetTracker {
    /// TCP connects waiting for their outcome, by kernel socket.
    pending: HashMap<u64, (Event, u64)>,
    /// Who listens on each local TCP port: pid and cgroup id.
    listeners: HashMap<u16, (u32, u64)>,
    windows: HashMap<AttemptKey, Window>,
}

impl NetTracker {
    /// The events a network record completes (possibly none yet).
    pub fn on_record(
        &mut self,
        net: &Net,
        origin: &Origin,
        table: &ProcessTable,
        now_ns: u64,
    ) -> Vec<Event> {
        let pid = net.header.pid;
        match net.header.kind {
            kind::NET_CONNECT if net.hook == "tcp_state" => {
                let event = build::net_event(origin, net, kind::NET_CONNECT, Some(pid), table);
                self.pending.insert(net.sock, (event, now_ns + RESULT_WAIT_NS));
                Vec::new()
            }
            kind::NET_CONNECT => {
                let event = build::net_event(origin, net, kind::NET_CONNECT, Some(pid), table);
                self.fold(event, now_ns)
            }
            kind::NET_RESULT => {
                let Some((mut event, _)) = self.pending.remove(&net.sock) else {
                    return Vec::new();
                };
                if let Some(n) = event.network.as_mut() {
                    let established = net.tcp_state == tcp_state::ESTABLISHED;
                    n.result = Some(if established { "established" } else { "failed" });
                    if !net.saddr.is_unspecified() {
                        n.saddr = Some(net.saddr);
                    }
                    n.sport = (net.sport != 0).then_some(net.sport);
                }
                self.fold(event, now_ns)
            }
            kind::NET_LISTEN => {
                self.listeners.insert(net.sport, (pid, net.header.cgroup_id));
                vec![build::net_event(origin, net, kind::NET_LISTEN, Some(pid), table)]
            }
            kind::NET_ACCEPT => {
                let owner = self.listeners.get(&net.sport).copied();
                let mut event =
                    build::net_event(origin, net, kind::NET_ACCEPT, owner.map(|o| o.0), table);
                // The listener's cgroup, so the accept is attributed to its
                // container too.
                event.process.cgroup_id = owner.map(|o| o.1).filter(|&id| id != 0);
                self.fold(event, now_ns)
            }
            _ => Vec::new(),
        }
    }

    /// Connects whose outcome did not come in time, and the counts of
    /// windows that closed.
    pub fn flush(&mut self, now_ns: u64) -> Vec<Event> {
        let due: Vec<u64> =
            self.pending.iter().filter(|(_, (_, at))| *at <= now_ns).map(|(s, _)| *s).collect();
        let mut out = Vec::new();
        for sock in due {
            if let Some((mut event, _)) = self.pending.remove(&sock) {
                if let Some(n) = event.network.as_mut() {
                    n.result = Some("pending");
                }
                out.extend(self.fold(event, now_ns));
            }
        }
        let closed: Vec<AttemptKey> = self
            .windows
            .iter()
            .filter(|(_, w)| now_ns.saturating_sub(w.opened_ns) >= AGGREGATE_WINDOW_NS)
            .map(|(k, _)| k.clone())
            .collect();
        for key in closed {
            out.extend(self.windows.remove(&key).and_then(summary));
        }
        out
    }

    /// Forgets listeners of processes that are gone.
    pub fn purge(&mut self, table: &ProcessTable) {
        self.listeners.retain(|_, (pid, _)| table.get(*pid).is_some());
    }

    /// Reports the first of identical attempts at once and counts the rest.
    fn fold(&mut self, event: Event, now_ns: u64) -> Vec<Event> {
        let Some(key) = attempt_key(&event) else { return vec![event] };
        let mut out = Vec::new();
        if let Some(w) = self.windows.get_mut(&key) {
            if now_ns.saturating_sub(w.opened_ns) < AGGREGATE_WINDOW_NS {
                w.repeats += 1;
                w.latest = Some(event);
                return out;
            }
            out.extend(self.windows.remove(&key).and_then(summary));
        }
        self.windows.insert(key, Window { opened_ns: now_ns, repeats: 0, latest: None });
        out.push(event);
        out
    }
}

/// The event that reports a closed window's repeats, if it had any.
fn summary(w: Window) -> Option<Event> {
    let mut event = w.latest?;
    if let Some(n) = event.network.as_mut() {
        n.repeats = Some(w.repeats);
    }
    Some(event)
}

fn attempt_key(event: &Event) -> Option<AttemptKey> {
    let n = event.network.as_ref()?;
    Some(AttemptKey {
        pid: event.process.pid,
        proto: match n.protocol.as_str() {
            "tcp" => 6,
            "udp" => 17,
            other => other.parse().unwrap_or(0),
        },
        daddr: n.daddr,
        // An accept's peer port is new with every connection: accepts from
        // one peer to one listening port are alike, as connects to one
        // destination are whatever their source port.
        dport: if n.direction == "inbound" { n.sport.unwrap_or(0) } else { n.dport },
        hook: n.hook,
        result: n.result,
        rule: event.verdict.as_ref().map(|v| v.rule.clone()),
        enforced: event.verdict.as_ref().is_some_and(|v| v.enforced),
    })
}
