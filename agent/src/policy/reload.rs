//! Hot reload: the bundle (a directory or a tarball) and the break-glass
//! orders are re-read every second and on SIGHUP, a bundle server polled on
//! its own schedule ([`server`]); a changed bundle is verified (with a key),
//! validated and compiled off the event path, then swapped in whole. A bad
//! bundle is rejected with its reason, counted, kept for readiness, and the
//! previous one stays active.

use std::{
    borrow::Cow,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    signal::unix::{SignalKind, signal},
    sync::mpsc::Sender,
};
use tracing::{info, warn};

use super::{
    PolicyError, break_glass,
    bundle::Bundle,
    compiled::Policy,
    decision::Mode,
    load,
    server::{BundleServer, Fetched},
    signing::Verification,
    tarball,
};
use crate::stats::Stats;

/// How often the directory is re-read.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Where the agent's bundle comes from, and what the agent adds to it.
#[derive(Clone)]
pub struct Source {
    pub location: Location,
    /// The key the bundle must be signed with, when configured.
    pub verification: Option<Arc<Verification>>,
    /// Replaces the bundle's global mode (`palisade run --mode`).
    pub mode: Option<Mode>,
    /// Where break-glass orders are read (`policy::break_glass`).
    pub break_glass: Option<PathBuf>,
}

/// Where the bundle is.
#[derive(Clone)]
pub enum Location {
    /// The baseline compiled into the binary.
    Embedded,
    /// A directory or a tarball.
    Path(PathBuf),
    /// A bundle server, and the last bundle from it that went live.
    Server(Arc<Mutex<ServerState>>),
}

/// A bundle server being polled, and what it last sent.
pub struct ServerState {
    server: BundleServer,
    /// The bundle in force, as the server sent it.
    live: Option<Bundle>,
    /// A bundle just downloaded, with its tarball, until it goes live.
    pending: Option<(Bundle, Vec<u8>)>,
    /// The last fetch failure logged, so an outage is logged once.
    last_failure: Option<String>,
}

impl Location {
    /// A bundle server, nothing fetched yet.
    pub fn server(server: BundleServer) -> Self {
        Self::Server(Arc::new(Mutex::new(ServerState {
            server,
            live: None,
            pending: None,
            last_failure: None,
        })))
    }
}

impl ServerState {
    /// The bundle to apply now: a newly downloaded one (pending until it
    /// compiles), else the live one. A failed poll is logged (once per
    /// distinct failure), counted into `stats` and leaves the live bundle.
    fn base(
        &mut self,
        verification: Option<&Verification>,
        stats: Option<&Stats>,
    ) -> Result<Bundle, PolicyError> {
        let url = self.server.url().to_string();
        match self.server.poll() {
            Ok(Fetched::Unchanged) => {}
            Ok(Fetched::Bundle(bytes)) => {
                self.last_failure = None;
                let bundle = unpack(&url, &bytes, verification)?;
                self.pending = Some((bundle.clone(), bytes));
                return Ok(bundle);
            }
            Err(err) => {
                let err =
                    PolicyError::Bundle { location: url.clone(), reason: server_reason(&err) };
                if self.last_failure.as_deref() != Some(&err.to_string()) {
                    warn!(error = %err, "the bundle server failed; the bundle in force stays");
                    self.last_failure = Some(err.to_string());
                }
                if let Some(stats) = stats {
                    stats.count_policy_rejection(&err);
                }
                if self.live.is_none() {
                    return Err(err);
                }
            }
        }
        self.live.clone().ok_or_else(|| PolicyError::Bundle {
            location: url,
            reason: "the bundle server has sent no bundle yet".into(),
        })
    }

    /// The pending bundle compiled: it is live, and persisted.
    fn went_live(&mut self) {
        let Some((bundle, bytes)) = self.pending.take() else { return };
        self.live = Some(bundle);
        if let Err(err) = self.server.went_live(&bytes) {
            warn!(error = %crate::errors::chain(&err), "cannot persist the bundle: a restart while the server is down would find no bundle");
        }
    }

    /// The first bundle, at the agent's start: the server's; or, if it
    /// fails, the one persisted by an earlier run (verified again). Its
    /// ETag goes with the first request, so an unchanged bundle is not
    /// downloaded again.
    fn first(&mut self, verification: Option<&Verification>) -> Result<Bundle, PolicyError> {
        let url = self.server.url().to_string();
        let cached = self.server.cached().map_err(|err| PolicyError::Bundle {
            location: url.clone(),
            reason: crate::errors::chain(&err),
        })?;
        let persisted = match &cached {
            Some(bytes) => match unpack(&url, bytes, verification) {
                Ok(bundle) => Some(bundle),
                Err(err) => {
                    warn!(error = %err, "the persisted bundle is unusable; fetching it whole");
                    self.server.forget_etag();
                    None
                }
            },
            None => None,
        };
        match (self.server.poll_now(), persisted) {
            (Ok(Fetched::Bundle(bytes)), _) => {
                let bundle = unpack(&url, &bytes, verification)?;
                self.pending = Some((bundle.clone(), bytes));
                Ok(bundle)
            }
            (Ok(Fetched::Unchanged), Some(bundle)) => {
                self.live = Some(bundle.clone());
                Ok(bundle)
            }
            (Ok(Fetched::Unchanged), None) => Err(PolicyError::Bundle {
                location: url,
                reason: "the server answered 304 Not Modified to a first request".into(),
            }),
            (Err(err), Some(bundle)) => {
                warn!(
                    error = %crate::errors::chain(&err),
                    revision = bundle.revision.as_deref().unwrap_or("none"),
                    "the bundle server failed: enforcing the bundle persisted by the last run"
                );
                self.last_failure = Some(err.to_string());
                self.live = Some(bundle.clone());
                Ok(bundle)
            }
            (Err(err), None) => Err(PolicyError::Bundle {
                location: url,
                reason: format!(
                    "{} (and no bundle persisted by an earlier run)",
                    server_reason(&err)
                ),
            }),
        }
    }
}

/// A server failure's reason, without the URL its error starts with.
fn server_reason(err: &super::server::ServerError) -> String {
    match err {
        super::server::ServerError::Fetch { reason, .. } => reason.clone(),
        other => crate::errors::chain(other),
    }
}

/// A tarball from the server as a bundle (verified, with a key).
fn unpack(
    url: &str,
    bytes: &[u8],
    verification: Option<&Verification>,
) -> Result<Bundle, PolicyError> {
    let mut files = tarball::unpack(bytes)
        .map_err(|reason| PolicyError::Bundle { location: url.to_string(), reason })?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Bundle::from_raw(url.to_string(), files, verification)
}

impl Source {
    /// The bundle as it is in force at the start: the mode override and
    /// the break-glass orders the bundle allows applied; with the refused
    /// orders and why.
    pub fn read(&self) -> Result<(Bundle, break_glass::Refusals), PolicyError> {
        let base = match &self.location {
            Location::Server(state) => lock(state).first(self.verification.as_deref())?,
            _ => self.base(None)?,
        };
        let (orders, refused) = self.orders(&base);
        Ok((self.apply(base, &orders), refused))
    }

    /// The bundle as stored (verified, when a key is configured).
    fn base(&self, stats: Option<&Stats>) -> Result<Bundle, PolicyError> {
        match &self.location {
            Location::Embedded => Ok(Bundle::embedded()),
            Location::Path(path) => Bundle::open(path, self.verification.as_deref()),
            Location::Server(state) => lock(state).base(self.verification.as_deref(), stats),
        }
    }

    /// The first bundle compiled and went live: a server's is persisted.
    pub fn went_live(&self) {
        if let Location::Server(state) = &self.location {
            lock(state).went_live();
        }
    }

    /// What tells a changed bundle without reading it, so an unchanged one
    /// is not read, unpacked and verified again every second: a tarball's
    /// size, modification time and inode; the embedded bundle never changes
    /// (it is re-read only for its break-glass orders, applied after).
    fn stamp(&self) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let path = match &self.location {
            Location::Embedded => return Some(Stamp::Embedded),
            Location::Path(path) => path,
            _ => return None,
        };
        let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
        Some(Stamp::Tarball(meta.len(), meta.modified().ok()?, meta.ino()))
    }

    /// The mode override and `orders` (see [`Source::orders`]) applied.
    fn apply(&self, mut bundle: Bundle, orders: &[break_glass::Order]) -> Bundle {
        if let Some(mode) = self.mode {
            bundle.override_mode(mode);
        }
        break_glass::add(&mut bundle, orders);
        bundle
    }

    /// The break-glass orders in force that `bundle` allows, and the
    /// refused ones (none without a break-glass directory).
    fn orders(&self, bundle: &Bundle) -> (Vec<break_glass::Order>, break_glass::Refusals) {
        match &self.break_glass {
            Some(dir) => {
                break_glass::orders_in_force(bundle, dir, i128::from(crate::model::time::now_ns()))
            }
            None => Default::default(),
        }
    }

    /// Whether anything can change after the start.
    pub fn changes(&self) -> bool {
        !matches!(self.location, Location::Embedded) || self.break_glass.is_some()
    }
}

/// The server's state, even if a reload task panicked holding it.
fn lock(state: &Mutex<ServerState>) -> std::sync::MutexGuard<'_, ServerState> {
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
            _ = hangup.recv() => {
                info!("SIGHUP: re-reading the policy bundle");
                if let Location::Server(state) = &source.location {
                    lock(state).server.poll_at_once();
                }
            }
        }
        let (source, seen, task_stats) = (source.clone(), current.clone(), Arc::clone(&stats));
        let mut kept = cache.take();
        let result = match tokio::task::spawn_blocking(move || {
            let result = reread(&source, &seen, &mut kept, &task_stats);
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

/// A bundle's stamp and the bundle read with it.
type Cache = Option<(Stamp, Bundle)>;

/// See [`Source::stamp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    Embedded,
    Tarball(u64, std::time::SystemTime, u64),
}

/// Reads the bundle at `source` (from `cache` when its stamp has not
/// changed) and compiles it unless its digest is `seen`.
fn reread(source: &Source, seen: &str, cache: &mut Cache, stats: &Stats) -> Reread {
    let stamp = source.stamp();
    let kept = matches!((stamp, cache.as_ref()), (Some(now), Some((then, _))) if now == *then);
    // Borrowed when kept for the next re-read; owned (and not copied
    // below) when there is nothing to tell it unchanged by.
    let base: Cow<'_, Bundle> = if kept {
        Cow::Borrowed(&cache.as_ref().expect("kept").1)
    } else {
        let bundle = match source.base(Some(stats)) {
            Ok(bundle) => bundle,
            Err(err) => return Reread::Rejected { digest: String::new(), err },
        };
        match stamp {
            Some(stamp) => Cow::Borrowed(&cache.insert((stamp, bundle)).1),
            None => {
                *cache = None;
                Cow::Owned(bundle)
            }
        }
    };
    // Copied only if an order changes it: with none in force, what would
    // be in force is the base (the mode override leaves the digest alone).
    let (orders, refused) = source.orders(&base);
    if orders.is_empty() && base.digest == seen {
        source.went_live();
        return Reread::Unchanged(refused);
    }
    let bundle = source.apply(base.into_owned(), &orders);
    if bundle.digest == seen {
        // A server may send the same bundle under a new ETag.
        source.went_live();
        return Reread::Unchanged(refused);
    }
    match load::compile(&bundle) {
        Ok(policy) => {
            source.went_live();
            Reread::Loaded(policy, refused)
        }
        Err(err) => Reread::Rejected { digest: bundle.digest, err },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{decision::Action, eval::Evaluator};

    #[test]
    fn the_mode_flag_replaces_the_bundles_global_mode() {
        let source = |mode| Source {
            location: Location::Embedded,
            verification: None,
            mode,
            break_glass: None,
        };
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

    /// The embedded bundle is read once: each second's re-read (for its
    /// break-glass orders) starts from the copy kept then.
    #[test]
    fn the_embedded_bundle_is_read_once_and_kept() {
        let source = Source {
            location: Location::Embedded,
            verification: None,
            mode: None,
            break_glass: None,
        };
        let seen = source.read().unwrap().0.digest;
        let (stats, mut cache) = (Stats::default(), None);
        assert!(matches!(reread(&source, &seen, &mut cache, &stats), Reread::Unchanged(_)));
        let Some((Stamp::Embedded, kept)) = &mut cache else { panic!("not kept") };
        // What is kept is what the next re-read starts from.
        kept.digest = "kept".into();
        assert!(matches!(reread(&source, &seen, &mut cache, &stats), Reread::Loaded(..)));
    }

    /// A kept bundle is taken as it is only while no break-glass order is
    /// in force: an order written later is applied on the next re-read.
    #[test]
    fn a_kept_bundle_still_gets_the_orders_written_after() {
        use std::os::unix::fs::PermissionsExt;
        let dir = crate::test_support::scratch("reload-orders");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let source = Source {
            location: Location::Embedded,
            verification: None,
            mode: None,
            break_glass: Some(dir.clone()),
        };
        let seen = source.read().unwrap().0.digest;
        let (stats, mut cache) = (Stats::default(), None);
        assert!(matches!(reread(&source, &seen, &mut cache, &stats), Reread::Unchanged(_)));
        let Some((_, kept)) = &mut cache else { panic!("not kept") };
        kept.data["palisade"]["config"]["break_glass"] =
            serde_json::json!({"max_ttl": "1h", "rules": ["*"], "allow_unscoped": true});
        assert!(matches!(reread(&source, &seen, &mut cache, &stats), Reread::Unchanged(_)));
        let now = crate::model::time::now_ns();
        let at = |ns: u64| crate::model::time::rfc3339_ns(i128::from(ns));
        let order = break_glass::Order {
            id: format!("{}test", break_glass::ID_PREFIX),
            rules: vec!["PAL-001".into()],
            scope: serde_json::Map::new(),
            reason: "test".into(),
            by: "test".into(),
            issued: at(now),
            expires: at(now + 600_000_000_000),
        };
        std::fs::write(dir.join("order.json"), serde_json::to_vec(&order).unwrap()).unwrap();
        let Reread::Loaded(policy, refused) = reread(&source, &seen, &mut cache, &stats) else {
            panic!("the order was not applied")
        };
        assert!(refused.is_empty(), "{refused:?}");
        assert_ne!(policy.digest, seen);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
