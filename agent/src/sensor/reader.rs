//! The ring-buffer reader: it drains and decodes. Each record is decoded
//! where it lies in the ring (no copy of its raw bytes, which for an exec
//! are kilobytes of arguments and environment) and handed to the
//! processing thread in batches over a bounded channel; when that thread
//! falls behind, the channel fills, the ring fills, and the kernel counts
//! what it cannot deliver (see `drops`).
//!
//! Wake-ups are batched: the kernel side writes most records without waking
//! us (it forces a wake-up once a quarter of the ring is waiting), and the
//! reader polls on a short timer. One wake-up then carries many records.

use std::time::Duration;

use aya::maps::{MapData, RingBuf};

use super::decode::{DecodeError, Record, decode};
use tokio::{
    io::{Interest, unix::AsyncFd},
    sync::mpsc,
};

/// Records sent per batch at most.
const BATCH_MAX: usize = 256;
/// Room made for a batch at once: one allocation for what a poll usually
/// finds, rather than a growing one per doubling.
const BATCH_CAPACITY: usize = 64;
/// The longest a record waits in the ring before the reader looks.
pub const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Polls without records after which a [`Message::Tick`] goes out, so the
/// processing thread can report what it holds back (network events waiting
/// for an outcome or a count).
const TICK_AFTER_IDLE_POLLS: u32 = 10;

/// A record as decoded, or why it could not be.
pub type Decoded = Result<Record, Corrupt>;

pub type Batch = Vec<Decoded>;

/// A record that did not decode: what was wrong, and its size.
#[derive(Debug)]
pub struct Corrupt {
    pub error: DecodeError,
    pub bytes: usize,
}

/// What the reader hands the processing thread.
#[derive(Debug)]
pub enum Message {
    /// Records, in ring order (never empty).
    Records(Batch),
    /// Nothing came for a while: what is held back may be due.
    Tick,
    /// The kernel-rules keeper found enforcement state changed behind the
    /// agent's back, and put it back: to be recorded.
    Tampered(crate::kernel::rules::Tampering),
    /// Open connections a rule set coming into force denies (ended, or
    /// left open by an audit-mode rule): to be recorded.
    DeniedConnections(Vec<crate::workloads::sever::DeniedConnection>),
}

/// Drains `ring` into `tx` until the receiver goes away.
pub async fn drain(ring: RingBuf<MapData>, tx: mpsc::Sender<Message>) -> std::io::Result<()> {
    // SAFETY: the AsyncFd owns the ring buffer, so its fd stays open for as
    // long as it is registered.
    let mut fd = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }?;
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut idle_polls = 0;
    loop {
        let sent = tokio::select! {
            guard = fd.readable_mut() => {
                let mut guard = guard?;
                let sent = send_all(guard.get_inner_mut(), &tx).await;
                guard.clear_ready();
                sent
            }
            _ = ticker.tick() => send_all(fd.get_mut(), &tx).await,
        };
        match sent {
            None => return Ok(()),
            Some(0) => idle_polls += 1,
            Some(_) => idle_polls = 0,
        }
        if idle_polls >= TICK_AFTER_IDLE_POLLS {
            idle_polls = 0;
            if tx.send(Message::Tick).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// Sends everything in the ring, in batches; returns how many records, or
/// None once the receiver is gone.
async fn send_all(ring: &mut RingBuf<MapData>, tx: &mpsc::Sender<Message>) -> Option<usize> {
    let mut sent = 0;
    loop {
        let mut batch = Vec::new();
        while batch.len() < BATCH_MAX {
            let Some(item) = ring.next() else { break };
            // Room is made once a record is there: most polls find none.
            if batch.is_empty() {
                batch.reserve(BATCH_CAPACITY);
            }
            batch.push(decode(&item).map_err(|error| Corrupt { error, bytes: item.len() }));
        }
        if batch.is_empty() {
            return Some(sent);
        }
        let full = batch.len() == BATCH_MAX;
        sent += batch.len();
        tx.send(Message::Records(batch)).await.ok()?;
        if !full {
            return Some(sent);
        }
    }
}
