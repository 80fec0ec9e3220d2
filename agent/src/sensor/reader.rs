//! The ring-buffer reader: it only drains. Records are copied out in batches
//! and handed to the processing thread over a bounded channel; when that
//! thread falls behind, the channel fills, the ring fills, and the kernel
//! counts what it cannot deliver (see `drops`).

use aya::maps::{MapData, RingBuf};
use tokio::{
    io::{Interest, unix::AsyncFd},
    sync::mpsc,
};

/// Records sent per batch at most.
const BATCH_MAX: usize = 256;

pub type Batch = Vec<Vec<u8>>;

/// Drains `ring` into `tx` until the receiver goes away.
pub async fn drain(ring: RingBuf<MapData>, tx: mpsc::Sender<Batch>) -> std::io::Result<()> {
    // SAFETY: the AsyncFd owns the ring buffer, so its fd stays open for as
    // long as it is registered.
    let mut fd = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }?;
    loop {
        let mut guard = fd.readable_mut().await?;
        let ring = guard.get_inner_mut();
        let mut batch = Vec::with_capacity(BATCH_MAX);
        loop {
            while batch.len() < BATCH_MAX {
                let Some(item) = ring.next() else { break };
                batch.push(item.to_vec());
            }
            if batch.is_empty() {
                break;
            }
            let full = batch.len() == BATCH_MAX;
            if tx
                .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH_MAX)))
                .await
                .is_err()
            {
                return Ok(());
            }
            if !full {
                break;
            }
        }
        guard.clear_ready();
    }
}
