//! Export: every record goes to each sink whose filter admits it, in the
//! sink's format. Sinks: stdout, a rotating file, and two remote ones fed
//! from a bounded on-disk spool: an HTTP(S) webhook (NDJSON) and an
//! OpenTelemetry Collector (OTLP/HTTP logs). A sink that fails never stops
//! the others or the agent: its losses are counted and it is reported not
//! ready.

mod decision_log;
mod delivery;
mod file;
mod filter;
pub mod ocsf;
pub mod otlp;
pub mod spec;
mod spool;
mod webhook;

use std::{
    io::{BufWriter, Stdout, Write},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

use serde::Serialize;
use serde_json::Value;
use tracing::{info, warn};

use crate::{event::Event, policy::decision::Decision, redact::Redactor};

pub use filter::Facts;
pub use spec::SinkSpec;
use spec::{Format, SinkKind};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("--sink `{spec}`: {reason}")]
    Spec { spec: String, reason: String },
    #[error("sink `{sink}` cannot start: {reason}")]
    Start { sink: String, reason: String },
}

/// What one sink did, for metrics and readiness.
#[derive(Debug)]
pub struct SinkStats {
    pub name: String,
    pub kind: &'static str,
    /// Records written (stdout, file) or put in the spool (webhook).
    pub written: AtomicU64,
    /// Records lost to a failed write.
    pub failed: AtomicU64,
    /// Records the receiver acknowledged (webhook, OTLP).
    pub delivered: AtomicU64,
    /// Records the receiver refused for good (a 4xx, an OTLP partial
    /// success's rejected records).
    pub rejected: AtomicU64,
    /// Records dropped from a full spool, or torn by a crash.
    pub dropped: AtomicU64,
    /// Delivery attempts that failed and will be retried.
    pub send_failures: AtomicU64,
    pub spool_records: AtomicU64,
    pub spool_bytes: AtomicU64,
    /// The last write succeeded.
    pub accepting: AtomicBool,
    pub last_error: Mutex<String>,
}

impl SinkStats {
    fn new(name: &str, kind: &'static str) -> Self {
        Self {
            name: name.to_string(),
            kind,
            written: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            send_failures: AtomicU64::new(0),
            spool_records: AtomicU64::new(0),
            spool_bytes: AtomicU64::new(0),
            accepting: AtomicBool::new(true),
            last_error: Mutex::new(String::new()),
        }
    }

    fn observe_spool(&self, counts: spool::Counts) {
        self.dropped.store(counts.dropped, Relaxed);
        self.spool_records.store(counts.waiting, Relaxed);
        self.spool_bytes.store(counts.bytes, Relaxed);
    }

    /// Records lost by a failed write; logs when the sink starts failing.
    fn failed(&self, records: u64, error: &std::io::Error) {
        self.failed.fetch_add(records, Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = error.to_string();
        }
        if self.accepting.swap(false, Relaxed) {
            warn!(sink = self.name, %error, "the sink does not accept records; they are counted as failed");
        }
    }

    fn succeeded(&self, records: u64) {
        self.written.fetch_add(records, Relaxed);
        if !self.accepting.swap(true, Relaxed) {
            info!(sink = self.name, "the sink accepts records again");
        }
    }
}

/// One record on its way out.
#[derive(Debug, Clone, Copy)]
pub enum Outgoing<'a> {
    Event(&'a Event),
    /// An audit record: an exception that suppressed a match
    /// (`exception_used`), a break-glass order starting or ending
    /// (`break_glass`), an unload (`unload`).
    Audit(&'a Value),
}

impl Outgoing<'_> {
    pub fn kind(&self) -> &str {
        match self {
            Outgoing::Event(e) => e.kind,
            Outgoing::Audit(v) => v["kind"].as_str().unwrap_or(crate::event::EXCEPTION_USED),
        }
    }

    pub fn decision(&self) -> Option<&Decision> {
        match self {
            Outgoing::Event(e) => e.decision.as_ref(),
            Outgoing::Audit(_) => None,
        }
    }

    /// The filter's view of the record: its kind and its decision.
    fn facts(&self) -> Facts<'_> {
        let decision = self.decision();
        let matched = decision.is_some_and(|d| !d.matched.is_empty());
        Facts {
            kind: self.kind(),
            alert: matched,
            suppressed: decision.is_some_and(|d| !d.suppressed().is_empty()),
            severity: decision.and_then(ocsf::highest_severity),
            decision,
        }
    }
}

impl Serialize for Outgoing<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Outgoing::Event(e) => e.serialize(serializer),
            Outgoing::Audit(v) => v.serialize(serializer),
        }
    }
}

pub struct Exporter {
    routes: Vec<Route>,
    redactor: Redactor,
    /// When the records since the last flush were observed (OTLP's
    /// observed time): the clock read once per batch, not per record (on a
    /// VM's clock source a read cost as much as encoding the record).
    observed_ns: Option<u64>,
}

struct Route {
    format: Format,
    /// Decision logs: what each entry is labelled with, and erases.
    origin: crate::event::Origin,
    masks: Vec<String>,
    filter: filter::Filter,
    out: Output,
    stats: Arc<SinkStats>,
    /// Records written since the last flush (stdout: counted at flush).
    pending: u64,
}

enum Output {
    Stdout(BufWriter<Stdout>),
    File(file::RotatingFile),
    /// A webhook or OTLP sink: records wait in the spool for the sender.
    Remote {
        spool: Arc<spool::Spool>,
        sender: delivery::Sender,
        /// An OTLP sink's encoder of LogRecords.
        otlp: Option<otlp::Spooler>,
        /// When the spool was last flushed (see [`SPOOL_FLUSH_EVERY`]).
        flushed_at: Instant,
    },
}

/// How long records may wait in a spool's write buffer: flushing it (a
/// lock and a `write`) once per pipeline message cost about a tenth of
/// the OTLP sink's CPU under an exec loop. A `SIGKILL` loses what waits
/// there, as it loses what waits in the pipeline; a stop flushes it.
const SPOOL_FLUSH_EVERY: Duration = Duration::from_millis(50);

impl Exporter {
    /// Opens every sink (a bad path, spool, CA or headers file fails here,
    /// naming the sink) and starts the remote senders.
    /// Every record is redacted by `redactor` before any sink sees it.
    pub fn start(
        specs: &[SinkSpec],
        origin: &crate::event::Origin,
        redactor: Redactor,
    ) -> Result<Self, ExportError> {
        let routes =
            specs.iter().map(|spec| Route::start(spec, origin)).collect::<Result<_, _>>()?;
        Ok(Self { routes, redactor, observed_ns: None })
    }

    pub fn stats(&self) -> Vec<Arc<SinkStats>> {
        self.routes.iter().map(|r| Arc::clone(&r.stats)).collect()
    }

    /// Exports a judged event, redacted, and the audit records of the
    /// exceptions it used; returns how many secrets were redacted.
    pub fn export_event(&mut self, mut event: Event, audits: &[Value]) -> u64 {
        let redacted = self.redactor.apply(&mut event);
        self.export(Outgoing::Event(&event));
        for audit in audits {
            self.export(Outgoing::Audit(audit));
        }
        redacted
    }

    /// Exports an audit record (a break-glass order's start or end, an
    /// unload): nothing in it is an argument, so nothing to redact.
    pub fn export_audit(&mut self, record: &Value) {
        self.export(Outgoing::Audit(record));
    }

    /// Hands one record to every sink that takes it.
    fn export(&mut self, record: Outgoing<'_>) {
        let facts = record.facts();
        let mut native: Option<Vec<u8>> = None;
        // An alert is two OCSF records, its activity and its Detection
        // Finding: each a line, with its own id.
        let mut ocsf: Option<Vec<(Vec<u8>, String)>> = None;
        let observed_ns = &mut self.observed_ns;
        for route in self.routes.iter_mut().filter(|r| r.filter.admits(&facts)) {
            match route.format {
                Format::Native => {
                    let line = native
                        .get_or_insert_with(|| serde_json::to_vec(&record).unwrap_or_default());
                    route.send(record, line, None, observed_ns);
                }
                Format::Ocsf => {
                    let lines = ocsf.get_or_insert_with(|| {
                        let value = serde_json::to_value(record).unwrap_or(Value::Null);
                        (ocsf::convert(&value, facts.decision).iter())
                            .map(|e| (serde_json::to_vec(e).unwrap_or_default(), e.uid().into()))
                            .collect()
                    });
                    for (line, uid) in lines.iter() {
                        route.send(record, line, Some(uid), observed_ns);
                    }
                }
                // One entry per judged event; audit records are not decisions.
                Format::DecisionLog => {
                    let Outgoing::Event(event) = record else { continue };
                    let entry = decision_log::entry(event, &route.origin, &route.masks);
                    if let Some(line) = entry.and_then(|e| serde_json::to_vec(&e).ok()) {
                        route.send(record, &line, None, observed_ns);
                    }
                }
            }
        }
    }

    /// Pushes buffered records out: to stdout, to the file, to a spool
    /// (waking its sender) when its last flush is [`SPOOL_FLUSH_EVERY`]
    /// old.
    pub fn flush(&mut self) {
        self.flush_routes(false);
    }

    fn flush_routes(&mut self, stopping: bool) {
        self.observed_ns = None;
        for route in &mut self.routes {
            route.flush(stopping);
        }
    }

    /// Flushes everything, then gives each webhook a last chance to empty
    /// its spool.
    pub fn stop(mut self) {
        self.flush_routes(true);
        for route in &mut self.routes {
            if let Output::Remote { sender, spool, .. } = &mut route.out {
                sender.stop();
                route.stats.observe_spool(spool.counts());
            }
        }
    }
}

impl Route {
    fn start(spec: &SinkSpec, origin: &crate::event::Origin) -> Result<Self, ExportError> {
        let stats = Arc::new(SinkStats::new(&spec.name, spec.kind_name()));
        let failed = |what: &str, e: std::io::Error| ExportError::Start {
            sink: spec.name.clone(),
            reason: format!("{what}: {e}"),
        };
        let out = match &spec.kind {
            SinkKind::Stdout => {
                Output::Stdout(BufWriter::with_capacity(1 << 16, std::io::stdout()))
            }
            SinkKind::File { path, max_bytes, keep } => Output::File(
                file::RotatingFile::open(path, *max_bytes, *keep)
                    .map_err(|e| failed(&path.display().to_string(), e))?,
            ),
            SinkKind::Webhook(remote) | SinkKind::Otlp(remote) | SinkKind::DecisionLog(remote) => {
                let otlp = matches!(spec.kind, SinkKind::Otlp(_));
                let framing = if otlp { otlp::SPOOL_FRAMING } else { spool::Framing::Lines };
                let spool = Arc::new(
                    spool::Spool::open(&remote.spool_dir, remote.spool_max_bytes, framing)
                        .map_err(|e| failed(&format!("spool {}", remote.spool_dir.display()), e))?
                        .spill_after(remote.spill_after),
                );
                let counts = spool.counts();
                stats.observe_spool(counts);
                if counts.waiting > 0 {
                    info!(
                        sink = spec.name,
                        records = counts.waiting,
                        "records left in the spool by a previous run will be sent"
                    );
                }
                let (batch, spooled, stats) =
                    (remote.batch_records, Arc::clone(&spool), Arc::clone(&stats));
                let sender = if otlp {
                    delivery::Sender::start(
                        otlp::Otlp::new(remote, origin)?,
                        batch,
                        spooled,
                        stats,
                    )?
                } else {
                    let framing = match spec.kind {
                        SinkKind::DecisionLog(_) => webhook::Framing::JsonArray,
                        _ => webhook::Framing::Lines,
                    };
                    let webhook = webhook::Webhook::new(remote, framing)?;
                    delivery::Sender::start(webhook, batch, spooled, stats)?
                };
                let otlp = otlp.then(otlp::Spooler::default);
                Output::Remote { spool, sender, otlp, flushed_at: Instant::now() }
            }
        };
        info!(sink = spec.name, kind = spec.kind_name(), format = ?spec.format, filter = ?spec.filter, "export sink ready");
        Ok(Self {
            format: spec.format,
            origin: origin.clone(),
            masks: spec.masks.clone(),
            filter: spec.filter.clone(),
            out,
            stats,
            pending: 0,
        })
    }

    /// Writes `line`, the exported form of `record`; an OTLP sink wraps it
    /// in a LogRecord whose id is `uid` (else the record's).
    fn send(
        &mut self,
        record: Outgoing<'_>,
        line: &[u8],
        uid: Option<&str>,
        observed_ns: &mut Option<u64>,
    ) {
        let lost = match &mut self.out {
            Output::Stdout(out) => out
                .write_all(line)
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| (self.pending + 1, e)),
            Output::File(file) => file.write(line).map_err(|lost| (lost.records, lost.error)),
            // The spool counts what a failed write cost it as dropped.
            Output::Remote { spool, otlp: Some(spooler), .. } => {
                let observed = *observed_ns.get_or_insert_with(crate::model::time::now_ns);
                spool.append(spooler.record(record, line, uid, observed)).map_err(|e| (0, e))
            }
            Output::Remote { spool, otlp: None, .. } => spool.append(line).map_err(|e| (0, e)),
        };
        match lost {
            Ok(()) => self.pending += 1,
            Err((records, e)) => {
                self.pending = 0;
                self.stats.failed(records, &e);
            }
        }
    }

    /// Flushes the route's buffer; a spool's only every
    /// [`SPOOL_FLUSH_EVERY`] unless `stopping`.
    fn flush(&mut self, stopping: bool) {
        let lost = match &mut self.out {
            Output::Stdout(out) => out.flush().map_err(|e| (self.pending, e)),
            Output::File(file) => file.flush().map_err(|lost| (lost.records, lost.error)),
            Output::Remote { spool, flushed_at, .. } => {
                if !stopping && flushed_at.elapsed() < SPOOL_FLUSH_EVERY {
                    return;
                }
                *flushed_at = Instant::now();
                // Counted before the sender can see them, so `written` never
                // trails `delivered`; a failed flush is counted as dropped
                // by the spool.
                self.stats.succeeded(std::mem::take(&mut self.pending));
                let flushed = spool.flush().map_err(|e| (0, e));
                self.stats.observe_spool(spool.counts());
                flushed
            }
        };
        let pending = std::mem::take(&mut self.pending);
        match lost {
            // Only records that made it out say the sink works again.
            Ok(()) if pending > 0 => self.stats.succeeded(pending),
            Ok(()) => {}
            Err((records, e)) => self.stats.failed(records, &e),
        }
    }
}
