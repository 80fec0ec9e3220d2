//! Hot reload: the bundle (a directory or a tarball) and the break-glass
//! orders are re-read every second and on SIGHUP; a changed bundle is
//! verified (with a key), validated and compiled off the event path, then
//! swapped in whole. A bad bundle is rejected with its reason, counted, kept
//! for readiness, and the previous one stays active.

use std::{path::PathBuf, sync::Arc, time::Duration};

use tokio::{
    signal::unix::{SignalKind, signal},
    sync::mpsc::Sender,
};
use tracing::{info, warn};

use super::{
    PolicyError, break_glass, bundle::Bundle, compiled::Policy, decision::Mode, load,
    signing::Verification,
};
use crate::stats::Stats;

/// How often the directory is re-read.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Where the agent's bundle comes from, and what the agent adds to it.
#[derive(Debug, Clone)]
pub struct Source {
    /// A directory or a tarball; the embedded baseline when none.
    pub path: Option<PathBuf>,
    /// The key the bundle must be signed with, when configured.
    pub verification: Option<Arc<Verification>>,
    /// Replaces the bundle's global mode (`palisade run --mode`).
    pub mode: Option<Mode>,
    /// Where break-glass orders are read (`policy::break_glass`).
    pub break_glass: Option<PathBuf>,
}

impl Source {
    /// The bundle as it is in force now: the mode override and the
    /// break-glass orders the bundle allows applied; with the refused
    /// orders and why.
    pub fn read(&self) -> Result<(Bundle, break_glass::Refusals), PolicyError> {
        Ok(self.apply(self.base()?))
    }

    /// The bundle as stored (verified, when a key is configured).
    fn base(&self) -> Result<Bundle, PolicyError> {
        match &self.path {
            None => Ok(Bundle::embedded()),
            Some(path) => Bundle::open(path, self.verification.as_deref()),
        }
    }

    /// When the bundle is a tarball: what tells a changed file (size,
    /// modification time, inode), so an unchanged one is not unpacked and
    /// verified again every second.
    fn tarball_stamp(&self) -> Option<(u64, std::time::SystemTime, u64)> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(self.path.as_ref()?).ok().filter(|m| m.is_file())?;
        Some((meta.len(), meta.modified().ok()?, meta.ino()))
    }

    /// The mode override and the break-glass orders applied.
    fn apply(&self, mut bundle: Bundle) -> (Bundle, break_glass::Refusals) {
        if let Some(mode) = self.mode {
            bundle.override_mode(mode);
        }
        let refused = match &self.break_glass {
            Some(orders) => {
                break_glass::apply(&mut bundle, orders, i128::from(crate::model::time::now_ns()))
            }
            None => Vec::new(),
        };
        (bundle, refused)
    }

    /// Whether anything can change after the start.
    pub fn changes(&self) -> bool {
        self.path.is_some() || self.break_glass.is_some()
    }
}

/// Watches `source`; each valid new bundle is sent on `updates`.
pub async fn watch(
    source: Source,
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
    let mut last_refused = break_glass::Refusals::new();
    let mut cache: Cache = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = hangup.recv() => info!("SIGHUP: re-reading the policy bundle"),
        }
        let (source, seen) = (source.clone(), current.clone());
        let mut kept = cache.take();
        let result = match tokio::task::spawn_blocking(move || {
            let result = reread(&source, &seen, &mut kept);
            (result, kept)
        })
        .await
        {
            Ok((result, kept)) => {
                cache = kept;
                Ok(result)
            }
            Err(err) => Err(err),
        };
        if let Ok(Reread::Unchanged(refused) | Reread::Loaded(_, refused)) = &result {
            // Each refused order once, not every second.
            log_refusals(refused.iter().filter(|r| !last_refused.contains(r)));
            last_refused = refused.clone();
        }
        match result {
            Ok(Reread::Unchanged(_)) => {}
            Ok(Reread::Loaded(policy, _)) => {
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
                    stats.count_policy_rejection(&err);
                    warn!(error = %err, "policy bundle rejected; the previous one stays active");
                    last_rejected = key;
                }
            }
            Err(err) => warn!(%err, "the policy reload task failed"),
        }
    }
}

/// Logs break-glass orders the bundle's limits refuse.
pub fn log_refusals<'a>(refused: impl IntoIterator<Item = &'a (std::path::PathBuf, String)>) {
    for (path, reason) in refused {
        warn!(order = %path.display(), %reason, "break-glass order refused");
    }
}

/// What re-reading the directory found.
enum Reread {
    /// The same bundle as the one in force (and the refused break-glass
    /// orders).
    Unchanged(break_glass::Refusals),
    Loaded(Arc<Policy>, break_glass::Refusals),
    /// Unreadable (digest empty) or invalid.
    Rejected {
        digest: String,
        err: PolicyError,
    },
}

/// A tarball's stamp and the bundle read from it.
type Cache = Option<((u64, std::time::SystemTime, u64), Bundle)>;

/// Reads the bundle at `source` (from `cache` when it is a tarball whose
/// stamp has not changed) and compiles it unless its digest is `seen`.
fn reread(source: &Source, seen: &str, cache: &mut Cache) -> Reread {
    let stamp = source.tarball_stamp();
    let base = match (stamp, cache.as_ref()) {
        (Some(now), Some((then, bundle))) if now == *then => Ok(bundle.clone()),
        _ => source.base().inspect(|bundle| {
            *cache = stamp.map(|s| (s, bundle.clone()));
        }),
    };
    let (bundle, refused) = match base {
        Ok(base) => source.apply(base),
        Err(err) => return Reread::Rejected { digest: String::new(), err },
    };
    if bundle.digest == seen {
        return Reread::Unchanged(refused);
    }
    match load::compile(&bundle) {
        Ok(policy) => Reread::Loaded(policy, refused),
        Err(err) => Reread::Rejected { digest: bundle.digest, err },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{decision::Action, eval::Evaluator};

    #[test]
    fn the_mode_flag_replaces_the_bundles_global_mode() {
        let source = |mode| Source { path: None, verification: None, mode, break_glass: None };
        let bundle = source(None).read().unwrap().0;
        let audit = load::compile(&bundle).unwrap();
        let enforce = load::compile(&source(Some(Mode::Enforce)).read().unwrap().0).unwrap();
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
