//! What a container runtime's state directory says about one container:
//! its cgroup, and the OCI annotations the CRI runtimes write into the
//! bundle (pod name, namespace and UID, container name, image).
//!
//! runc (and so containerd's and Docker's shims, and CRI-O with runc)
//! keeps `<root>/<id>/state.json`, whose `config.labels` hold
//! `bundle=<path>` and, as `key=value`, the annotations; the bundle's
//! `config.json` has `annotations`. crun keeps `<root>/<id>/status` (with
//! `bundle` and `cgroup-path`) beside a copy of `config.json`.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use serde::Deserialize;

use super::error::StateError;

/// Where runtimes keep their state on a host, by default: containerd's
/// runc shim for Kubernetes (`k8s.io`) and Docker (`moby`), Docker's own
/// runc root, and plain runc (CRI-O's default) and crun.
pub const DEFAULT_STATE_DIRS: &[&str] = &[
    "/run/containerd/runc/k8s.io",
    "/run/containerd/runc/moby",
    "/run/docker/runtime-runc/moby",
    "/run/runc",
    "/run/crun",
];

/// The annotation keys read, per runtime.
mod keys {
    pub const CRI_CONTAINER_TYPE: &str = "io.kubernetes.cri.container-type";
    pub const CRI_SANDBOX_NAME: &str = "io.kubernetes.cri.sandbox-name";
    pub const CRI_SANDBOX_NAMESPACE: &str = "io.kubernetes.cri.sandbox-namespace";
    pub const CRI_SANDBOX_UID: &str = "io.kubernetes.cri.sandbox-uid";
    pub const CRI_CONTAINER_NAME: &str = "io.kubernetes.cri.container-name";
    pub const CRI_IMAGE_NAME: &str = "io.kubernetes.cri.image-name";

    pub const CRIO_CONTAINER_TYPE: &str = "io.kubernetes.cri-o.ContainerType";
    pub const CRIO_IMAGE_NAME: &str = "io.kubernetes.cri-o.ImageName";
    pub const POD_NAME: &str = "io.kubernetes.pod.name";
    pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
    pub const POD_UID: &str = "io.kubernetes.pod.uid";
    pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";

    pub const CONTAINER_MANAGER: &str = "io.container.manager";
}

/// One container, as its runtime's state describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub id: String,
    /// `containerd`, `cri-o`, `docker` or `podman` when the annotations or
    /// the state root say which; else the OCI runtime, `runc` or `crun`.
    pub runtime: &'static str,
    pub name: Option<String>,
    pub image: Option<String>,
    pub pod_name: Option<String>,
    pub pod_namespace: Option<String>,
    pub pod_uid: Option<String>,
    /// The pod's sandbox (pause) container rather than a workload's.
    pub sandbox: bool,
    /// The container's cgroup v2 path relative to the cgroup2 root.
    pub cgroup: Option<String>,
    /// When the runtime created the container (ns since the epoch),
    /// from its state's `created`: drift by file times is judged against it.
    pub started_ns: Option<i64>,
}

#[derive(Deserialize)]
struct RuncState {
    #[serde(default)]
    config: RuncConfig,
    /// Controller -> absolute cgroup directory; `""` is the v2 hierarchy.
    #[serde(default)]
    cgroup_paths: HashMap<String, String>,
    created: Option<String>,
}

#[derive(Deserialize, Default)]
struct RuncConfig {
    #[serde(default)]
    labels: Vec<String>,
}

#[derive(Deserialize)]
struct CrunStatus {
    bundle: Option<PathBuf>,
    #[serde(rename = "cgroup-path")]
    cgroup_path: Option<String>,
    created: Option<String>,
}

#[derive(Deserialize)]
struct OciConfig {
    #[serde(default)]
    annotations: HashMap<String, String>,
}

/// Reads the container in `dir` (`<state root>/<container id>`).
/// `cgroup2_root` turns the absolute cgroup paths runc records into paths
/// relative to the cgroup2 mount.
pub fn read_container(dir: &Path, cgroup2_root: &Path) -> Result<Metadata, StateError> {
    let id = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (bundle, cgroup, state_annotations, created) = if dir.join("state.json").exists() {
        let state: RuncState = read_json(&dir.join("state.json"))?;
        let mut bundle = None;
        let mut annotations = HashMap::new();
        for label in &state.config.labels {
            let (key, value) = label.split_once('=').unwrap_or((label, ""));
            if key == "bundle" {
                bundle = Some(PathBuf::from(value));
            } else {
                annotations.insert(key.to_string(), value.to_string());
            }
        }
        let cgroup = state.cgroup_paths.get("").and_then(|p| relative(Path::new(p), cgroup2_root));
        (bundle, cgroup, annotations, state.created)
    } else if dir.join("status").exists() {
        let status: CrunStatus = read_json(&dir.join("status"))?;
        let cgroup = status.cgroup_path.map(|p| format!("/{}", p.trim_start_matches('/')));
        (status.bundle, cgroup, HashMap::new(), status.created)
    } else {
        return Err(StateError::NoState { dir: dir.to_path_buf() });
    };
    // The bundle's config.json is the runtime spec as the CRI runtime wrote
    // it; runc's copy of the annotations in its labels serves when the
    // bundle is already gone.
    let candidates =
        [Some(dir.join("config.json")), bundle.as_ref().map(|b| b.join("config.json"))];
    let from_config = candidates
        .iter()
        .flatten()
        .find_map(|path| read_json::<OciConfig>(path).ok())
        .map(|c| c.annotations);
    let annotations = match from_config {
        Some(a) => a,
        None if !state_annotations.is_empty() => state_annotations,
        None => return Err(StateError::NoConfig { dir: dir.to_path_buf(), bundle }),
    };
    let mut meta = from_annotations(id, &annotations, dir.parent().map_or("runc", root_runtime));
    meta.cgroup = cgroup;
    meta.started_ns = created
        .as_deref()
        .and_then(crate::model::time::parse_rfc3339_ns)
        .and_then(|ns| i64::try_from(ns).ok());
    Ok(meta)
}

/// The runtime a state root belongs to, when no annotation says:
/// containerd's shim keeps `/run/containerd/runc/<namespace>`, Docker's
/// namespace is `moby`.
fn root_runtime(root: &Path) -> &'static str {
    if root.ends_with("moby") {
        "docker"
    } else if root.components().any(|c| c.as_os_str() == "containerd") {
        "containerd"
    } else if root.ends_with("crun") {
        "crun"
    } else {
        "runc"
    }
}

fn from_annotations(id: String, a: &HashMap<String, String>, fallback: &'static str) -> Metadata {
    let get = |key: &str| a.get(key).filter(|v| !v.is_empty()).cloned();
    if a.contains_key(keys::CRI_CONTAINER_TYPE) || a.contains_key(keys::CRI_SANDBOX_NAME) {
        Metadata {
            id,
            runtime: "containerd",
            name: get(keys::CRI_CONTAINER_NAME),
            image: get(keys::CRI_IMAGE_NAME),
            pod_name: get(keys::CRI_SANDBOX_NAME),
            pod_namespace: get(keys::CRI_SANDBOX_NAMESPACE),
            pod_uid: get(keys::CRI_SANDBOX_UID),
            sandbox: get(keys::CRI_CONTAINER_TYPE).as_deref() == Some("sandbox"),
            cgroup: None,
            started_ns: None,
        }
    } else if a.contains_key(keys::CRIO_CONTAINER_TYPE) || a.contains_key(keys::POD_NAME) {
        Metadata {
            id,
            runtime: "cri-o",
            name: get(keys::CONTAINER_NAME),
            image: get(keys::CRIO_IMAGE_NAME),
            pod_name: get(keys::POD_NAME),
            pod_namespace: get(keys::POD_NAMESPACE),
            pod_uid: get(keys::POD_UID),
            sandbox: get(keys::CRIO_CONTAINER_TYPE).as_deref() == Some("sandbox"),
            cgroup: None,
            started_ns: None,
        }
    } else {
        let podman = get(keys::CONTAINER_MANAGER).as_deref() == Some("libpod");
        Metadata {
            id,
            runtime: if podman { "podman" } else { fallback },
            name: None,
            image: None,
            pod_name: None,
            pod_namespace: None,
            pod_uid: None,
            sandbox: false,
            cgroup: None,
            started_ns: None,
        }
    }
}

/// `path` relative to `root`, as `/a/b` (`/` for the root itself).
fn relative(path: &Path, root: &Path) -> Option<String> {
    let rest = path.strip_prefix(root).ok()?;
    Some(format!("/{}", rest.to_string_lossy()))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, StateError> {
    let bytes = std::fs::read(path)
        .map_err(|source| StateError::Read { path: path.to_path_buf(), source })?;
    serde_json::from_slice(&bytes)
        .map_err(|source| StateError::Json { path: path.to_path_buf(), source })
}

#[cfg(test)]
pub(super) mod tests {
    use serde_json::json;

    use super::*;

    pub const ID: &str = "9c2d1e4f6a8b0c2d4e6f8a0b2c4d6e8f0a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d";
    pub const UID: &str = "3b6f8e2a-1c4d-4f7a-9e2b-5d8c1a0f6e3b";

    pub use crate::test_support::scratch;

    /// Writes a runc-style state directory and bundle, as containerd's CRI
    /// plugin would have them (the cgroup v2 hierarchy mounted at
    /// `cgroup2`), and returns the state directory.
    pub fn runc_container(
        root: &Path,
        bundles: &Path,
        id: &str,
        cgroup: &str,
        cgroup2: &Path,
    ) -> PathBuf {
        let annotations = json!({
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.sandbox-id": "b".repeat(64),
            "io.kubernetes.cri.sandbox-name": "web-0",
            "io.kubernetes.cri.sandbox-namespace": "payments",
            "io.kubernetes.cri.sandbox-uid": UID,
            "io.kubernetes.cri.container-name": "app",
            "io.kubernetes.cri.image-name": "registry.example/app:1.2",
        });
        let bundle = bundles.join(id);
        std::fs::create_dir_all(&bundle).unwrap();
        std::fs::write(
            bundle.join("config.json"),
            json!({"ociVersion": "1.0.2", "annotations": annotations}).to_string(),
        )
        .unwrap();
        let labels: Vec<String> = annotations
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
            .chain([format!("bundle={}", bundle.display())])
            .collect();
        let dir = root.join(id);
        std::fs::create_dir_all(&dir).unwrap();
        let state = json!({
            "id": id,
            "init_process_pid": 4242,
            "config": {"labels": labels, "cgroups": {"path": cgroup}},
            "cgroup_paths": {
                "": format!("{}{cgroup}", cgroup2.display()),
                "memory": format!("/sys/fs/cgroup/memory{cgroup}"),
            },
        });
        // As runc does: a temporary file renamed over state.json.
        std::fs::write(dir.join("state-tmp"), state.to_string()).unwrap();
        std::fs::rename(dir.join("state-tmp"), dir.join("state.json")).unwrap();
        dir
    }

    #[test]
    fn reads_a_runc_container_of_containerd() {
        let base = scratch("state-runc");
        let cgroup = format!("/kubepods.slice/kubepods-besteffort.slice/cri-containerd-{ID}.scope");
        let unified = Path::new("/sys/fs/cgroup/unified");
        let dir = runc_container(&base.join("k8s.io"), &base.join("bundles"), ID, &cgroup, unified);
        let meta = read_container(&dir, Path::new("/sys/fs/cgroup/unified")).unwrap();
        assert_eq!(
            meta,
            Metadata {
                id: ID.into(),
                runtime: "containerd",
                name: Some("app".into()),
                image: Some("registry.example/app:1.2".into()),
                pod_name: Some("web-0".into()),
                pod_namespace: Some("payments".into()),
                pod_uid: Some(UID.into()),
                sandbox: false,
                cgroup: Some(cgroup.clone()),
                started_ns: meta.started_ns,
            }
        );
        // Without the bundle, runc's labels carry the annotations.
        std::fs::remove_dir_all(base.join("bundles")).unwrap();
        let again = read_container(&dir, Path::new("/sys/fs/cgroup/unified")).unwrap();
        assert_eq!(again, meta);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn reads_a_crun_container_of_cri_o() {
        let base = scratch("state-crun");
        let dir = base.join("crun").join(ID);
        std::fs::create_dir_all(&dir).unwrap();
        let cgroup = format!("kubepods.slice/kubepods-burstable.slice/crio-{ID}.scope");
        std::fs::write(
            dir.join("status"),
            json!({"pid": 77, "cgroup-path": cgroup, "bundle": "/nowhere", "owner": "root"})
                .to_string(),
        )
        .unwrap();
        std::fs::write(
            dir.join("config.json"),
            json!({"annotations": {
                "io.kubernetes.cri-o.ContainerType": "container",
                "io.kubernetes.cri-o.ImageName": "quay.io/acme/api:7",
                "io.kubernetes.pod.name": "api-5d9c",
                "io.kubernetes.pod.namespace": "shop",
                "io.kubernetes.pod.uid": UID,
                "io.kubernetes.container.name": "api",
            }})
            .to_string(),
        )
        .unwrap();
        let meta = read_container(&dir, Path::new("/sys/fs/cgroup")).unwrap();
        assert_eq!(meta.runtime, "cri-o");
        assert_eq!(meta.name.as_deref(), Some("api"));
        assert_eq!(meta.image.as_deref(), Some("quay.io/acme/api:7"));
        assert_eq!(meta.pod_name.as_deref(), Some("api-5d9c"));
        assert_eq!(meta.pod_namespace.as_deref(), Some("shop"));
        assert_eq!(meta.pod_uid.as_deref(), Some(UID));
        assert_eq!(meta.cgroup, Some(format!("/{cgroup}")));
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_sandbox_and_a_docker_container_and_a_broken_one() {
        assert_eq!(root_runtime(Path::new("/run/containerd/runc/k8s.io")), "containerd");
        assert_eq!(root_runtime(Path::new("/run/containerd/runc/moby")), "docker");
        assert_eq!(root_runtime(Path::new("/run/crun")), "crun");
        assert_eq!(root_runtime(Path::new("/run/runc")), "runc");
        let a: HashMap<String, String> = [
            ("io.kubernetes.cri.container-type", "sandbox"),
            ("io.kubernetes.cri.sandbox-name", "web-0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let meta = from_annotations(ID.into(), &a, "runc");
        assert!(meta.sandbox && meta.name.is_none());

        let base = scratch("state-moby");
        let dir = base.join("moby").join(ID);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("state.json"),
            r#"{"config":{"labels":["bundle=/nowhere","com.example=1"]}}"#,
        )
        .unwrap();
        let meta = read_container(&dir, Path::new("/sys/fs/cgroup")).unwrap();
        assert_eq!((meta.runtime, meta.name, meta.cgroup), ("docker", None, None));

        std::fs::write(dir.join("state.json"), "{not json").unwrap();
        assert!(matches!(read_container(&dir, Path::new("/")), Err(StateError::Json { .. })));
        std::fs::remove_file(dir.join("state.json")).unwrap();
        assert!(matches!(read_container(&dir, Path::new("/")), Err(StateError::NoState { .. })));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
