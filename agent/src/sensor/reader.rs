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
//! A reader that found nothing for [`SLEEP_AFTER_IDLE_POLLS`] polls stops
//! polling: it raises the ring's `asleep` flag, and the kernel side wakes
//! it with the next record. An idle node then costs the agent a wake-up
//! per tick rather than one per poll, and the first record after a quiet
//! spell is read at once.

use std::time::Duration;

use aya::maps::{MapData, RingBuf};
use tracing::warn;

use super::decode::{DecodeError, Record, decode};
use crate::kernel::loader::EventRing;
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
/// Polls without records after which the reader sleeps until a record
/// wakes it.
const SLEEP_AFTER_IDLE_POLLS: u32 = 10;
/// How often a [`Message::Tick`] goes out while no record comes, so the
/// processing thread can report what it holds back (network events waiting
/// for an outcome or a count).
const IDLE_TICK: Duration = Duration::from_millis(100);

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

/// Drains the ring into `tx` until the receiver goes away.
pub async fn drain(events: EventRing, tx: mpsc::Sender<Message>) -> std::io::Result<()> {
    let EventRing { ring, mut asleep } = events;
    // SAFETY: the AsyncFd owns the ring buffer, so its fd stays open for as
    // long as it is registered.
    let mut fd = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }?;
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut idle_polls = 0;
    // Cleared if the kernel refuses the flag: the reader then keeps polling.
    let mut can_sleep = true;
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
        if idle_polls < SLEEP_AFTER_IDLE_POLLS {
            continue;
        }
        idle_polls = 0;
        if tx.send(Message::Tick).await.is_err() {
            return Ok(());
        }
        if can_sleep {
            match sleep(&mut fd, &mut asleep, &tx).await {
                Ok(true) => ticker.reset(),
                Ok(false) => return Ok(()),
                Err(err) => {
                    warn!(%err, "cannot raise the ring reader's sleep flag; polling every {POLL_INTERVAL:?} instead");
                    can_sleep = false;
                }
            }
        }
    }
}

/// Raises the `asleep` flag and waits for a record to wake the reader,
/// ticking every [`IDLE_TICK`]; lowers it once woken. `Ok(false)` once the
/// receiver is gone.
async fn sleep(
    fd: &mut AsyncFd<RingBuf<MapData>>,
    asleep: &mut aya::maps::Array<MapData, u32>,
    tx: &mpsc::Sender<Message>,
) -> Result<bool, aya::maps::MapError> {
    asleep.set(0, 1, 0)?;
    // A record written before the kernel saw the flag woke no one.
    let open = match send_all(fd.get_mut(), tx).await {
        None => false,
        Some(0) => wait_for_a_record(fd, tx).await,
        Some(_) => true,
    };
    asleep.set(0, 0, 0)?;
    Ok(open)
}

/// Ticks every [`IDLE_TICK`] until the ring says a record is there (its
/// readiness is left set, so the reader's loop drains at once); `false`
/// once the receiver is gone. Each tick also looks in the ring: a program
/// that read the flag down just before it went up, and wrote its record
/// just after the last drain, woke no one.
async fn wait_for_a_record(fd: &mut AsyncFd<RingBuf<MapData>>, tx: &mpsc::Sender<Message>) -> bool {
    loop {
        tokio::select! {
            guard = fd.readable_mut() => return guard.is_ok(),
            () = tokio::time::sleep(IDLE_TICK) => match send_all(fd.get_mut(), tx).await {
                None => return false,
                Some(0) => {
                    if tx.send(Message::Tick).await.is_err() {
                        return false;
                    }
                }
                Some(_) => return true,
            },
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
