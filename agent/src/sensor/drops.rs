//! Watching the kernel's per-kind drop counters.

use std::time::Duration;

use aya::maps::{MapData, PerCpuArray};
use palisade_common::kind;
use tracing::warn;

use crate::stats::Stats;

/// How often the counters are read: drops are reported within this time.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Sums each kind's per-CPU counters.
fn read_totals(drops: &PerCpuArray<MapData, u64>) -> [u64; kind::COUNT as usize] {
    let mut totals = [0u64; kind::COUNT as usize];
    for (k, total) in totals.iter_mut().enumerate() {
        if let Ok(values) = drops.get(&(k as u32), 0) {
            *total = values.iter().sum();
        }
    }
    totals
}

/// Publishes the kernel's counters into `stats` and logs every increase.
pub async fn watch(drops: PerCpuArray<MapData, u64>, stats: &Stats) {
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    loop {
        ticker.tick().await;
        for (k, total) in read_totals(&drops).into_iter().enumerate() {
            let previous = stats.kernel_drops[k].swap(total, std::sync::atomic::Ordering::Relaxed);
            if total > previous {
                warn!(
                    kind = kind::name(k as u32),
                    dropped = total - previous,
                    total,
                    "the kernel dropped records (ring buffer full or a kernel read failed)"
                );
            }
        }
    }
}
