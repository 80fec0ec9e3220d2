//! Real containers for the kernel tests: runc runs a busybox root
//! filesystem in the cgroup a Kubernetes node's containerd would give it
//! (`/kubepods.slice/.../cri-containerd-<id>.scope`), with the annotations
//! containerd's CRI plugin writes. The agent reads their runc state from a
//! state directory of the test's own (`--runtime-state-dir`), as it reads
//! `/run/containerd/runc/k8s.io` on a node.
//!
//! Needs runc (`cargo xtask setup` installs Debian's), busybox (Debian's
//! busybox-static) and a cgroup v2 mount; where one is missing a test
//! prints why and passes without checking anything (the 6.1 VM has no runc).

use std::{
    os::unix::fs::{MetadataExt, symlink},
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use serde_json::{Value, json};

const RUNC: &[&str] = &["/usr/sbin/runc", "/usr/bin/runc"];
const BUSYBOX: &str = "/bin/busybox";
/// Applets linked in the root filesystem (those this busybox has).
const APPLETS: &[&str] =
    &["sh", "true", "cat", "sleep", "wget", "nc", "nslookup", "timeout", "arping"];
pub const POD_NAME: &str = "web-0";
pub const NAMESPACE: &str = "payments";
pub const IMAGE: &str = "registry.example/app:1.2";

/// What the tests need, or why they cannot run here.
pub struct Host {
    runc: &'static str,
    /// Where cgroup v2 is mounted.
    cgroup2: PathBuf,
}

impl Host {
    fn check() -> Result<Self, String> {
        let runc = RUNC.iter().copied().find(|p| Path::new(p).exists()).ok_or_else(|| {
            format!(
                "runc is not installed (looked for {}); `cargo xtask setup` installs it",
                RUNC.join(", ")
            )
        })?;
        if !Path::new(BUSYBOX).exists() {
            return Err(format!("{BUSYBOX} (Debian's busybox-static) is missing"));
        }
        let cgroup2 = super::host::cgroup_mounts()
            .into_iter()
            .find_map(|(path, fstype)| (fstype == "cgroup2").then_some(path))
            .ok_or("no cgroup v2 mount")?;
        Ok(Self { runc, cgroup2 })
    }
}

/// Returns the host, or prints why the test cannot run here.
pub fn host_or_skip(test: &str) -> Option<Host> {
    Host::check().map_err(|why| skip(test, &why)).ok()
}

pub fn skip(test: &str, why: &str) {
    println!("SKIPPED {test}: {why}");
    eprintln!("SKIPPED {test}: {why}");
}

/// A pod UID as the API server makes them (a UUID).
pub fn fresh_uid() -> String {
    let h = super::host::fresh_hex(32);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// A scratch directory holding the state root and the bundles.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("palisade-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("state/k8s.io")).expect("create scratch dir");
        Self(dir)
    }

    /// The runtime state root, as containerd's `/run/containerd/runc/k8s.io`.
    pub fn state_root(&self) -> PathBuf {
        self.0.join("state/k8s.io")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One container of pod `web-0`, run by runc.
pub struct Container<'a> {
    host: &'a Host,
    state_root: PathBuf,
    pub id: String,
    pub pod_uid: String,
    /// `linux.cgroupsPath`: the container's cgroup below each hierarchy.
    pub cgroup: String,
    pub bundle: PathBuf,
}

impl<'a> Container<'a> {
    /// Writes a bundle: a busybox root filesystem and a `config.json` from
    /// `runc spec`, running `args` as container `name` of the pod, in
    /// namespace [`NAMESPACE`].
    pub fn new(
        host: &'a Host,
        scratch: &Scratch,
        pod_uid: &str,
        name: &str,
        args: &[&str],
    ) -> Self {
        Self::in_namespace(host, scratch, pod_uid, name, NAMESPACE, args)
    }

    /// As [`new`](Self::new), in pod namespace `namespace`.
    pub fn in_namespace(
        host: &'a Host,
        scratch: &Scratch,
        pod_uid: &str,
        name: &str,
        namespace: &str,
        args: &[&str],
    ) -> Self {
        let id = super::host::fresh_hex(64);
        let bundle = scratch.0.join(format!("bundle-{id}"));
        let bin = bundle.join("rootfs/bin");
        std::fs::create_dir_all(&bin).expect("create rootfs");
        std::fs::create_dir_all(bundle.join("rootfs/proc")).unwrap();
        std::fs::copy(BUSYBOX, bin.join("busybox")).expect("copy busybox");
        let list = Command::new(BUSYBOX).arg("--list").output().expect("busybox --list");
        let have = String::from_utf8_lossy(&list.stdout).to_string();
        for applet in APPLETS.iter().filter(|a| have.lines().any(|l| l == **a)) {
            symlink("busybox", bin.join(applet)).expect("applet link");
        }
        let cgroup = format!(
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/cri-containerd-{id}.scope",
            pod_uid.replace('-', "_")
        );
        let spec = Command::new(host.runc)
            .args(["spec", "--bundle"])
            .arg(&bundle)
            .output()
            .expect("runc spec");
        assert!(spec.status.success(), "runc spec: {}", String::from_utf8_lossy(&spec.stderr));
        let path = bundle.join("config.json");
        let mut config: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read config.json")).unwrap();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        // Below what this sandbox allows (no CAP_SYS_RESOURCE).
        config["process"]["rlimits"] =
            json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]);
        config["root"] = json!({"path": "rootfs", "readonly": true});
        // As containerd and Docker grant by default (runc's own default
        // does not): CAP_NET_RAW, what makes raw and packet sockets a way
        // around the network rules.
        for set in ["bounding", "effective", "permitted"] {
            if let Some(caps) = config["process"]["capabilities"][set].as_array_mut() {
                caps.push(json!("CAP_NET_RAW"));
            }
        }
        config["linux"]["cgroupsPath"] = json!(cgroup);
        // The host's network, as a hostNetwork pod has: the container can
        // reach a listener the test starts on loopback.
        if let Some(namespaces) = config["linux"]["namespaces"].as_array_mut() {
            namespaces.retain(|ns| ns["type"] != "network");
        }
        // As containerd's CRI plugin annotates a pod's container.
        config["annotations"] = json!({
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.container-name": name,
            "io.kubernetes.cri.image-name": IMAGE,
            "io.kubernetes.cri.sandbox-id": "f".repeat(64),
            "io.kubernetes.cri.sandbox-name": POD_NAME,
            "io.kubernetes.cri.sandbox-namespace": namespace,
            "io.kubernetes.cri.sandbox-uid": pod_uid,
        });
        std::fs::write(&path, config.to_string()).expect("write config.json");
        Self {
            host,
            state_root: scratch.state_root(),
            id,
            pod_uid: pod_uid.to_string(),
            cgroup,
            bundle,
        }
    }

    /// Copies `from` into the root filesystem as `/bin/<name>` (before the
    /// container runs: its root is read-only).
    pub fn install(&self, name: &str, from: &Path) {
        let to = self.bundle.join("rootfs/bin").join(name);
        std::fs::copy(from, &to)
            .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
    }

    /// `runc exec` of `args` in the running container: its exit status and
    /// what it printed on stdout and stderr.
    pub fn exec(&self, args: &[&str]) -> (std::process::ExitStatus, String) {
        let out = self
            .runc()
            .arg("exec")
            .arg(&self.id)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("runc exec");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status, text)
    }

    pub fn runc(&self) -> Command {
        let mut command = Command::new(self.host.runc);
        command.arg("--root").arg(&self.state_root);
        command
    }

    /// `runc run`: in the foreground (returns once the container exited),
    /// or detached. The container's stdio is /dev/null, save runc's stderr,
    /// kept for the failure message (a pipe would stay open as long as a
    /// detached container runs).
    pub fn run(&self, detach: bool) {
        let log = self.bundle.join("runc.log");
        let stderr = std::fs::File::create(&log).expect("create runc.log");
        let mut command = self.runc();
        command.arg("run");
        if detach {
            command.arg("--detach");
        }
        let status = command
            .arg("--bundle")
            .arg(&self.bundle)
            .arg(&self.id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .status()
            .expect("start runc");
        assert!(
            status.success(),
            "runc run {}: {status}: {}",
            self.id,
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// The container's cgroup directory under the cgroup v2 mount.
    pub fn cgroup_dir(&self) -> PathBuf {
        self.host.cgroup2.join(self.cgroup.trim_start_matches('/'))
    }

    /// The cgroup v2 id of the container's cgroup (while it exists).
    pub fn cgroup_id(&self) -> u64 {
        let dir = self.cgroup_dir();
        std::fs::metadata(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).ino()
    }

    /// The container's init process, from `runc state`.
    pub fn init_pid(&self) -> u32 {
        let out = self.runc().arg("state").arg(&self.id).output().expect("runc state");
        let state: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("runc state: {e}: {}", String::from_utf8_lossy(&out.stderr))
        });
        state["pid"].as_u64().expect("pid in runc state") as u32
    }
}

impl Drop for Container<'_> {
    fn drop(&mut self) {
        let _ = self.runc().args(["delete", "--force", &self.id]).stderr(Stdio::null()).status();
        // runc removes the container's cgroup, not the slices above it.
        let mut parents: Vec<&str> = Vec::new();
        let mut path = self.cgroup.as_str();
        while let Some((parent, _)) = path.rsplit_once('/') {
            if !parent.is_empty() {
                parents.push(parent);
            }
            path = parent;
        }
        for (mount, _) in super::host::cgroup_mounts() {
            for parent in &parents {
                // Fails, harmlessly, while another container still uses it.
                let _ = std::fs::remove_dir(mount.join(parent.trim_start_matches('/')));
            }
        }
    }
}
