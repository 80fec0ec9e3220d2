//! The containers learned from the runtimes' state directories, shared by
//! the watcher thread (which learns them as they are created) and the
//! processing thread (which looks them up, and on a miss reads the state
//! directories itself).
//!
//! A container is learned before its first process runs: the runtime
//! writes its state before it starts the container's process. Learning
//! also records the cgroup's id (its directory's inode) while the cgroup
//! exists, so a container that has already exited when its events are
//! processed is still attributed.

use std::{
    collections::{HashMap, VecDeque},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tracing::debug;

use super::{
    error::StateError,
    state::{self, Metadata},
};

/// How long a container is remembered after its state directory is gone,
/// for its late events.
const KEEP_GONE: Duration = Duration::from_secs(60);
/// How often a state directory that could not be read is tried again.
const RETRY_BROKEN: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct Known {
    containers: HashMap<String, Arc<Metadata>>,
    /// Cgroup id -> container id.
    by_cgroup: HashMap<u64, String>,
    /// Containers whose state directory was removed, oldest first.
    gone: VecDeque<(Instant, String)>,
    /// State directories that could not be read, and when they were tried.
    broken: HashMap<PathBuf, Instant>,
}

/// Learns containers from state roots; cheap to clone (shared store).
#[derive(Debug, Clone)]
pub struct Learner {
    roots: Arc<[PathBuf]>,
    cgroup2_root: Arc<Path>,
    known: Arc<Mutex<Known>>,
    /// Containers learned so far: a lookup that found nothing is worth
    /// trying again once this moved. Read on every event, so no lock.
    generation: Arc<AtomicU64>,
}

impl Learner {
    pub fn new(roots: Vec<PathBuf>, cgroup2_root: &Path) -> Self {
        Self {
            roots: roots.into(),
            cgroup2_root: cgroup2_root.into(),
            known: Arc::default(),
            generation: Arc::default(),
        }
    }

    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// True while someone besides the caller holds the store: the watcher
    /// stops once the resolver is gone.
    pub fn shared(&self) -> bool {
        Arc::strong_count(&self.known) > 1
    }

    fn lock(&self) -> MutexGuard<'_, Known> {
        // A panic elsewhere cannot leave the maps inconsistent: each
        // update is a single insert or remove.
        self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads the container in `dir` (`<root>/<id>`) and records it; false
    /// if its state is not (yet) readable.
    pub fn learn(&self, dir: &Path) -> bool {
        let meta = match state::read_container(dir, &self.cgroup2_root) {
            Ok(meta) => meta,
            Err(err) => {
                debug!(err = %crate::errors::chain(&err), "container state not readable (yet)");
                // A directory without state yet is read again at once when
                // asked; one whose state is unreadable, not before
                // RETRY_BROKEN.
                if !matches!(err, StateError::NoState { .. }) {
                    self.lock().broken.insert(dir.to_path_buf(), Instant::now());
                }
                return false;
            }
        };
        // The cgroup's id while it exists: its directory's inode.
        let cgroup_id = meta.cgroup.as_ref().and_then(|c| {
            let dir = self.cgroup2_root.join(c.trim_start_matches('/'));
            std::fs::metadata(dir).ok().map(|m| m.ino())
        });
        debug!(id = meta.id, cgroup = ?meta.cgroup, cgroup_id, "learned a container");
        let mut known = self.lock();
        known.broken.remove(dir);
        if let Some(cgroup_id) = cgroup_id {
            known.by_cgroup.insert(cgroup_id, meta.id.clone());
        }
        known.containers.insert(meta.id.clone(), Arc::new(meta));
        self.generation.fetch_add(1, Ordering::Release);
        true
    }

    /// How many times a container was learned: changes when there is
    /// something new to find.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Learns every container under the roots not known yet; returns how
    /// many it learned.
    pub fn sweep(&self) -> usize {
        self.roots.iter().map(|root| self.sweep_root(root)).sum()
    }

    fn sweep_root(&self, root: &Path) -> usize {
        let retry =
            |dir: &PathBuf| self.lock().broken.get(dir).is_none_or(|t| t.elapsed() >= RETRY_BROKEN);
        self.unknown_dirs(root).into_iter().filter(retry).filter(|dir| self.learn(dir)).count()
    }

    /// The container directories under `root` whose container is not
    /// learned yet.
    pub fn unknown_dirs(&self, root: &Path) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(root) else { return Vec::new() };
        entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter(|e| !self.knows(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect()
    }

    /// Whether container `id` has been learned (without reading anything).
    pub fn knows(&self, id: &str) -> bool {
        self.lock().containers.contains_key(id)
    }

    /// The container `id`, learned before or read now from the roots.
    pub fn container(&self, id: &str) -> Option<Arc<Metadata>> {
        if let Some(meta) = self.lock().containers.get(id) {
            return Some(Arc::clone(meta));
        }
        let dir = self.roots.iter().map(|r| r.join(id)).find(|d| d.is_dir())?;
        self.learn(&dir);
        self.lock().containers.get(id).cloned()
    }

    /// The container whose cgroup has id `cgroup_id`, if one was learned.
    pub fn by_cgroup(&self, cgroup_id: u64) -> Option<Arc<Metadata>> {
        let known = self.lock();
        let id = known.by_cgroup.get(&cgroup_id)?;
        known.containers.get(id).cloned()
    }

    /// The state directory of container `id` was removed: keep what was
    /// learned for [`KEEP_GONE`], then forget it.
    pub fn forget_later(&self, id: &str) {
        let mut known = self.lock();
        let now = Instant::now();
        known.gone.push_back((now, id.to_string()));
        while known.gone.front().is_some_and(|(t, _)| now.duration_since(*t) > KEEP_GONE) {
            let Some((_, id)) = known.gone.pop_front() else { break };
            known.containers.remove(&id);
            known.by_cgroup.retain(|_, c| *c != id);
        }
        known.broken.retain(|_, t| now.duration_since(*t) < KEEP_GONE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::state::tests::{ID, runc_container, scratch};

    #[test]
    fn learns_by_sweep_and_by_id_and_forgets_only_later() {
        let base = scratch("known");
        let root = base.join("k8s.io");
        std::fs::create_dir_all(&root).unwrap();
        // A fake cgroup2 root holding the container's cgroup directory.
        let cgroups = base.join("cgroup2");
        let cgroup = format!("/kubepods.slice/cri-containerd-{ID}.scope");
        std::fs::create_dir_all(cgroups.join(cgroup.trim_start_matches('/'))).unwrap();
        let ino = std::fs::metadata(cgroups.join(cgroup.trim_start_matches('/'))).unwrap().ino();
        runc_container(&root, &base.join("bundles"), ID, &cgroup, &cgroups);

        let learner = Learner::new(vec![base.join("missing"), root.clone()], &cgroups);
        assert_eq!(learner.sweep(), 1);
        assert_eq!(learner.sweep(), 0, "known containers are not read again");
        let meta = learner.by_cgroup(ino).expect("found by cgroup id");
        assert_eq!((meta.id.as_str(), meta.name.as_deref()), (ID, Some("app")));

        let fresh = Learner::new(vec![root.clone()], &cgroups);
        assert_eq!(fresh.container(ID).expect("read on demand").pod_name.as_deref(), Some("web-0"));
        assert!(fresh.container("nope").is_none());

        learner.forget_later(ID);
        assert!(learner.by_cgroup(ino).is_some(), "kept for late events");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
