//! Which container and pod an event comes from.
//!
//! Events carry the task's cgroup v2 id. The resolver maps it to the
//! cgroup's path ([`index`]), reads the container id, runtime and pod UID
//! from the path ([`path`]), and the pod's name and namespace, the
//! container's name and image from the OCI annotations the CRI runtime
//! wrote into the bundle ([`state`]), learned from the runtimes' state
//! directories as containers are created ([`watch`], [`known`]). Pod
//! labels come from the API server ([`kube`] lists and watches the node's
//! pods, [`labels`] parses the answers); without one they are reported
//! unavailable.
//!
//! Each cgroup id is resolved once and cached: the later events of a
//! process, and those read after its container is gone, cost a hash lookup.

mod error;
mod index;
mod known;
mod kube;
mod labels;
mod path;
mod state;
mod watch;

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use serde::Serialize;
use tracing::{info, warn};

pub use index::{CgroupIndex, ancestors as cgroup_ancestors};
pub use kube::{KubeConfig, spawn as follow_pod_labels};
pub use state::DEFAULT_STATE_DIRS;

use self::{known::Learner, state::Metadata};

/// How long a cgroup id that resolved to nothing is not looked up again,
/// unless a container was learned meanwhile (each look reads the state
/// roots; the tree is walked again at most once per `index::RESCAN_EVERY`).
const MISS_RETRY: Duration = Duration::from_millis(250);
/// How often a container found by its cgroup path but not (yet) in any
/// runtime's state is looked for again.
const METADATA_RETRY: Duration = Duration::from_secs(1);
/// How long an identity is kept for a cgroup that no longer exists.
const KEEP_UNUSED: Duration = Duration::from_secs(60);

/// The container a process runs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Container {
    /// The runtime's id: 64 hex digits.
    pub id: String,
    /// `containerd`, `cri-o`, `docker` or `podman`; `runc` or `crun` for a
    /// container whose state names no container manager.
    pub runtime: &'static str,
    /// The container's name in its pod (Kubernetes runtimes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The image as the pod spec names it (Kubernetes runtimes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The cgroup path, relative to the cgroup v2 root.
    pub cgroup: String,
    /// When the runtime created it (ns since the epoch), if its state
    /// said: drift by file times is judged against it.
    #[serde(skip)]
    pub started_ns: Option<i64>,
}

/// The Kubernetes pod a process runs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pod {
    pub uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The pod's labels. `None` = unavailable (no API server answers, or
    /// the pod is not in them yet): then `labels_available` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    pub labels_available: bool,
}

/// Where a process runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub container: Option<Container>,
    pub pod: Option<Pod>,
    /// The cgroup is known and belongs to no container and no pod. False
    /// with no container either: the cgroup could not be resolved (it was
    /// gone before the agent saw it).
    pub host: bool,
}

/// What a cgroup id resolved to, before pod labels are added.
#[derive(Debug)]
struct Cached {
    container: Option<Container>,
    pod: Option<Pod>,
    /// A container found by its path whose runtime state was not found
    /// (yet): looked for again every [`METADATA_RETRY`].
    metadata_missing: bool,
    checked: Instant,
    used: Instant,
    /// The learner's generation when resolved: a cgroup resolved to no
    /// container (its path in no layout known here) is checked against
    /// the runtimes' state again once a container was learned since.
    generation: u64,
}

/// Cgroup id -> container and pod. Owned by the processing thread; a
/// watcher thread learns new containers beside it.
pub struct ContainerResolver {
    index: CgroupIndex,
    learner: Learner,
    cache: HashMap<u64, Cached>,
    /// Cgroup ids that resolved to nothing: when, and the learner's
    /// generation then.
    misses: HashMap<u64, (Instant, u64)>,
    pod_labels: Option<kube::SharedLabels>,
}

impl ContainerResolver {
    /// Walks the cgroup2 tree at `cgroup2_root` once (id -> path), reads the
    /// containers already in `runtime_state_dirs`, and starts watching them
    /// for new ones.
    pub fn new(cgroup2_root: &Path, runtime_state_dirs: Vec<PathBuf>) -> Self {
        let learner = Learner::new(runtime_state_dirs, cgroup2_root);
        let learned = learner.sweep();
        if let Err(err) = watch::spawn(learner.clone()) {
            warn!(err = %crate::errors::chain(&err), "new containers are learned only when their first event is resolved");
        }
        let index = CgroupIndex::scan(cgroup2_root);
        info!(
            cgroups = index.len(),
            containers = learned,
            root = %cgroup2_root.display(),
            state_dirs = ?learner.roots(),
            "container resolver ready"
        );
        Self { index, learner, cache: HashMap::new(), misses: HashMap::new(), pod_labels: None }
    }

    /// Uses `pods`, kept current by the API client, for pod labels (and
    /// for pod names the annotations lack).
    pub fn set_pod_labels(&mut self, pods: kube::SharedLabels) {
        self.pod_labels = Some(pods);
    }

    /// A cgroup the kernel reported created (`path` relative to the cgroup2
    /// root, e.g. `/kubepods.slice/...`).
    pub fn on_cgroup_created(&mut self, id: u64, path: &str) {
        self.index.insert(id, path);
        self.misses.remove(&id);
    }

    /// Every cgroup id the index knows (the tree walked, and the cgroups
    /// the kernel reported created since).
    pub fn cgroup_ids(&self) -> Vec<u64> {
        self.index.ids().collect()
    }

    /// The path of a cgroup (relative to the cgroup2 mount, from `/`).
    pub fn cgroup_path(&self, cgroup_id: u64) -> Option<&str> {
        self.index.get(cgroup_id)
    }

    /// Where the process in cgroup `cgroup_id` runs.
    pub fn resolve(&mut self, cgroup_id: u64) -> Identity {
        let now = Instant::now();
        if !self.cache.contains_key(&cgroup_id) {
            // Early events of a container (its runtime's set-up processes)
            // can come before its state is written.
            let generation = self.learner.generation();
            if self
                .misses
                .get(&cgroup_id)
                .is_some_and(|(t, g)| *g == generation && now.duration_since(*t) < MISS_RETRY)
            {
                return Identity::default();
            }
            let Some(cached) = self.lookup(cgroup_id, now) else {
                self.misses.insert(cgroup_id, (now, self.learner.generation()));
                return Identity::default();
            };
            self.misses.remove(&cgroup_id);
            self.cache.insert(cgroup_id, cached);
        }
        let learner = &self.learner;
        let cached = self.cache.get_mut(&cgroup_id).expect("inserted above");
        cached.used = now;
        let generation = learner.generation();
        if cached.container.is_none() && cached.generation != generation {
            cached.generation = generation;
            if let Some(meta) = learner.by_cgroup(cgroup_id)
                && let Some(path) = meta.cgroup.clone()
            {
                *cached = resolve_path(path, Some(meta), learner, now);
            }
        }
        if cached.metadata_missing
            && (cached.generation != generation
                || now.duration_since(cached.checked) >= METADATA_RETRY)
        {
            cached.checked = now;
            cached.generation = generation;
            if let Some(container) = &cached.container
                && let Some(meta) = learner.container(&container.id)
            {
                *cached = resolve_path(container.cgroup.clone(), Some(meta), learner, now);
            }
        }
        let pod = cached.pod.clone().map(|pod| with_labels(pod, self.pod_labels.as_ref()));
        Identity {
            host: cached.container.is_none() && pod.is_none(),
            container: cached.container.clone(),
            pod,
        }
    }

    /// Finds the cgroup's path (in the index, in what the runtimes' state
    /// recorded, in the state roots read again, in a new walk of the tree)
    /// and resolves it.
    fn lookup(&mut self, cgroup_id: u64, now: Instant) -> Option<Cached> {
        let mut learned = self.learner.by_cgroup(cgroup_id);
        if learned.is_none() && self.index.get(cgroup_id).is_none() {
            // New since the last look: a container the watcher has not
            // learned yet, or a cgroup created since the last walk.
            self.learner.sweep();
            learned = self.learner.by_cgroup(cgroup_id);
            if learned.is_none() && self.index.rescan_if_due() {
                self.forget_unused(now);
            }
        }
        let path = match (self.index.get(cgroup_id), &learned) {
            (Some(path), _) => path.to_string(),
            (None, Some(meta)) => meta.cgroup.clone()?,
            (None, None) => return None,
        };
        // A container's path known (from the kernel's cgroup_mkdir record)
        // before its runtime's state was read: read the state roots now,
        // while the state still exists.
        if learned.is_none()
            && let Some((id, _)) = path::parse(&path).container
            && self.learner.container(&id).is_none()
        {
            self.learner.sweep();
        }
        Some(resolve_path(path, learned, &self.learner, now))
    }

    /// Drops the identities of cgroups gone from the index and unused for
    /// [`KEEP_UNUSED`].
    fn forget_unused(&mut self, now: Instant) {
        let index = &self.index;
        self.cache
            .retain(|id, c| index.get(*id).is_some() || now.duration_since(c.used) < KEEP_UNUSED);
        self.misses.retain(|_, (t, _)| now.duration_since(*t) < MISS_RETRY);
    }
}

/// The identity of cgroup `path`, given what its runtime's state says
/// (`learned`, else looked up by the container id in the path).
fn resolve_path(
    path: String,
    learned: Option<Arc<Metadata>>,
    learner: &Learner,
    now: Instant,
) -> Cached {
    let parsed = path::parse(&path);
    let meta =
        learned.or_else(|| parsed.container.as_ref().and_then(|(id, _)| learner.container(id)));
    let meta = meta.as_deref();
    let container = match (&parsed.container, meta) {
        (Some((id, runtime)), meta) => Some(Container {
            id: id.clone(),
            // A bare id under kubepods is containerd's layout or
            // dockershim's: the runtime's state decides.
            runtime: match meta {
                Some(m) if parsed.runtime_guessed => m.runtime,
                _ => runtime,
            },
            name: meta.and_then(|m| m.name.clone()),
            image: meta.and_then(|m| m.image.clone()),
            cgroup: path.clone(),
            started_ns: meta.and_then(|m| m.started_ns),
        }),
        // A layout the parser does not know, but the runtime's state
        // names this cgroup.
        (None, Some(m)) => Some(Container {
            id: m.id.clone(),
            runtime: m.runtime,
            name: m.name.clone(),
            image: m.image.clone(),
            cgroup: path.clone(),
            started_ns: m.started_ns,
        }),
        (None, None) => None,
    };
    let pod = parsed.pod_uid.or_else(|| meta.and_then(|m| m.pod_uid.clone())).map(|uid| Pod {
        uid,
        name: meta.and_then(|m| m.pod_name.clone()),
        namespace: meta.and_then(|m| m.pod_namespace.clone()),
        labels: None,
        labels_available: false,
    });
    Cached {
        metadata_missing: parsed.container.is_some() && meta.is_none(),
        container,
        pod,
        checked: now,
        used: now,
        generation: learner.generation(),
    }
}

/// Adds the pod's labels, and its name and namespace where the annotations
/// had none, from the API server's answers.
fn with_labels(mut pod: Pod, pods: Option<&kube::SharedLabels>) -> Pod {
    let Some(pods) = pods else { return pod };
    let pods = pods.read().unwrap_or_else(|e| e.into_inner());
    if let Some(meta) = pods.get(&pod.uid) {
        pod.name.get_or_insert_with(|| meta.name.clone());
        pod.namespace.get_or_insert_with(|| meta.namespace.clone());
        pod.labels = Some(meta.labels.clone());
        pod.labels_available = true;
    }
    pod
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use serde_json::json;

    use super::{
        state::tests::{ID, UID, runc_container, scratch},
        *,
    };

    /// A fake cgroup2 root and a runc state root beside it.
    struct Node {
        base: PathBuf,
        cgroups: PathBuf,
        state: PathBuf,
    }

    impl Node {
        fn new(name: &str) -> Self {
            let base = scratch(name);
            let node = Self { cgroups: base.join("cgroup2"), state: base.join("k8s.io"), base };
            std::fs::create_dir_all(node.cgroups.join("system.slice/sshd.service")).unwrap();
            std::fs::create_dir_all(&node.state).unwrap();
            node
        }

        /// Makes the cgroup directory; returns its id.
        fn cgroup(&self, path: &str) -> u64 {
            let dir = self.cgroups.join(path.trim_start_matches('/'));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::metadata(dir).unwrap().ino()
        }

        /// Writes the container's runc state, its cgroup inside the fake root.
        fn container(&self, id: &str, cgroup: &str) {
            runc_container(&self.state, &self.base.join("bundles"), id, cgroup, &self.cgroups);
        }

        fn resolver(&self) -> ContainerResolver {
            ContainerResolver::new(&self.cgroups, vec![self.state.clone()])
        }
    }

    impl Drop for Node {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.base);
        }
    }

    fn pod_cgroup(id: &str) -> String {
        let uid = UID.replace('-', "_");
        format!(
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid}.slice/cri-containerd-{id}.scope"
        )
    }

    #[test]
    fn a_host_cgroup_is_the_host_and_an_unknown_one_is_nothing() {
        let node = Node::new("resolve-host");
        let mut resolver = node.resolver();
        let sshd = std::fs::metadata(node.cgroups.join("system.slice/sshd.service")).unwrap().ino();
        assert_eq!(resolver.resolve(sshd), Identity { container: None, pod: None, host: true });
        assert_eq!(resolver.resolve(u64::MAX), Identity::default());
    }

    #[test]
    fn a_pod_container_gets_its_names_from_the_annotations() {
        let node = Node::new("resolve-pod");
        let cgroup = pod_cgroup(ID);
        let id = node.cgroup(&cgroup);
        node.container(ID, &cgroup);
        let mut resolver = node.resolver();
        let identity = resolver.resolve(id);
        assert_eq!(
            identity.container,
            Some(Container {
                id: ID.into(),
                runtime: "containerd",
                name: Some("app".into()),
                image: Some("registry.example/app:1.2".into()),
                cgroup: cgroup.clone(),
                started_ns: None,
            })
        );
        let pod = identity.pod.expect("a pod");
        assert_eq!(
            pod,
            Pod {
                uid: UID.into(),
                name: Some("web-0".into()),
                namespace: Some("payments".into()),
                labels: None,
                labels_available: false,
            }
        );
        assert!(!identity.host);
        // Without an API server: no labels, and the event says so.
        assert_eq!(
            serde_json::to_value(&pod).unwrap(),
            json!({"uid": UID, "name": "web-0", "namespace": "payments", "labels_available": false})
        );

        // With the API server's pod list, the labels join by pod UID.
        let list = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/k8s/podlist-node-a.json"
        ))
        .unwrap();
        resolver.set_pod_labels(std::sync::Arc::new(std::sync::RwLock::new(
            labels::PodLabels::from_list(&list).unwrap(),
        )));
        let pod = resolver.resolve(id).pod.unwrap();
        assert!(pod.labels_available);
        assert_eq!(pod.labels.unwrap().get("tier").map(String::as_str), Some("frontend"));
    }

    #[test]
    fn a_container_created_after_the_start_is_found_and_kept_after_it_is_gone() {
        let node = Node::new("resolve-late");
        let mut resolver = node.resolver();
        // Created after the resolver's walk: neither the index nor the
        // watcher may have it yet; the miss path reads the state roots.
        let cgroup = pod_cgroup(ID);
        let id = node.cgroup(&cgroup);
        node.container(ID, &cgroup);
        let first = resolver.resolve(id);
        assert_eq!(first.container.as_ref().and_then(|c| c.name.as_deref()), Some("app"));
        // (Made now: this fake tree's file system reuses a removed
        // directory's inode, which cgroup ids never are.)
        let short = ID.replace('9', "8");
        let short_cgroup = pod_cgroup(&short);
        let short_id = node.cgroup(&short_cgroup);

        // The container exits: cgroup and state gone. Its late events still
        // resolve, from the cache.
        std::fs::remove_dir(node.cgroups.join(cgroup.trim_start_matches('/'))).unwrap();
        std::fs::remove_dir_all(node.state.join(ID)).unwrap();
        assert_eq!(resolver.resolve(id), first);

        // A second short-lived container, learned (from its state) before
        // the processing thread ever saw its cgroup, which is gone by the
        // time its first event is resolved.
        node.container(&short, &short_cgroup);
        // Generous: the watcher thread shares two cores with the VM's
        // emulation under `cargo xtask test`.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !resolver.learner.knows(&short) {
            assert!(Instant::now() < deadline, "the watcher did not learn the container");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::fs::remove_dir(node.cgroups.join(short_cgroup.trim_start_matches('/'))).unwrap();
        std::fs::remove_dir_all(node.state.join(&short)).unwrap();
        let identity = resolver.resolve(short_id);
        let container = identity.container.expect("attributed after it is gone");
        assert_eq!(
            (container.id.as_str(), container.cgroup.as_str()),
            (short.as_str(), short_cgroup.as_str())
        );
        assert_eq!(identity.pod.and_then(|p| p.name), Some("web-0".into()));
    }

    #[test]
    fn a_container_without_runtime_state_is_named_by_its_path_until_the_state_appears() {
        let node = Node::new("resolve-nostate");
        let cgroup = format!("/system.slice/docker-{ID}.scope");
        let id = node.cgroup(&cgroup);
        let mut resolver = node.resolver();
        let identity = resolver.resolve(id);
        assert_eq!(
            identity,
            Identity {
                container: Some(Container {
                    id: ID.into(),
                    runtime: "docker",
                    name: None,
                    image: None,
                    cgroup: cgroup.clone(),
                    started_ns: None,
                }),
                pod: None,
                host: false,
            }
        );
        // The state shows up (annotations name it containerd's; the path's
        // runtime stands, being certain).
        node.container(ID, &cgroup);
        std::thread::sleep(METADATA_RETRY + Duration::from_millis(50));
        let identity = resolver.resolve(id);
        let container = identity.container.unwrap();
        assert_eq!((container.runtime, container.name.as_deref()), ("docker", Some("app")));
        assert_eq!(identity.pod.map(|p| p.uid), Some(UID.to_string()));
    }

    #[test]
    fn a_cgroup_in_no_known_layout_is_the_containers_its_runtime_state_names() {
        let node = Node::new("resolve-layout");
        // Plain runc with a cgroupsPath of the user's choosing.
        let cgroup = "/ci-jobs/build-17".to_string();
        let id = node.cgroup(&cgroup);
        let mut resolver = node.resolver();
        // Seen before its state exists: the host's, for now.
        assert!(resolver.resolve(id).host);
        node.container(ID, &cgroup);
        // Generous: the watcher thread shares two cores with the VM's
        // emulation under `cargo xtask test` (5 s was exceeded once).
        let deadline = Instant::now() + Duration::from_secs(30);
        while !resolver.learner.knows(ID) {
            assert!(Instant::now() < deadline, "the watcher did not learn the container");
            std::thread::sleep(Duration::from_millis(10));
        }
        let identity = resolver.resolve(id);
        let container = identity.container.expect("named by its runtime's state");
        assert_eq!((container.id.as_str(), container.cgroup.as_str()), (ID, cgroup.as_str()));
        assert_eq!(identity.pod.and_then(|p| p.namespace), Some("payments".into()));
        assert!(!identity.host);
    }

    #[test]
    fn the_kernels_cgroup_records_feed_the_index() {
        let node = Node::new("resolve-mkdir");
        let mut resolver = node.resolver();
        assert_eq!(resolver.resolve(4242), Identity::default());
        // Reported by the kernel, even if the directory is already gone.
        resolver.on_cgroup_created(4242, &pod_cgroup(ID));
        let identity = resolver.resolve(4242);
        assert_eq!(identity.container.map(|c| c.id), Some(ID.to_string()));
        assert_eq!(identity.pod.map(|p| p.uid), Some(UID.to_string()));
    }
}
