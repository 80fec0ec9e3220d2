//! A container's id and runtime, and its pod's UID, read from a cgroup path
//! (relative to the cgroup v2 root). Covers the layouts the common runtimes
//! create under systemd's and cgroupfs's cgroup drivers:
//!
//! | runtime | systemd driver | cgroupfs driver |
//! |---|---|---|
//! | containerd (CRI) | `.../kubepods-<qos>-pod<uid>.slice/cri-containerd-<id>.scope` | `/kubepods/<qos>/pod<uid>/<id>` |
//! | CRI-O | `.../kubepods-<qos>-pod<uid>.slice/crio-<id>.scope` | `/kubepods/<qos>/pod<uid>/crio-<id>` |
//! | Docker | `/system.slice/docker-<id>.scope` | `/docker/<id>` |
//! | Podman | `/machine.slice/libpod-<id>.scope` | `/libpod_parent/libpod-<id>` |
//!
//! `<id>` is 64 hex digits. The guaranteed QoS class has no `<qos>` level.
//! `crio-conmon-<id>` and `libpod-conmon-<id>` hold the runtimes' monitor
//! processes, which run on the host: not containers.

/// What a cgroup path says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathInfo {
    /// The container's id and runtime (the innermost container level).
    pub container: Option<(String, &'static str)>,
    /// The pod's UID, with dashes.
    pub pod_uid: Option<String>,
    /// The runtime was guessed: a bare id under `kubepods` is containerd's
    /// layout, but also dockershim's; the runtime's state directory decides.
    pub runtime_guessed: bool,
}

/// Scope and cgroupfs name prefixes, most specific first: an entry with no
/// runtime marks a monitor's cgroup, which is not a container.
const PREFIXES: &[(&str, Option<&str>)] = &[
    ("cri-containerd-", Some("containerd")),
    ("crio-conmon-", None),
    ("crio-", Some("cri-o")),
    ("docker-", Some("docker")),
    ("libpod-conmon-", None),
    ("libpod-", Some("podman")),
];

pub fn parse(path: &str) -> PathInfo {
    let mut info = PathInfo::default();
    let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let under_kubepods = |i: usize| components[..i].iter().any(|c| is_kubepods(c));
    for (i, component) in components.iter().enumerate() {
        if let Some(uid) = pod_uid(component, under_kubepods(i)) {
            info.pod_uid = Some(uid);
        }
        let parent = i.checked_sub(1).map(|p| components[p]);
        if let Some((id, runtime, guessed)) = container(component, parent, under_kubepods(i)) {
            info.container = Some((id.to_string(), runtime));
            info.runtime_guessed = guessed;
        } else if is_monitor(component) {
            // A monitor inside a pod is the runtime's, not the pod's.
            info.container = None;
        }
    }
    info
}

fn is_kubepods(component: &str) -> bool {
    component == "kubepods" || component == "kubepods.slice"
}

/// `kubepods-<qos>-pod<uid>.slice` / `kubepods-pod<uid>.slice` (systemd,
/// dashes written as underscores), or `pod<uid>` under `kubepods` (cgroupfs).
fn pod_uid(component: &str, under_kubepods: bool) -> Option<String> {
    let uid = if let Some(slice) = component.strip_suffix(".slice") {
        let rest = slice.strip_prefix("kubepods-")?;
        let at = rest.find("pod")?;
        // `pod` starts the component's last dash-separated part.
        if at != 0 && !rest[..at].ends_with('-') {
            return None;
        }
        rest[at + 3..].replace('_', "-")
    } else if under_kubepods {
        component.strip_prefix("pod")?.to_string()
    } else {
        return None;
    };
    // UUIDs, or 32 hex digits for a static pod (a hash of its manifest).
    let uid_like = uid.len() >= 32 && uid.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    uid_like.then_some(uid)
}

fn container<'a>(
    component: &'a str,
    parent: Option<&str>,
    under_kubepods: bool,
) -> Option<(&'a str, &'static str, bool)> {
    let name = component.strip_suffix(".scope").unwrap_or(component);
    for (prefix, runtime) in PREFIXES {
        if let Some(id) = name.strip_prefix(prefix) {
            return match runtime {
                Some(runtime) if is_container_id(id) => Some((id, runtime, false)),
                _ => None,
            };
        }
    }
    if !is_container_id(component) {
        return None;
    }
    match parent {
        Some("docker") => Some((component, "docker", false)),
        _ if under_kubepods => Some((component, "containerd", true)),
        _ => None,
    }
}

fn is_monitor(component: &str) -> bool {
    let name = component.strip_suffix(".scope").unwrap_or(component);
    name.starts_with("crio-conmon-") || name.starts_with("libpod-conmon-")
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4f1e8a0c7b2d4e6f9a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f";
    const UID: &str = "0f3c2b8e-6a4d-4e2f-9b1a-7c5d3e1f0a9b";
    const UID_SYSTEMD: &str = "0f3c2b8e_6a4d_4e2f_9b1a_7c5d3e1f0a9b";

    fn info(container: Option<(&str, &'static str)>, pod: Option<&str>) -> PathInfo {
        PathInfo {
            container: container.map(|(id, rt)| (id.to_string(), rt)),
            pod_uid: pod.map(str::to_string),
            runtime_guessed: false,
        }
    }

    #[test]
    fn containerd_under_systemd_in_each_qos_class() {
        for qos in ["besteffort", "burstable"] {
            let path = format!(
                "/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{UID_SYSTEMD}.slice/cri-containerd-{ID}.scope"
            );
            assert_eq!(parse(&path), info(Some((ID, "containerd")), Some(UID)), "{path}");
        }
        // Guaranteed: no QoS level.
        let path =
            format!("/kubepods.slice/kubepods-pod{UID_SYSTEMD}.slice/cri-containerd-{ID}.scope");
        assert_eq!(parse(&path), info(Some((ID, "containerd")), Some(UID)));
    }

    #[test]
    fn containerd_under_cgroupfs() {
        let path = format!("/kubepods/burstable/pod{UID}/{ID}");
        let parsed = parse(&path);
        assert_eq!(parsed.container, Some((ID.to_string(), "containerd")));
        assert_eq!(parsed.pod_uid.as_deref(), Some(UID));
        assert!(parsed.runtime_guessed, "a bare id could be dockershim's too");
        let path = format!("/kubepods/pod{UID}/{ID}");
        assert_eq!(parse(&path).pod_uid.as_deref(), Some(UID));
    }

    #[test]
    fn cri_o_and_its_monitor() {
        let pod = format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_SYSTEMD}.slice"
        );
        assert_eq!(parse(&format!("{pod}/crio-{ID}.scope")), info(Some((ID, "cri-o")), Some(UID)));
        // conmon runs on the host, in the pod's slice.
        assert_eq!(parse(&format!("{pod}/crio-conmon-{ID}.scope")), info(None, Some(UID)));
        // cgroupfs driver.
        assert_eq!(
            parse(&format!("/kubepods/besteffort/pod{UID}/crio-{ID}")),
            info(Some((ID, "cri-o")), Some(UID))
        );
    }

    #[test]
    fn docker_under_systemd_and_cgroupfs() {
        let expected = info(Some((ID, "docker")), None);
        assert_eq!(parse(&format!("/system.slice/docker-{ID}.scope")), expected);
        assert_eq!(parse(&format!("/docker/{ID}")), expected);
    }

    #[test]
    fn podman_and_its_monitor() {
        assert_eq!(
            parse(&format!("/machine.slice/libpod-{ID}.scope")),
            info(Some((ID, "podman")), None)
        );
        assert_eq!(
            parse(&format!("/machine.slice/libpod-{ID}.scope/container")),
            info(Some((ID, "podman")), None),
            "a sub-cgroup belongs to its container"
        );
        assert_eq!(parse(&format!("/machine.slice/libpod-conmon-{ID}.scope")), info(None, None));
        assert_eq!(parse(&format!("/libpod_parent/libpod-{ID}")), info(Some((ID, "podman")), None));
    }

    #[test]
    fn host_cgroups_are_no_container() {
        for path in [
            "/",
            "/system.slice/containerd.service",
            "/system.slice/docker.service",
            "/user.slice/user-1000.slice/session-3.scope",
            "/kubepods.slice/kubepods-besteffort.slice",
            "/init.scope",
            // Not 64 hex digits.
            "/system.slice/docker-1234.scope",
            "/kubepods/burstable/podnothex/abc",
        ] {
            assert_eq!(parse(path), PathInfo::default(), "{path}");
        }
    }

    #[test]
    fn a_pod_without_a_container_level_has_only_its_uid() {
        let path = format!(
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_SYSTEMD}.slice"
        );
        assert_eq!(parse(&path), info(None, Some(UID)));
        // A static pod's UID is a 32-hex-digit hash.
        let hash = "7d6f1c2a9b8e4f3d0c1b2a3f4e5d6c7b";
        assert_eq!(parse(&format!("/kubepods/burstable/pod{hash}")).pod_uid.as_deref(), Some(hash));
    }

    #[test]
    fn nested_docker_in_docker_is_the_inner_container() {
        let inner = ID.replace('4', "5");
        assert_eq!(
            parse(&format!("/docker/{ID}/docker/{inner}")),
            info(Some((&inner, "docker")), None)
        );
    }
}
