//! Counters of what the agent saw, delivered and lost. Nothing is lost
//! silently: every drop has a counter here and a log line when it moves.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
    },
    time::Duration,
};

use palisade_common::kind;

use crate::{export::SinkStats, policy::decision::Action};

#[derive(Debug, Default)]
pub struct Stats {
    /// Records decoded, by kind.
    pub records: [AtomicU64; kind::COUNT as usize],
    /// Records handed to the export sinks.
    pub events_written: AtomicU64,
    /// Secrets replaced in records before export.
    pub redacted_values: AtomicU64,
    /// Break-glass orders by phase: started, ended, revoked.
    pub break_glass: [AtomicU64; 3],
    /// Enforcement map entries (and the active generation) found changed
    /// behind the agent's back and put back.
    pub tampered_entries: AtomicU64,
    /// Connections open before a rule set that denies them, ended when it
    /// came into force.
    pub connections_ended: AtomicU64,
    /// Records the kernel could not deliver (ring buffer full or a failed
    /// kernel read), by kind, as last read from the kernel's counters.
    pub kernel_drops: [AtomicU64; kind::COUNT as usize],
    /// Records that failed to decode.
    pub decode_errors: AtomicU64,
    /// Decisions with a match, by resulting action (see [`Action::ALL`]).
    pub decisions: [AtomicU64; Action::ALL.len()],
    /// Evaluations that failed (errors, limits).
    pub eval_errors: AtomicU64,
    /// Matches suppressed by an exception.
    pub exceptions_used: AtomicU64,
    /// Exceptions seen to expire.
    pub exceptions_expired: AtomicU64,
    /// New bundles rejected (unreadable, invalid, or a failed signature).
    pub policy_load_failures: AtomicU64,
    /// Of those, the ones whose signature did not hold.
    pub policy_signature_failures: AtomicU64,
    /// Why the last new bundle was rejected, until one loads.
    pub policy_last_error: Mutex<Option<String>>,
    /// Matched rules, by (rule id, decision action).
    pub rule_decisions: Mutex<BTreeMap<(String, String), u64>>,
    /// What each matched or suppressed rule came to (see [`RuleOutcome`]).
    pub rule_outcomes: Mutex<BTreeMap<RuleOutcome, u64>>,
    /// Exception uses, by (exception id, rule id).
    pub exception_uses: Mutex<BTreeMap<(String, String), u64>>,
    /// The exceptions of the bundle in force: (id, owner, expiry in ns since
    /// the epoch), for the seconds-to-expiry gauge.
    pub exceptions: Mutex<Vec<(String, String, i128)>>,
    /// Policy evaluation latency.
    pub eval_latency: Histogram,
    /// Digest of the bundle in force.
    pub bundle_digest: Mutex<String>,
    /// Its manifest's revision (empty when none).
    pub bundle_revision: Mutex<String>,
    /// The programs are loaded and attached.
    pub attached: AtomicBool,
    /// The export sinks, set once they are open.
    pub sinks: OnceLock<Vec<Arc<SinkStats>>>,
    /// Cgroups registered in the kernel's workload map.
    pub workloads_tracked: AtomicU64,
    /// Distinct kernel profiles in force.
    pub workload_profiles: AtomicU64,
    /// Workloads that could not be placed (map or profiles full, the
    /// bundle's scopes failing): they keep the hooks' fallback.
    pub workloads_unplaced: AtomicU64,
    /// From a cgroup's creation (the kernel's `cgroup_mkdir`) to its
    /// profile in the kernel.
    pub workload_classification: Histogram,
}

/// The phases of a break-glass order, in [`Stats::break_glass`]'s order.
pub const BREAK_GLASS_PHASES: [&str; 3] = ["started", "ended", "revoked"];

/// What a matched rule came to, for `palisade_rule_outcomes_total`. Every
/// label comes from the bundle (rule ids, actions, modes) or from this
/// fixed vocabulary, never from an event: the label set is bounded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleOutcome {
    pub rule: String,
    /// The rule's own action.
    pub action: &'static str,
    pub mode: &'static str,
    /// `denied`, `killed`, `exited` (gone before the kill), `failed`,
    /// `reported` (a block nothing here can enforce), `would_block` (audit
    /// mode, block or kill), `alerted`, `suppressed` (by an exception).
    pub outcome: &'static str,
}

/// Upper bounds (seconds) of the evaluation latency histogram's buckets.
pub const LATENCY_BUCKETS: [f64; 10] =
    [0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.1];

/// A Prometheus histogram: cumulative-ready bucket counts and a sum.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations at or below each bound of [`LATENCY_BUCKETS`] but above
    /// the previous one; the last slot counts those above every bound.
    pub buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    pub sum_ns: AtomicU64,
}

impl Histogram {
    pub fn observe_ns(&self, ns: u64) {
        self.observe(Duration::from_nanos(ns));
    }

    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = LATENCY_BUCKETS.iter().position(|b| secs <= *b).unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(d.as_nanos() as u64, Relaxed);
    }
}

impl Stats {
    pub fn count_record(&self, kind: u32) {
        if let Some(c) = self.records.get(kind as usize) {
            c.fetch_add(1, Relaxed);
        }
    }

    pub fn count_decision(&self, action: Action) {
        self.decisions[action as usize].fetch_add(1, Relaxed);
    }

    pub fn count_rule(&self, rule: &str, action: &str) {
        if let Ok(mut map) = self.rule_decisions.lock() {
            *map.entry((rule.to_string(), action.to_string())).or_insert(0) += 1;
        }
    }

    /// What one rule came to in one decision.
    pub fn count_outcome(&self, outcome: RuleOutcome) {
        if let Ok(mut map) = self.rule_outcomes.lock() {
            *map.entry(outcome).or_insert(0) += 1;
        }
    }

    pub fn count_break_glass(&self, phase: &str) {
        if let Some(i) = BREAK_GLASS_PHASES.iter().position(|p| *p == phase) {
            self.break_glass[i].fetch_add(1, Relaxed);
        }
    }

    pub fn count_exception_use(&self, exception: &str, rule: &str) {
        self.exceptions_used.fetch_add(1, Relaxed);
        if let Ok(mut map) = self.exception_uses.lock() {
            *map.entry((exception.to_string(), rule.to_string())).or_insert(0) += 1;
        }
    }

    /// The bundle now in force: its digest and exceptions.
    pub fn set_bundle(&self, policy: &crate::policy::compiled::Policy) {
        if let Ok(mut d) = self.bundle_digest.lock() {
            *d = policy.digest.clone();
        }
        if let Ok(mut r) = self.bundle_revision.lock() {
            *r = policy.revision.clone().unwrap_or_default();
        }
        if let Ok(mut e) = self.policy_last_error.lock() {
            *e = None;
        }
        if let Ok(mut e) = self.exceptions.lock() {
            *e = policy
                .exceptions
                .iter()
                .map(|x| (x.id.clone(), x.owner.clone(), x.expires_ns))
                .collect();
        }
    }

    /// A new bundle rejected: counted (by signature too) and kept as the
    /// last error until a bundle loads.
    pub fn count_policy_rejection(&self, err: &crate::policy::PolicyError) {
        self.policy_load_failures.fetch_add(1, Relaxed);
        if matches!(err, crate::policy::PolicyError::Signature { .. }) {
            self.policy_signature_failures.fetch_add(1, Relaxed);
        }
        if let Ok(mut e) = self.policy_last_error.lock() {
            *e = Some(err.to_string());
        }
    }

    /// Records decoded, by kind name.
    pub fn records_by_kind(&self) -> Vec<(&'static str, u64)> {
        (1..kind::COUNT).map(|k| (kind::name(k), self.records[k as usize].load(Relaxed))).collect()
    }

    /// Decisions with a match, by action.
    pub fn decisions_by_action(&self) -> Vec<(&'static str, u64)> {
        Action::ALL
            .iter()
            .zip(&self.decisions)
            .map(|(a, c)| (a.as_str(), c.load(Relaxed)))
            .collect()
    }

    pub fn kernel_drops_total(&self) -> u64 {
        self.kernel_drops.iter().map(|c| c.load(Relaxed)).sum()
    }
}
