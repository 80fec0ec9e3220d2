//! The processing thread: decoded records → process table, network state → events
//! (enrichment: container, pod, drift) → the judge, inline or on the policy
//! workers → the sinks, in order.
//!
//! The reader hands it [`Message`]s: records, or a tick when nothing came
//! for a while. After either, what is due goes out: network events whose
//! outcome or count was waited for, and events the policy workers finished.

use std::{sync::Arc, sync::atomic::Ordering::Relaxed, time::Duration};

use tokio::sync::mpsc;
use tracing::warn;

use crate::{
    container::ContainerResolver,
    enrich::{self, build},
    event::{Clock, Event, Origin},
    export::Exporter,
    network::NetTracker,
    policy::{judge::Judge, pool::JudgePool},
    process::table::ProcessTable,
    sensor::{
        decode::Record,
        reader::{Batch, Corrupt, Decoded, Message},
    },
    stats::Stats,
    workloads::{feed::Feed, sever::DeniedConnection},
};

/// How often exited processes are forgotten.
const PURGE_EVERY: Duration = Duration::from_secs(5);

/// Where events happen: the container resolver, and the feed that
/// describes its cgroups to the kernel-rules keeper.
pub struct Workloads {
    pub containers: ContainerResolver,
    pub feed: Feed,
}

/// The judge on the processing thread, and the workers it hands Rego to.
pub struct Judges {
    pub judge: Judge,
    pub pool: JudgePool,
}

/// Everything the processing thread owns.
pub struct Pipeline {
    origin: Origin,
    table: ProcessTable,
    net: NetTracker,
    workloads: Workloads,
    judges: Judges,
    stats: Arc<Stats>,
    out: Exporter,
    /// The events one record completed, on their way to [`Pipeline::emit`]
    /// (kept for its allocation).
    ready: Vec<Event>,
    last_purge: u64,
}

impl Pipeline {
    pub fn new(
        origin: Origin,
        table: ProcessTable,
        workloads: Workloads,
        judges: Judges,
        stats: Arc<Stats>,
        out: Exporter,
    ) -> Self {
        Self {
            origin,
            table,
            net: NetTracker::default(),
            workloads,
            judges,
            stats,
            out,
            ready: Vec::new(),
            last_purge: Clock::monotonic_now_ns(),
        }
    }

    /// Processes messages until the reader goes away, then lets the policy
    /// workers finish and the sinks stop.
    pub fn run(mut self, mut rx: mpsc::Receiver<Message>) {
        let now = self.origin.clock.wall_ns(Clock::monotonic_now_ns());
        self.judges.judge.report_expired(now, &self.stats);
        let first = Arc::clone(self.judges.judge.policy());
        let record =
            build::policy_change_record(&self.origin, None, &first, Clock::monotonic_now_ns());
        self.out.export_audit(&record);
        while let Some(message) = rx.blocking_recv() {
            for (old, new) in self.judges.judge.take_update() {
                let now = Clock::monotonic_now_ns();
                let record = build::policy_change_record(&self.origin, Some(&old), &new, now);
                self.out.export_audit(&record);
            }
            let now = Clock::monotonic_now_ns();
            match message {
                Message::Records(batch) => self.on_batch(batch, now),
                // Nothing new: only what is held back may be due.
                Message::Tick => {}
                Message::Tampered(tampering) => {
                    self.out.export_audit(&build::tamper_record(&self.origin, &tampering, now));
                }
                Message::DeniedConnections(found) => self.on_denied_connections(&found, now),
            }
            self.on_tick(now);
        }
        self.drain(true);
        self.judges.pool.stop();
        self.out.stop();
    }

    /// Records the open connections a rule set denied, each attributed to
    /// the workload whose cgroup made it.
    fn on_denied_connections(&mut self, found: &[DeniedConnection], now: u64) {
        for (seq, connection) in found.iter().enumerate() {
            let identity = connection
                .cgroup
                .map(|id| self.workloads.containers.resolve(id))
                .unwrap_or_default();
            let record =
                build::connection_ended_record(&self.origin, connection, identity, now, seq);
            self.out.export_audit(&record);
        }
    }

    /// Handles a batch's records in order.
    pub fn on_batch(&mut self, batch: Batch, now: u64) {
        for decoded in batch {
            self.on_record(decoded, now);
        }
    }

    /// Updates the process table, the containers and the network state
    /// with one record, and emits the events it completes.
    pub fn on_record(&mut self, decoded: Decoded, now: u64) {
        let record = match decoded {
            Ok(record) => record,
            Err(Corrupt { error, bytes }) => {
                let n = self.stats.decode_errors.fetch_add(1, Relaxed) + 1;
                warn!(%error, decode_errors = n, bytes, "dropped a corrupt kernel record");
                return;
            }
        };
        self.stats.count_record(record.kind());
        let mut ready = std::mem::take(&mut self.ready);
        self.events_of(record, now, &mut ready);
        self.emit(ready.drain(..));
        self.ready = ready;
    }

    /// What is due after every message (a batch moves time on too): the
    /// feed's retries, network events whose wait is over, what the policy
    /// workers finished; every few seconds, exited processes forgotten and
    /// expired exceptions reported.
    pub fn on_tick(&mut self, now: u64) {
        let Workloads { containers, feed } = &mut self.workloads;
        feed.tick(containers);
        let wall = self.origin.clock.wall_ns(now);
        for change in self.judges.judge.break_glass_changes(wall) {
            self.stats.count_break_glass(change.phase);
            self.out.export_audit(&build::break_glass_record(&self.origin, &change, now));
        }
        let due = self.net.flush(now, &self.origin, &self.table);
        self.emit(due);
        self.drain(false);
        self.out.flush();
        if now.saturating_sub(self.last_purge) > PURGE_EVERY.as_nanos() as u64 {
            self.table.purge(now);
            self.net.purge(&self.table);
            self.judges.judge.report_expired(self.origin.clock.wall_ns(now), &self.stats);
            self.last_purge = now;
        }
    }

    /// Attributes and judges `events`, and exports those judged so far (the
    /// policy workers may still hold some).
    pub fn emit(&mut self, events: impl IntoIterator<Item = Event>) {
        let boot_ns = self.origin.clock.wall_ns(0) as i64;
        for mut event in events {
            // The process's start time guards a userspace kill against a
            // recycled pid.
            let start_ns = self.table.get(event.process.pid).map_or(0, |p| p.start_ns);
            // Before the policy: rules scope on the container and the pod.
            enrich::attribute(&mut event, &mut self.workloads.containers, boot_ns);
            let Judges { judge, pool } = &mut self.judges;
            pool.submit(judge, event, start_ns);
            self.drain(false);
        }
    }

    /// Updates the process table, the containers and the network state with
    /// one record and appends the events it completes.
    fn events_of(&mut self, record: Record, now: u64, ready: &mut Vec<Event>) {
        let (origin, table) = (&self.origin, &mut self.table);
        match record {
            Record::Fork(fork) => table.on_fork(fork.header.pid, fork.parent_pid, fork.start_ns),
            Record::Exec(exec) => {
                table.on_exec(&exec);
                let env = &self.judges.judge.policy().env_capture;
                ready.push(build::exec_event(origin, *exec, table, env));
            }
            Record::Exit(exit) => {
                let known = table.on_exit(exit.header.pid, exit.header.ktime_ns);
                ready.push(build::exit_event(origin, &exit, known.as_ref(), table));
            }
            Record::ExecDenied(denied) => {
                ready.push(build::exec_denied_event(origin, &denied, table));
            }
            Record::Net(record) => ready.extend(self.net.on_record(&record, origin, table, now)),
            Record::File(file) => ready.push(build::file_event(origin, &file, table)),
            Record::Socket(socket) => ready.push(build::socket_event(origin, &socket, table)),
            // cgroup v2's hierarchy id is 0; the others are v1's.
            Record::Cgroup(c) if c.root == 0 => {
                let Workloads { containers, feed } = &mut self.workloads;
                containers.on_cgroup_created(c.id, &String::from_utf8_lossy(&c.path));
                feed.created(c.id, c.header.ktime_ns, containers);
            }
            Record::Cgroup(_) => {}
        }
    }

    /// Exports what the policy workers have finished; with `wait`, all of
    /// it.
    fn drain(&mut self, wait: bool) {
        let (out, stats) = (&mut self.out, &*self.stats);
        self.judges.pool.drain(wait, |event, audits| export(out, stats, event, &audits));
    }
}

/// Exports a judged event and the audit records of the exceptions it used.
fn export(out: &mut Exporter, stats: &Stats, event: Event, audits: &[serde_json::Value]) {
    let redacted = out.export_event(event, audits);
    stats.redacted_values.fetch_add(redacted, Relaxed);
    stats.events_written.fetch_add(1 + audits.len() as u64, Relaxed);
}
