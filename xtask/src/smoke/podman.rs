//! The agent's container under podman, set up as the DaemonSet sets it up.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Output, Stdio},
    sync::mpsc::{self, Receiver},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::{cmd, image, setup::DEPLOY_VENV};

/// Where the DaemonSet mounts the policy ConfigMap.
const POLICY_MOUNT: &str = "/etc/palisade/policy";

fn container_name() -> String {
    format!("palisade-smoke-{}", std::process::id())
}

/// Prints the capabilities the DaemonSet in the manifests on stdin adds.
const READ_CAPABILITIES: &str = r#"
import sys, yaml
for d in yaml.safe_load_all(sys.stdin):
    if d and d["kind"] == "DaemonSet":
        sc = d["spec"]["template"]["spec"]["containers"][0]["securityContext"]
        assert sc["capabilities"]["drop"] == ["ALL"], sc
        print(" ".join(sc["capabilities"]["add"]))
"#;

/// The capabilities the DaemonSet adds, read from the rendered enforce
/// overlay, so the test runs with exactly the manifest's set.
fn daemonset_capabilities() -> anyhow::Result<Vec<String>> {
    let venv = Path::new(DEPLOY_VENV).join("bin");
    let rendered = Command::new(venv.join("kubectl"))
        .arg("kustomize")
        .arg(cmd::workspace_root().join("deploy/overlays/enforce"))
        .output()
        .context("running kubectl kustomize (run `cargo xtask setup`)")?;
    if !rendered.status.success() {
        bail!("kubectl kustomize failed: {}", String::from_utf8_lossy(&rendered.stderr));
    }
    let mut python = Command::new(venv.join("python"))
        .args(["-c", READ_CAPABILITIES])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("running python")?;
    python.stdin.take().expect("piped").write_all(&rendered.stdout)?;
    let out = python.wait_with_output()?;
    if !out.status.success() {
        bail!("cannot read the DaemonSet's capabilities");
    }
    Ok(String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect())
}

/// `podman run` options matching the DaemonSet's pod: host PID; every
/// capability dropped but the DaemonSet's; no privilege escalation; seccomp
/// unconfined; read-only root; uid 0; the same host paths, read-only where
/// the DaemonSet has them so, HostToContainer (rslave) propagation.
fn pod_options() -> anyhow::Result<Vec<String>> {
    host_mounts()?;
    std::fs::create_dir_all("/run/containerd").context("creating /run/containerd")?;
    let mut opts: Vec<String> = [
        "--pid=host",
        "--user=0:0",
        "--read-only",
        "--security-opt=no-new-privileges",
        "--security-opt=seccomp=unconfined",
        "--cap-drop=all",
        // This sandbox's rlimits are below podman's defaults (see the module doc).
        "--ulimit=nofile=1024:1024",
        "--ulimit=nproc=1024:1024",
        "--volume=/sys/fs/bpf:/sys/fs/bpf:rslave",
        "--volume=/sys/kernel/btf:/sys/kernel/btf:ro",
        "--volume=/sys/kernel/tracing:/sys/kernel/tracing:ro",
        "--volume=/sys/kernel/security:/sys/kernel/security:ro",
        "--volume=/sys/fs/cgroup:/sys/fs/cgroup:ro,rslave",
        "--volume=/run/containerd:/run/containerd:ro,rslave",
    ]
    .map(str::to_string)
    .to_vec();
    for cap in daemonset_capabilities()? {
        opts.push(format!("--cap-add={cap}"));
    }
    Ok(opts)
}

/// Mounts on the host what a node's init system mounts and the pod binds
/// (bpffs, tracefs, securityfs), where missing: the agent in the pod has no
/// CAP_SYS_ADMIN to mount them itself.
fn host_mounts() -> anyhow::Result<()> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").context("reading mounts")?;
    for (fstype, target) in [
        ("bpf", "/sys/fs/bpf"),
        ("tracefs", "/sys/kernel/tracing"),
        ("securityfs", "/sys/kernel/security"),
    ] {
        let mounted = mounts.lines().any(|l| {
            let mut f = l.split_whitespace().skip(1);
            f.next() == Some(target) && f.next() == Some(fstype)
        });
        if !mounted {
            cmd::run(Command::new("mount").args(["-t", fstype, fstype, target]))?;
        }
    }
    Ok(())
}

/// A free TCP port on the loopback for the metrics server.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The HTTP status of GET `path` on the agent's metrics port.
pub fn http_status(port: u16, path: &str) -> anyhow::Result<u16> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).context("connecting to the metrics port")?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok());
    status.with_context(|| format!("not an HTTP response to {path}: {response:?}"))
}

pub struct Agent {
    child: Child,
    events: Receiver<Value>,
    logs: Receiver<String>,
    seen_logs: Vec<String>,
}

impl Agent {
    /// Starts `palisade run` in its container, with the ConfigMap directory
    /// `policy` mounted where the DaemonSet mounts it.
    pub fn start(policy: &Path, port: u16) -> anyhow::Result<Self> {
        let mut child = Command::new("podman")
            .args(["run", "--rm", "--name", &container_name(), "--network=host"])
            .args(pod_options()?)
            .arg(format!("--env=NODE_NAME={}", super::NODE_NAME))
            .arg(format!("--volume={}:{POLICY_MOUNT}:ro", policy.display()))
            .arg(image::reference())
            .args(["run", "--log-json", &format!("--policy={POLICY_MOUNT}")])
            .arg(format!("--metrics-addr=127.0.0.1:{port}"))
            .arg(format!("--host-root=/proc/{}/root", std::process::id()))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running podman")?;
        let (event_tx, events) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                match serde_json::from_str::<Value>(&line) {
                    Ok(event) => {
                        if event_tx.send(event).is_err() {
                            break;
                        }
                    }
                    Err(e) => eprintln!("[agent stdout, not JSON: {e}] {line}"),
                }
            }
        });
        let (log_tx, logs) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[agent] {line}");
                if log_tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self { child, events, logs, seen_logs: Vec::new() })
    }

    /// Every log line read so far.
    pub fn logs(&self) -> &[String] {
        &self.seen_logs
    }

    /// Waits for the next log line containing `needle`.
    pub fn wait_log(&mut self, needle: &str, wait: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + wait;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.logs.recv_timeout(left) else { break };
            let found = line.contains(needle);
            self.seen_logs.push(line);
            if found {
                return Ok(());
            }
        }
        bail!("the agent did not log `{needle}` within {} s", wait.as_secs())
    }

    /// Waits for an event `accept` takes.
    pub fn wait_event(
        &mut self,
        what: &str,
        wait: Duration,
        accept: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + wait;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(event) = self.events.recv_timeout(left) else { break };
            if accept(&event) {
                return Ok(event);
            }
        }
        bail!("no event for {what} within {} s", wait.as_secs())
    }

    /// Stops the container as the kubelet stops a pod (SIGTERM, then KILL
    /// after the grace period) and waits for podman to return.
    pub fn stop(mut self) -> anyhow::Result<()> {
        cmd::run(
            Command::new("podman")
                .args(["stop", "--time", "15", &container_name()])
                .stdout(Stdio::null()),
        )?;
        let status = self.child.wait()?;
        eprintln!("smoke: container stopped ({status})");
        Ok(())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `palisade unload`, run from the image with the pod's options.
pub fn unload() -> anyhow::Result<Output> {
    Command::new("podman")
        .args(["run", "--rm", "--network=none"])
        .args(pod_options()?)
        .arg(image::reference())
        .arg("unload")
        .output()
        .context("running podman")
}

/// Removes the test's container if it is still there, and anything it left
/// pinned.
pub fn cleanup() {
    let _ = Command::new("podman")
        .args(["rm", "--force", "--time", "5", &container_name()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if std::fs::read_dir("/sys/fs/bpf/palisade").is_ok_and(|mut d| d.next().is_some()) {
        let _ = unload();
    }
}
