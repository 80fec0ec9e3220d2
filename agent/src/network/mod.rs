//! Turning network records into events: a TCP connect waits briefly for its
//! outcome (which brings the source port), an accept is attributed to the
//! process listening on its port, and identical attempts (connects to one
//! destination, accepts from one peer on one port) are folded into one
//! event with a count.
//!
//! Attempts are folded before they are events: a connect loop's repeats
//! are only counted, and an event is built for the first attempt of a
//! window and for the window's summary (its latest repeat, with what the
//! process table knew of the process when that repeat came).

use std::net::IpAddr;

use palisade_common::{kind, tcp_state};

use crate::{
    enrich::build,
    event::{Event, Origin},
    process::table::{ProcessInfo, ProcessTable},
    sensor::decode::Net,
};

/// How long a TCP connect waits for its outcome before it is reported as
/// `pending` (a SYN to a silent address is retried for minutes).
const RESULT_WAIT_NS: u64 = 500_000_000;
/// Identical attempts within this window after a reported one are counted,
/// and reported once, with the count, when the window closes.
const AGGREGATE_WINDOW_NS: u64 = 1_000_000_000;

type Map<K, V> = foldhash::HashMap<K, V>;

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

/// A network attempt before it is an event.
struct Attempt {
    /// The record (an accept's carries its listener's cgroup).
    net: Net,
    kind: u32,
    /// The process it is attributed to (an accept's: the listener, if
    /// known), and the table's entry for it when the record came.
    owner: Option<u32>,
    seen: Option<ProcessInfo>,
    /// A TCP connect's outcome: `established`, `failed` or `pending`.
    result: Option<&'static str>,
    /// The local end the outcome record brought.
    local: Option<(IpAddr, u16)>,
}

impl Attempt {
    fn new(net: &Net, kind: u32, owner: Option<u32>, table: &ProcessTable) -> Self {
        let seen = owner.and_then(|pid| table.get(pid)).cloned();
        Self { net: net.clone(), kind, owner, seen, result: None, local: None }
    }

    fn key(&self) -> AttemptKey {
        let net = &self.net;
        let verdict = net.verdict.as_ref();
        AttemptKey {
            pid: self.owner.unwrap_or(0),
            proto: net.proto,
            daddr: net.daddr,
            // An accept's peer port is new with every connection: accepts
            // from one peer to one listening port are alike, as connects to
            // one destination are whatever their source port.
            dport: if self.kind == kind::NET_ACCEPT { net.sport } else { net.dport },
            hook: net.hook,
            result: self.result,
            rule: verdict.map(|v| v.rule.clone()),
            enforced: verdict.is_some_and(|v| v.enforced),
        }
    }

    fn event(&self, origin: &Origin, table: &ProcessTable) -> Event {
        let mut event =
            build::net_event(origin, &self.net, self.kind, self.owner, self.seen.as_ref(), table);
        if let Some(n) = event.network.as_mut() {
            n.result = self.result;
            if let Some((saddr, sport)) = self.local {
                if !saddr.is_unspecified() {
                    n.saddr = Some(saddr);
                }
                n.sport = (sport != 0).then_some(sport);
            }
        }
        event
    }
}

struct Window {
    opened_ns: u64,
    repeats: u64,
    /// The latest repeat, reported with the count when the window closes.
    latest: Option<Attempt>,
}

#[derive(Default)]
pub struct NetTracker {
    /// TCP connects waiting for their outcome, by kernel socket.
    pending: Map<u64, (Attempt, u64)>,
    /// Who listens on each local TCP port: pid and cgroup id.
    listeners: Map<u16, (u32, u64)>,
    windows: Map<AttemptKey, Window>,
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
                let attempt = Attempt::new(net, kind::NET_CONNECT, Some(pid), table);
                self.pending.insert(net.sock, (attempt, now_ns + RESULT_WAIT_NS));
                Vec::new()
            }
            kind::NET_CONNECT => {
                let attempt = Attempt::new(net, kind::NET_CONNECT, Some(pid), table);
                self.fold(attempt, now_ns, origin, table)
            }
            kind::NET_RESULT => {
                let Some((mut attempt, _)) = self.pending.remove(&net.sock) else {
                    return Vec::new();
                };
                let established = net.tcp_state == tcp_state::ESTABLISHED;
                attempt.result = Some(if established { "established" } else { "failed" });
                attempt.local = Some((net.saddr, net.sport));
                self.fold(attempt, now_ns, origin, table)
            }
            kind::NET_LISTEN => {
                self.listeners.insert(net.sport, (pid, net.header.cgroup_id));
                vec![build::net_event(
                    origin,
                    net,
                    kind::NET_LISTEN,
                    Some(pid),
                    table.get(pid),
                    table,
                )]
            }
            kind::NET_ACCEPT => {
                let owner = self.listeners.get(&net.sport).copied();
                let mut attempt = Attempt::new(net, kind::NET_ACCEPT, owner.map(|o| o.0), table);
                // The listener's cgroup, so the accept is attributed to its
                // container too.
                attempt.net.header.cgroup_id = owner.map_or(0, |o| o.1);
                self.fold(attempt, now_ns, origin, table)
            }
            _ => Vec::new(),
        }
    }

    /// Connects whose outcome did not come in time, and the counts of
    /// windows that closed.
    pub fn flush(&mut self, now_ns: u64, origin: &Origin, table: &ProcessTable) -> Vec<Event> {
        let due: Vec<u64> =
            self.pending.iter().filter(|(_, (_, at))| *at <= now_ns).map(|(s, _)| *s).collect();
        let mut out = Vec::new();
        for sock in due {
            if let Some((mut attempt, _)) = self.pending.remove(&sock) {
                attempt.result = Some("pending");
                out.extend(self.fold(attempt, now_ns, origin, table));
            }
        }
        let closed: Vec<AttemptKey> = self
            .windows
            .iter()
            .filter(|(_, w)| now_ns.saturating_sub(w.opened_ns) >= AGGREGATE_WINDOW_NS)
            .map(|(k, _)| k.clone())
            .collect();
        for key in closed {
            out.extend(self.windows.remove(&key).and_then(|w| summary(w, origin, table)));
        }
        out
    }

    /// Forgets listeners of processes that are gone.
    pub fn purge(&mut self, table: &ProcessTable) {
        self.listeners.retain(|_, (pid, _)| table.get(*pid).is_some());
    }

    /// Reports the first of identical attempts at once and counts the rest.
    fn fold(
        &mut self,
        attempt: Attempt,
        now_ns: u64,
        origin: &Origin,
        table: &ProcessTable,
    ) -> Vec<Event> {
        let key = attempt.key();
        let mut out = Vec::new();
        if let Some(w) = self.windows.get_mut(&key) {
            if now_ns.saturating_sub(w.opened_ns) < AGGREGATE_WINDOW_NS {
                w.repeats += 1;
                w.latest = Some(attempt);
                return out;
            }
            out.extend(self.windows.remove(&key).and_then(|w| summary(w, origin, table)));
        }
        self.windows.insert(key, Window { opened_ns: now_ns, repeats: 0, latest: None });
        out.push(attempt.event(origin, table));
        out
    }
}

/// The event that reports a closed window's repeats, if it had any.
fn summary(w: Window, origin: &Origin, table: &ProcessTable) -> Option<Event> {
    let mut event = w.latest?.event(origin, table);
    if let Some(n) = event.network.as_mut() {
        n.repeats = Some(w.repeats);
    }
    Some(event)
}

#[cfg(test)]
mod tests {
    use palisade_common::RecordHeader;

    use super::*;
    use crate::test_support::{exec_record, origin};

    const SECOND: u64 = 1_000_000_000;

    fn record(kind: u32, pid: u32, sock: u64, state: u32, sport: u16) -> Net {
        Net {
            header: RecordHeader { kind, pid, cgroup_id: 7, ..Default::default() },
            verdict: None,
            daddr: "10.0.0.9".parse().unwrap(),
            dport: 443,
            saddr: if sport == 0 { "0.0.0.0" } else { "10.0.0.1" }.parse().unwrap(),
            sport,
            proto: 6,
            hook: "tcp_state",
            tcp_state: state,
            sock,
        }
    }

    /// One TCP connect and its outcome, at `now`.
    fn connect(t: &mut NetTracker, table: &ProcessTable, sock: u64, now: u64) -> Vec<Event> {
        let o = origin();
        let made = record(kind::NET_CONNECT, 100, sock, tcp_state::SYN_SENT, 0);
        assert!(t.on_record(&made, &o, table, now).is_empty(), "a connect waits for its outcome");
        let port = 40_000 + sock as u16;
        let outcome = record(kind::NET_RESULT, 0, sock, tcp_state::ESTABLISHED, port);
        t.on_record(&outcome, &o, table, now)
    }

    /// Repeats are counted without an event each; the window's summary is
    /// the latest repeat, with the process as the table knew it when that
    /// repeat came (here, before it exec'd another program).
    #[test]
    fn repeats_fold_into_a_summary_of_the_latest_as_it_was() {
        let mut table = ProcessTable::default();
        table.on_exec(&exec_record(100, 1, b"/usr/bin/curl"));
        let mut t = NetTracker::default();
        let first = connect(&mut t, &table, 1, 0);
        assert_eq!(first.len(), 1);
        let n = first[0].network.as_ref().unwrap();
        assert_eq!((n.result, n.sport, n.repeats), (Some("established"), Some(40_001), None));
        assert_eq!(first[0].process.binary.0, b"/usr/bin/curl");
        for sock in 2..=4 {
            assert!(connect(&mut t, &table, sock, sock * 1000).is_empty(), "repeat {sock}");
        }
        table.on_exec(&exec_record(100, 1, b"/usr/bin/other"));
        assert!(t.flush(SECOND / 2, &origin(), &table).is_empty(), "the window is open");
        let summary = t.flush(SECOND, &origin(), &table);
        assert_eq!(summary.len(), 1);
        let n = summary[0].network.as_ref().unwrap();
        assert_eq!((n.result, n.sport, n.repeats), (Some("established"), Some(40_004), Some(3)));
        assert_eq!(summary[0].process.binary.0, b"/usr/bin/curl", "as it was at the repeat");
        assert_eq!(summary[0].process.cgroup_id, Some(7));
        assert!(t.flush(2 * SECOND, &origin(), &table).is_empty(), "reported once");
    }

    /// A connect without an outcome in time is reported pending; an accept
    /// is its listener's, in the listener's cgroup.
    #[test]
    fn pending_connects_and_accepts_are_reported_whole() {
        let table = ProcessTable::default();
        let o = origin();
        let mut t = NetTracker::default();
        let made = record(kind::NET_CONNECT, 100, 9, tcp_state::SYN_SENT, 0);
        assert!(t.on_record(&made, &o, &table, 0).is_empty());
        let pending = t.flush(RESULT_WAIT_NS, &o, &table);
        assert_eq!(pending[0].network.as_ref().unwrap().result, Some("pending"));
        assert_eq!(pending[0].network.as_ref().unwrap().saddr, None);

        let mut listen = record(kind::NET_LISTEN, 200, 10, tcp_state::LISTEN, 8080);
        listen.header.cgroup_id = 55;
        assert_eq!(t.on_record(&listen, &o, &table, 0).len(), 1);
        let mut accept = record(kind::NET_ACCEPT, 0, 11, tcp_state::ESTABLISHED, 8080);
        accept.header.cgroup_id = 0;
        let accepted = t.on_record(&accept, &o, &table, 0);
        assert_eq!(accepted[0].process.pid, 200);
        assert_eq!(accepted[0].process.cgroup_id, Some(55));
        assert_eq!(accepted[0].network.as_ref().unwrap().direction, "inbound");
    }
}
