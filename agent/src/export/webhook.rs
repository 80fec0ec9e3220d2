//! Delivers a spool to an HTTP(S) receiver: batches of JSON lines POSTed as
//! `application/x-ndjson`, from a thread of its own so a slow or dead
//! receiver never holds up the processing thread.
//!
//! A 2xx acknowledges the batch. A connection failure, a timeout, a 5xx,
//! 408 or 429 is retried with exponential backoff (100 ms doubling to 30 s,
//! with jitter) while the spool keeps taking records. Any other 4xx means
//! the receiver refuses these records for good: they are counted as
//! rejected and skipped, so one bad batch cannot stall the stream.

use std::{
    io::Read,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering::Relaxed},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use tracing::{info, warn};

use crate::http_client;

use super::{
    ExportError, SinkStats,
    spec::WebhookSpec,
    spool::{Batch, Spool},
};

/// Largest request body, roughly: a batch stops at the record that crosses it.
const BATCH_BYTES: usize = 4 << 20;
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long a stopping agent keeps trying to empty the spool; what is left
/// is sent by the next agent.
const DRAIN_ON_STOP: Duration = Duration::from_secs(5);

pub struct Sender {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sender {
    pub fn start(
        spec: &WebhookSpec,
        spool: Arc<Spool>,
        stats: Arc<SinkStats>,
    ) -> Result<Self, ExportError> {
        let client = Client::new(spec)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stop, batch) = (Arc::clone(&stop), spec.batch_records);
            std::thread::Builder::new()
                .name(format!("palisade-{}", stats.name))
                .spawn(move || deliver(&client, &spool, &stats, batch, &stop))
                .map_err(|e| ExportError::Start { sink: "webhook".into(), reason: e.to_string() })?
        };
        Ok(Self { stop, thread: Some(thread) })
    }

    /// Stops after a last attempt to empty the spool.
    pub fn stop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.stop();
    }
}

fn deliver(client: &Client, spool: &Spool, stats: &SinkStats, batch: usize, stop: &AtomicBool) {
    let mut backoff = BACKOFF_FIRST;
    let mut down_since: Option<Instant> = None;
    let mut stopping_at: Option<Instant> = None;
    loop {
        if stop.load(Relaxed) {
            let deadline = *stopping_at.get_or_insert_with(|| Instant::now() + DRAIN_ON_STOP);
            if Instant::now() >= deadline || spool.counts().waiting == 0 {
                break;
            }
        }
        let next = match spool.next_batch(batch, BATCH_BYTES, Duration::from_millis(200)) {
            Ok(Some(b)) => b,
            Ok(None) => continue,
            Err(err) => {
                warn!(sink = stats.name, %err, "cannot read the spool");
                std::thread::sleep(BACKOFF_MAX.min(backoff));
                continue;
            }
        };
        match client.post(&next) {
            Ok(Outcome::Delivered) => {
                if acknowledge(spool, &next, stats) {
                    stats.delivered.fetch_add(next.records, Relaxed);
                }
                if let Some(since) = down_since.take() {
                    info!(
                        sink = stats.name,
                        down_for = ?since.elapsed(),
                        "the receiver accepts records again"
                    );
                }
                backoff = BACKOFF_FIRST;
            }
            Ok(Outcome::Rejected(status)) => {
                if acknowledge(spool, &next, stats) {
                    stats.rejected.fetch_add(next.records, Relaxed);
                }
                warn!(
                    sink = stats.name,
                    status,
                    records = next.records,
                    "the receiver refused a batch; its records are skipped"
                );
            }
            Err(reason) => {
                stats.send_failures.fetch_add(1, Relaxed);
                if down_since.is_none() {
                    down_since = Some(Instant::now());
                    warn!(
                        sink = stats.name,
                        %reason,
                        "cannot deliver to the receiver; records wait in the spool"
                    );
                }
                if stop.load(Relaxed) {
                    break;
                }
                std::thread::sleep(jitter(backoff));
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
    let left = spool.counts().waiting;
    if left > 0 {
        info!(
            sink = stats.name,
            records = left,
            "stopping with records in the spool; the next start sends them"
        );
    }
}

/// Acknowledges `batch` in the spool; `false` when the spool dropped (and
/// counted) its records while it was in flight, so the caller does not count
/// them a second time, as delivered or rejected.
fn acknowledge(spool: &Spool, batch: &Batch, stats: &SinkStats) -> bool {
    let acknowledged = match spool.ack(batch) {
        Ok(acknowledged) => acknowledged,
        Err(err) => {
            warn!(sink = stats.name, %err, "cannot record delivery in the spool; the batch may be sent again");
            true
        }
    };
    stats.observe_spool(spool.counts());
    acknowledged
}

/// Up to a quarter more or less than `d`, so many agents whose receiver
/// came back do not all retry at once.
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    let quarter = d / 4;
    d - quarter + quarter * 2 * (nanos % 1000) / 1000
}

enum Outcome {
    Delivered,
    Rejected(u16),
}

struct Client {
    agent: ureq::Agent,
    url: String,
    token_file: Option<PathBuf>,
}

impl Client {
    fn new(spec: &WebhookSpec) -> Result<Self, ExportError> {
        let config = http_client::config(spec.ca_file.as_deref())
            .map_err(|reason| ExportError::Start { sink: spec.url.clone(), reason })?
            .timeout_global(Some(spec.timeout));
        Ok(Self {
            agent: config.build().new_agent(),
            url: spec.url.clone(),
            token_file: spec.token_file.clone(),
        })
    }

    fn post(&self, batch: &Batch) -> Result<Outcome, String> {
        let request = self.agent.post(&self.url).header("Content-Type", "application/x-ndjson");
        let request = http_client::with_bearer(request, self.token_file.as_deref())?;
        let mut response = request.send(&batch.body[..]).map_err(|e| e.to_string())?;
        // Read the body so the connection can be reused.
        let _ = response.body_mut().as_reader().take(64 << 10).read_to_end(&mut Vec::new());
        let status = response.status().as_u16();
        match status {
            200..=299 => Ok(Outcome::Delivered),
            408 | 429 | 500..=599 => Err(format!("the receiver answered {status}")),
            _ => Ok(Outcome::Rejected(status)),
        }
    }
}
