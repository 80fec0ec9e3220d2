//! The ring-buffer reader: it only drains. Records are copied out in batches
//! and handed to the processing thread over a bounded channel; when that
//! thread falls behind, the channel fills, the ring fills, and the kernel
//! counts what it cannot deliver (see `drops`).
//!
//! Wake-ups are batched: the kernel side writes most records without waking
//! us (it forces a wake-up once a quarter of the ring is waiting), and the
//! reader polls on a short timer. One wake-up then carries many records.

use std::time::Duration;

use aya::maps::{MapData, RingBuf};
use tokio::{
    io::{Interest, unix::AsyncFd},
    sync::mpsc,
};

/// Records sent per batch at most.
const BATCH_MAX: usize = 256;
/// The longest a record waits in the ring before the reader looks.
pub const POLL_INTERVAL: Duration = Duration::from_millis(10);

pub type Batch = Vec<Vec<u8>>;

/// Drains `ring` into `tx` until the receiver goes away.
pub async fn drain(ring: RingBuf<MapData>, tx: mpsc::Sender<Batch>) -> std::io::Result<()> {
    // SAFETY: the AsyncFd owns the ring buffer, so its fd stays open for as
    // long as it is registered.
    let mut fd = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }?;
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            guard = fd.readable_mut() => {
                let mut guard = guard?;
                if !send_all(guard.get_inner_mut(), &tx).await {
                    return Ok(());
                }
                guard.clear_ready();
            }
            _ = ticker.tick() => {
                if !send_all(fd.get_mut(), &tx).await {
                    return Ok(());
                }
            }
        }
    }
}

/// Sends everything in the ring, in batches. False once the receiver is gone.
async fn send_all(ring: &mut RingBuf<MapData>, tx: &mpsc::Sender<Batch>) -> bool {
    loop {
        let mut batch = Vec::new();
        while batch.len() < BATCH_MAX {
            let Some(item) = ring.next() else { break };
            batch.push(item.to_vec());
        }
        if batch.is_empty() {
            return true;
        }
        let full = batch.len() == BATCH_MAX;
        if tx.send(batch).await.is_err() {
            return false;
        }
        if !full {
            return true;
        }
    }
}
