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

use super::{PolicyError, bundle::Bundle, compiled::Policy, load};
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
    pub fn read(&self) -> Result<Bundle, PolicyError> {
        match self {
            Source::Embedded => Ok(Bundle::embedded()),
            Source::Dir(dir) => Bundle::from_dir(dir),
        }
    }
}

/// Watches `dir`; each valid new bundle is sent on `updates`.
pub async fn watch(
    dir: PathBuf,
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
        let result = tokio::task::spawn_blocking(move || reread(&source, &seen)).await;
        match result {
            Ok(Reread::Unchanged) => {}
            Ok(Reread::Loaded(policy)) => {
                info!(
                    bundle = policy.short_digest(),
                    rules = policy.rules.len(),
                    "new policy bundle validated"
                );
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
fn reread(source: &Source, seen: &str) -> Reread {
    let bundle = match source.read() {
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
