//! The processing thread's side: it owns the container resolver, so it
//! describes cgroups to the keeper as they are learned, and again whenever
//! what is known of them grows (a container's runtime state read, a pod's
//! labels from the API server) or they are gone.

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use tokio::sync::mpsc::UnboundedSender;

use super::{WorkloadUpdate, facts_of};
use crate::{container::ContainerResolver, policy::workloads::WorkloadFacts};

/// How often cgroups whose facts are incomplete (a container's runtime
/// state not read yet, a pod's labels not known) are resolved again.
const INCOMPLETE_EVERY: Duration = Duration::from_millis(20);
/// How long after it is first seen a cgroup counts as incomplete; after
/// that (a pod the API server never describes) the slower pass below
/// keeps it current.
const INCOMPLETE_FOR: Duration = Duration::from_secs(30);
/// How often every container and pod is resolved again (label changes).
const ALL_EVERY: Duration = Duration::from_secs(1);
/// How often the registered cgroups are checked for removal.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

pub struct Feed {
    tx: UnboundedSender<WorkloadUpdate>,
    cgroup2_root: PathBuf,
    /// What the keeper was last told of each cgroup, and when it was first
    /// described.
    known: HashMap<u64, WorkloadFacts>,
    first_seen: HashMap<u64, Instant>,
    /// Paths of the cgroups of containers and pods: a cgroup made below one
    /// is part of that workload, whatever its name says.
    workload_paths: HashSet<String>,
    /// The pod-labels client runs: a pod without labels is incomplete.
    labels_expected: bool,
    last_incomplete: Instant,
    last_all: Instant,
    last_sweep: Instant,
}

/// The facts of every cgroup the resolver knows now (at start).
pub fn initial(containers: &mut ContainerResolver) -> HashMap<u64, WorkloadFacts> {
    let mut facts = HashMap::new();
    let mut ids = containers.cgroup_ids();
    // Parents first, so that a cgroup inside a container is seen as such.
    ids.sort_by_key(|id| containers.cgroup_path(*id).map_or(0, |p| p.matches('/').count()));
    let mut paths = HashSet::new();
    for id in ids {
        if let Some(f) = describe(id, containers, &paths) {
            if !f.host
                && let Some(path) = containers.cgroup_path(id)
            {
                paths.insert(path.to_string());
            }
            facts.insert(id, f);
        }
    }
    facts
}

/// The facts to register for a cgroup; None for one the hooks should
/// judge by its nearest registered ancestor or their fallback: a cgroup
/// that cannot be resolved, or a "host" cgroup made inside a container or
/// pod (a name like `crio-conmon-...` chosen inside a container must not
/// give it the host's profile).
fn describe(
    cgroup: u64,
    containers: &mut ContainerResolver,
    workload_paths: &HashSet<String>,
) -> Option<WorkloadFacts> {
    let facts = facts_of(&containers.resolve(cgroup))?;
    if facts.host
        && let Some(path) = containers.cgroup_path(cgroup)
        && inside(path, workload_paths)
    {
        return None;
    }
    Some(facts)
}

/// True when `path` lies below one of `parents`.
fn inside(path: &str, parents: &HashSet<String>) -> bool {
    crate::container::cgroup_ancestors(path).any(|parent| parents.contains(parent))
}

impl Feed {
    pub fn new(
        tx: UnboundedSender<WorkloadUpdate>,
        cgroup2_root: &Path,
        known: HashMap<u64, WorkloadFacts>,
        containers: &ContainerResolver,
        labels_expected: bool,
    ) -> Self {
        let workload_paths = known
            .iter()
            .filter(|(_, f)| !f.host)
            .filter_map(|(id, _)| containers.cgroup_path(*id).map(str::to_string))
            .collect();
        let now = Instant::now();
        let first_seen = known.keys().map(|id| (*id, now)).collect();
        Self {
            tx,
            cgroup2_root: cgroup2_root.to_path_buf(),
            known,
            first_seen,
            workload_paths,
            labels_expected,
            last_incomplete: now,
            last_all: now,
            last_sweep: now,
        }
    }

    /// A cgroup the kernel reported created at `created_ns`.
    pub fn created(&mut self, cgroup: u64, created_ns: u64, containers: &mut ContainerResolver) {
        self.update(cgroup, Some(created_ns), containers);
    }

    /// Between batches: resolves again what may have grown, and forgets
    /// cgroups that are gone.
    pub fn tick(&mut self, containers: &mut ContainerResolver) {
        let now = Instant::now();
        let all = now.duration_since(self.last_all) >= ALL_EVERY;
        if all || now.duration_since(self.last_incomplete) >= INCOMPLETE_EVERY {
            let young = |id: &u64| {
                self.first_seen.get(id).is_some_and(|t| now.duration_since(*t) < INCOMPLETE_FOR)
            };
            let ids: Vec<u64> = self
                .known
                .iter()
                .filter(|(id, f)| !f.host && (all || (young(id) && !self.complete(f))))
                .map(|(id, _)| *id)
                .collect();
            for id in ids {
                self.update(id, None, containers);
            }
            self.last_incomplete = now;
            if all {
                self.last_all = now;
            }
        }
        if now.duration_since(self.last_sweep) >= SWEEP_EVERY {
            self.sweep(containers);
            self.last_sweep = now;
        }
    }

    fn complete(&self, facts: &WorkloadFacts) -> bool {
        let container = facts.container.as_ref().is_none_or(|c| c.image.is_some());
        let pod = facts
            .pod
            .as_ref()
            .is_none_or(|p| p.namespace.is_some() && (!self.labels_expected || p.labels.is_some()));
        container && pod
    }

    fn update(&mut self, cgroup: u64, created_ns: Option<u64>, containers: &mut ContainerResolver) {
        let Some(facts) = describe(cgroup, containers, &self.workload_paths) else { return };
        if self.known.get(&cgroup) == Some(&facts) {
            return;
        }
        if !facts.host
            && let Some(path) = containers.cgroup_path(cgroup)
        {
            self.workload_paths.insert(path.to_string());
        }
        self.known.insert(cgroup, facts.clone());
        self.first_seen.entry(cgroup).or_insert_with(Instant::now);
        // The keeper lives as long as the agent; a send fails only when
        // it is stopping.
        let _ = self.tx.send(WorkloadUpdate::Seen { cgroup, facts, created_ns });
    }

    /// Cgroups whose directory is gone are forgotten.
    fn sweep(&mut self, containers: &ContainerResolver) {
        let gone: Vec<u64> = self
            .known
            .keys()
            .filter(|id| {
                containers.cgroup_path(**id).is_some_and(|path| {
                    !self.cgroup2_root.join(path.trim_start_matches('/')).exists()
                })
            })
            .copied()
            .collect();
        for cgroup in gone {
            self.known.remove(&cgroup);
            self.first_seen.remove(&cgroup);
            if let Some(path) = containers.cgroup_path(cgroup) {
                self.workload_paths.remove(path);
            }
            let _ = self.tx.send(WorkloadUpdate::Gone { cgroup });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cgroup_below_a_workload_is_inside_it() {
        let parents = HashSet::from(["/kubepods.slice/pod1.slice".to_string()]);
        assert!(inside("/kubepods.slice/pod1.slice/cri-containerd-x.scope", &parents));
        assert!(inside("/kubepods.slice/pod1.slice/a/crio-conmon-y.scope", &parents));
        assert!(!inside("/kubepods.slice/pod1.slice", &parents));
        assert!(!inside("/kubepods.slice/pod10.slice/c", &parents));
        assert!(!inside("/system.slice/x.service", &parents));
    }
}
