//! Hot reload: the bundle directory is re-read every second and on SIGHUP;
//! a changed bundle is validated and compiled off the event path, then swapped
//! in whole. A bad bundle is rejected with its reason, counted, and the
//! previous one stays active.

use std::{path::PathBuf, sync::Arc, time::Duration};

use tokio::{
    signal::unix::{SignalKind, signal},
    sync::mpsc::Sender,
};
use tracing::{info, warn};

use super::{PolicyError, bundle::Bundle, compiled::Policy, decision::Mode, load};
use crate::stats::Stats;

/// How often the directory is re-read.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Where the agent's bundle comes from.
#[derive(Debug, Clone)]
pub enum Source {
    Embedded,
    Dir(PathBuf),
}

impl Source {
    /// The bundle, its global mode replaced by `mode` when given
    /// (`palisade run --mode`).
    pub fn read(&self, mode: Option<Mode>) -> Result<Bundle, PolicyError> {
        let mut bundle = match self {
            Source::Embedded => Bundle::embedded(),
            Source::Dir(dir) => Bundle::from_dir(dir)?,
        };
        if let Some(mode) = mode {
            bundle.override_mode(mode);
        }
        Ok(bundle)
    }
}

/// Watches `dir`; each valid new bundle is sent on `updates`.
pub async fn watch(
    dir: PathBuf,
    mode: Option<Mode>,
    mut current: String,
    updates: Sender<Arc<Policy>>,
    stats: Arc<Stats>,
) {
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        warn!("cannot listen for SIGHUP; the policy is still re-read every second");
        return;
    };
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    let mut last_rejected = String::new();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = hangup.recv() => info!(dir = %dir.display(), "SIGHUP: re-reading the policy bundle"),
        }
        let source = Source::Dir(dir.clone());
        let seen = current.clone();
        let result = tokio::task::spawn_blocking(move || reread(&source, mode, &seen)).await;
        match result {
            Ok(Reread::Unchanged) => {}
            Ok(Reread::Loaded(policy)) => {
                info!(
                    bundle = policy.short_digest(),
                    rules = policy.rules.len(),
                    "new policy bundle validated"
                );
                for warning in &policy.exception_warnings {
                    warn!("{warning}");
                }
                current = policy.digest.clone();
                if updates.send(policy).await.is_err() {
                    return;
                }
            }
            Ok(Reread::Rejected { digest, err }) => {
                // Report each distinct bad bundle once, not every second.
                let key = format!("{digest}{err}");
                if key != last_rejected {
                    stats.policy_load_failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    warn!(error = %err, "policy bundle rejected; the previous one stays active");
                    last_rejected = key;
                }
            }
            Err(err) => warn!(%err, "the policy reload task failed"),
        }
    }
}

/// What re-reading the directory found.
enum Reread {
    /// The same bundle as the one in force.
    Unchanged,
    Loaded(Arc<Policy>),
    /// Unreadable (digest empty) or invalid.
    Rejected {
        digest: String,
        err: PolicyError,
    },
}

/// Reads the bundle at `source` and compiles it unless its digest is `seen`.
fn reread(source: &Source, mode: Option<Mode>, seen: &str) -> Reread {
    let bundle = match source.read(mode) {
        Ok(bundle) => bundle,
        Err(err) => return Reread::Rejected { digest: String::new(), err },
    };
    if bundle.digest == seen {
        return Reread::Unchanged;
    }
    match load::compile(&bundle) {
        Ok(policy) => Reread::Loaded(policy),
        Err(err) => Reread::Rejected { digest: bundle.digest, err },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{decision::Action, eval::Evaluator};

    #[test]
    fn the_mode_flag_replaces_the_bundles_global_mode() {
        let bundle = Source::Embedded.read(None).unwrap();
        let audit = load::compile(&bundle).unwrap();
        let enforce = load::compile(&Source::Embedded.read(Some(Mode::Enforce)).unwrap()).unwrap();
        assert_eq!((audit.mode.as_str(), enforce.mode.as_str()), ("audit", "enforce"));
        let (mut audit, mut enforce) = (Evaluator::new(&audit), Evaluator::new(&enforce));
        let mut killed = 0;
        for sample in &bundle.samples {
            assert!(audit.eval(sample).unwrap().action <= Action::Alert, "{sample}");
            killed += usize::from(enforce.eval(sample).unwrap().action == Action::Kill);
        }
        assert!(killed > 0, "no sample is killed in enforce mode");
    }
}
