//! Counters of what the agent saw, delivered and lost. Nothing is lost
//! silently: every drop has a counter here and a log line when it moves.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use palisade_common::kind;

#[derive(Debug, Default)]
pub struct Stats {
    /// Records decoded, by kind.
    pub records: [AtomicU64; kind::COUNT as usize],
    /// Events written out.
    pub events_written: AtomicU64,
    /// Records the kernel could not deliver (ring buffer full or a failed
    /// kernel read), by kind, as last read from the kernel's counters.
    pub kernel_drops: [AtomicU64; kind::COUNT as usize],
    /// Records that failed to decode.
    pub decode_errors: AtomicU64,
    /// Decisions with a match, by resulting action (see [`ACTIONS`]).
    pub decisions: [AtomicU64; ACTIONS.len()],
    /// Evaluations that failed (errors, limits).
    pub eval_errors: AtomicU64,
    /// Matches suppressed by an exception.
    pub exceptions_used: AtomicU64,
    /// Exceptions seen to expire.
    pub exceptions_expired: AtomicU64,
    /// New bundles rejected by validation.
    pub policy_load_failures: AtomicU64,
}

/// Decision actions, in the order of [`Stats::decisions`].
pub const ACTIONS: [&str; 4] = ["allow", "alert", "block", "kill"];

impl Stats {
    pub fn count_record(&self, kind: u32) {
        if let Some(c) = self.records.get(kind as usize) {
            c.fetch_add(1, Relaxed);
        }
    }

    pub fn count_decision(&self, action: &str) {
        if let Some(i) = ACTIONS.iter().position(|a| *a == action) {
            self.decisions[i].fetch_add(1, Relaxed);
        }
    }

    /// Records decoded, by kind name.
    pub fn records_by_kind(&self) -> Vec<(&'static str, u64)> {
        (1..kind::COUNT).map(|k| (kind::name(k), self.records[k as usize].load(Relaxed))).collect()
    }

    /// Decisions with a match, by action.
    pub fn decisions_by_action(&self) -> Vec<(&'static str, u64)> {
        ACTIONS.iter().zip(&self.decisions).map(|(a, c)| (*a, c.load(Relaxed))).collect()
    }

    pub fn kernel_drops_total(&self) -> u64 {
        self.kernel_drops.iter().map(|c| c.load(Relaxed)).sum()
    }
}
