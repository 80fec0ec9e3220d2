//! Readiness: the agent is ready when its programs are attached, a policy
//! is loaded, every export sink accepts records, and enforcement is in force (the
//! enforcing links are pinned, so it outlives the agent too).

use std::sync::atomic::Ordering::Relaxed;

use palisade_common::names;

use crate::{kernel::pins, stats::Stats};

/// Why the agent is not ready, one reason per failed check.
pub fn problems(stats: &Stats) -> Vec<String> {
    let mut why = Vec::new();
    if !stats.attached.load(Relaxed) {
        why.push("the eBPF programs are not attached yet".to_string());
    }
    if stats.bundle_digest.lock().map_or(true, |d| d.is_empty()) {
        why.push("no policy bundle is loaded".to_string());
    }
    match stats.sinks.get() {
        None => why.push("the export sinks are not open yet".to_string()),
        Some(sinks) => {
            for sink in sinks.iter().filter(|s| !s.accepting.load(Relaxed)) {
                let error = sink.last_error.lock().map(|e| e.clone()).unwrap_or_default();
                why.push(format!("sink `{}` does not accept records: {error}", sink.name));
            }
        }
    }
    if !enforcement_in_force() {
        why.push(format!(
            "enforcement is not in force: the link of {} is not pinned under {}",
            names::PROG_EXEC,
            pins::PIN_DIR
        ));
    }
    why
}

/// What readiness reports beside its verdict: the bundle in force (digest
/// and revision) and why the last new bundle was rejected, if it was. A
/// rejected bundle does not make the agent unready: the last good one stays
/// in force, and failing readiness would only stall a rollout; the reason is
/// shown here, logged, and counted in `palisade_policy_load_failures_total`.
pub fn policy_lines(stats: &Stats) -> Vec<String> {
    let mut lines = Vec::new();
    let digest = stats.bundle_digest.lock().map(|d| d.clone()).unwrap_or_default();
    if !digest.is_empty() {
        let revision = stats.bundle_revision.lock().map(|r| r.clone()).unwrap_or_default();
        let revision = if revision.is_empty() { "none".to_string() } else { revision };
        lines
            .push(format!("policy bundle {} revision {revision}", &digest[..digest.len().min(12)]));
    }
    if let Some(err) = stats.policy_last_error.lock().ok().and_then(|e| e.clone()) {
        lines.push(format!("last policy bundle rejected (the bundle above stays in force): {err}"));
    }
    lines
}

/// The exec hook's link is pinned (the network hooks are pinned alongside
/// it wherever the kernel has them).
pub fn enforcement_in_force() -> bool {
    pins::links_dir().join(names::PROG_EXEC).exists()
}
