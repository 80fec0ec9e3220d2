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

/// The exec hook's link is pinned (the network hooks are pinned alongside
/// it wherever the kernel has them).
pub fn enforcement_in_force() -> bool {
    pins::links_dir().join(names::PROG_EXEC).exists()
}
