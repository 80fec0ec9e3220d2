//! Delivers a spool to a remote receiver, from a thread of its own so a
//! slow or dead receiver never holds up the processing thread. What a
//! request looks like is the [`Transport`]'s business (NDJSON webhook,
//! OTLP); what happens to the batch afterwards is decided here, alike for
//! every transport:
//!
//! - accepted: acknowledged in the spool; records the receiver said it
//!   rejected in an accepted request (OTLP partial success) are counted as
//!   rejected, never sent again;
//! - refused for good: counted as rejected and skipped, so one bad batch
//!   cannot stall the stream;
//! - to retry (connection failure, timeout, an overloaded receiver): the
//!   batch stays at the front of the spool, which keeps taking records, and
//!   is sent again after the receiver's `Retry-After`, else after an
//!   exponential backoff (100 ms doubling to 30 s, with jitter).
//!
//! A batch is sent when it is full or has waited 500 ms, whichever comes
//! first: a request costs far more than a record.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering::Relaxed},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use tracing::{info, warn};

use super::{
    ExportError, SinkStats,
    spool::{Batch, Spool},
};

/// Largest request body, roughly: a batch stops at the record that crosses it.
const BATCH_BYTES: usize = 4 << 20;
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long a batch waits to fill before it is sent anyway.
const LINGER: Duration = Duration::from_millis(500);
/// The longest `Retry-After` obeyed: a receiver asking for more is asked
/// again after this.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(300);
/// How long a stopping agent keeps trying to empty the spool; what is left
/// is sent by the next agent.
const DRAIN_ON_STOP: Duration = Duration::from_secs(5);

/// Sends one batch of spooled records.
pub trait Transport: Send + 'static {
    /// `&mut`: a transport keeps its buffers from one batch to the next.
    fn send(&mut self, batch: &Batch) -> Sent;
}

/// What became of a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    /// The receiver took the batch; `rejected` of its records it refused
    /// (OTLP partial success), for `reason`.
    Accepted { rejected: u64, reason: Option<String> },
    /// The receiver refuses these records for good.
    Refused(String),
    /// Try again: after `after` when the receiver said so.
    Retry { reason: String, after: Option<Duration> },
}

pub struct Sender {
    stop: Arc<AtomicBool>,
    spool: Arc<Spool>,
    thread: Option<JoinHandle<()>>,
}

impl Sender {
    pub fn start(
        mut transport: impl Transport,
        batch_records: usize,
        spool: Arc<Spool>,
        stats: Arc<SinkStats>,
    ) -> Result<Self, ExportError> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            let spool = Arc::clone(&spool);
            let sink = stats.name.clone();
            std::thread::Builder::new()
                .name(format!("palisade-{}", stats.name))
                .spawn(move || deliver(&mut transport, &spool, &stats, batch_records, &stop))
                .map_err(|e| ExportError::Start { sink, reason: e.to_string() })?
        };
        Ok(Self { stop, spool, thread: Some(thread) })
    }

    /// Stops after a last attempt to empty the spool.
    pub fn stop(&mut self) {
        self.stop.store(true, Relaxed);
        self.spool.wake();
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

fn deliver(
    transport: &mut impl Transport,
    spool: &Spool,
    stats: &SinkStats,
    batch: usize,
    stop: &AtomicBool,
) {
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
        if !stop.load(Relaxed) {
            spool.linger(batch, LINGER);
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
        match transport.send(&next) {
            Sent::Accepted { rejected, reason } => {
                if acknowledge(spool, &next, stats) {
                    let rejected = rejected.min(next.records);
                    stats.delivered.fetch_add(next.records - rejected, Relaxed);
                    stats.rejected.fetch_add(rejected, Relaxed);
                    if rejected > 0 {
                        warn!(
                            sink = stats.name,
                            rejected,
                            of = next.records,
                            reason = reason.as_deref().unwrap_or(""),
                            "the receiver took a batch but rejected some of its records; they are not sent again"
                        );
                    }
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
            Sent::Refused(reason) => {
                if acknowledge(spool, &next, stats) {
                    stats.rejected.fetch_add(next.records, Relaxed);
                }
                warn!(
                    sink = stats.name,
                    %reason,
                    records = next.records,
                    "the receiver refused a batch; its records are skipped"
                );
            }
            Sent::Retry { reason, after } => {
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
                let wait = match after {
                    Some(after) => after.min(RETRY_AFTER_MAX),
                    None => {
                        let wait = jitter(backoff);
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        wait
                    }
                };
                sleep_unless_stopped(wait, stop);
            }
        }
        spool.recycle(next);
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

/// Sleeps `wait`, cut short when the agent stops.
fn sleep_unless_stopped(wait: Duration, stop: &AtomicBool) {
    let until = Instant::now() + wait;
    while !stop.load(Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
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

/// Gzip for request bodies (fast level: a request's bytes on the wire, not
/// an archive), keeping its state and output buffer from one request to
/// the next: allocating and clearing a compressor's tables per request
/// cost as much as compressing a small batch.
pub struct Gzip {
    compress: flate2::Compress,
    out: Vec<u8>,
}

impl Default for Gzip {
    fn default() -> Self {
        Self {
            compress: flate2::Compress::new_gzip(flate2::Compression::fast(), 15),
            out: Vec::new(),
        }
    }
}

impl Gzip {
    /// `body` as one gzip member, for `Content-Encoding: gzip`.
    pub fn compress(&mut self, body: &[u8]) -> Result<&[u8], Sent> {
        use flate2::{FlushCompress, Status};
        self.compress.reset();
        self.out.clear();
        let mut input = body;
        loop {
            // Compressed JSON and protobuf are far smaller than their input.
            self.out.reserve(input.len() / 4 + 4096);
            let read = self.compress.total_in();
            let status = self
                .compress
                .compress_vec(input, &mut self.out, FlushCompress::Finish)
                .map_err(|e| Sent::Retry { reason: format!("gzip: {e}"), after: None })?;
            input = &input[(self.compress.total_in() - read) as usize..];
            if status == Status::StreamEnd {
                return Ok(&self.out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// One compressor serves many requests, each a whole gzip member of
    /// exactly its own body, however large.
    #[test]
    fn a_reused_gzip_compresses_each_body_alone() {
        let mut gzip = Gzip::default();
        let bodies: Vec<Vec<u8>> = [10, 1 << 20, 3]
            .iter()
            .enumerate()
            .map(|(i, n)| (0..*n).map(|j| (j * 7 + i) as u8 % 251).collect())
            .collect();
        for body in &bodies {
            let compressed = gzip.compress(body).unwrap().to_vec();
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&compressed[..]).read_to_end(&mut back).unwrap();
            assert_eq!(&back, body);
        }
    }
}
