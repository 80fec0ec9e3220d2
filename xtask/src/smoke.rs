//! `cargo xtask smoke`: the built image, run with podman the way the
//! DaemonSet runs it (host PID, the same host mounts read-only, every
//! capability dropped but the DaemonSet's, no privilege escalation, a
//! read-only root, the policy bundle in a kubelet-style ConfigMap directory).
//! It must attach, report an exec made on the host, deny a binary the bundle
//! denies by path, pick up a ConfigMap update (the kubelet's `..data` swap),
//! answer /healthz and /readyz, and once stopped leave enforcement pinned;
//! `palisade unload` run from the image must then remove it. Any miss fails.
//!
//! Differences from a node, each forced by this machine: podman's default
//! rlimits exceed the sandbox's (lower ones are passed); the metrics port is
//! on the host network (no pod network here); and pid 1 here is a sandbox
//! init whose root even root cannot read, so `--host-root` names this
//! process's root (`/proc/<pid>/root`) instead of `/proc/1/root`.

mod kubelet;
mod podman;

use std::{
    os::unix::{fs::PermissionsExt, process::ExitStatusExt},
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, bail, ensure};

use crate::{cmd, image, policy_configmap};

const RULE_ID: &str = "SMOKE-001";
const KILL_RULE_ID: &str = "SMOKE-002";
const NODE_NAME: &str = "smoke-node";
const PIN_DIR: &str = "/sys/fs/bpf/palisade";
/// How long the agent may take to attach and each event to arrive.
const WAIT: Duration = Duration::from_secs(60);

pub fn run() -> anyhow::Result<()> {
    let started = Instant::now();
    // The debug build: `cargo xtask test` compiled it already.
    image::build(image::Profile::Debug)?;
    let work = std::env::temp_dir().join(format!("palisade-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("bin")).context("creating the smoke test's directory")?;
    let result = smoke(&work);
    // Whatever happened, nothing of the test stays running or pinned.
    podman::cleanup();
    let _ = std::fs::remove_dir_all(&work);
    result?;
    eprintln!("smoke: passed in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn smoke(work: &Path) -> anyhow::Result<()> {
    // A copy of `touch` the bundle denies by its host path: it exists on the
    // host only, so the agent can only find it through --host-root.
    let denied = work.join("bin/smoke-denied");
    std::fs::copy("/usr/bin/touch", &denied).context("copying touch")?;
    // A copy of `sleep` a userspace rule kills.
    let victim = work.join("bin/smoke-victim");
    std::fs::copy("/usr/bin/sleep", &victim).context("copying sleep")?;
    for (path, mode) in [
        (&denied, 0o755),
        (&victim, 0o755),
        (&work.join("bin"), 0o755),
        (&work.to_path_buf(), 0o755),
    ] {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    let policy = work.join("policy");
    let configmap = kubelet::ConfigMap::new(&policy);
    let bundle = |mode| bundle(&denied, &victim, mode);
    configmap.publish(&bundle("enforce")?)?;

    let port = podman::free_port()?;
    let mut agent = podman::Agent::start(&policy, port)?;
    agent.wait_log("kernel rules in force", WAIT)?;
    // With the DaemonSet's capabilities every mechanism this kernel offers
    // is in use: exec denial, and the cgroup hooks (NET_ADMIN).
    let attached = agent
        .logs()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["exec"].is_string())
        .context("no `hooks attached` log line")?;
    let (exec, network) = (&attached["fields"]["exec"], &attached["fields"]["network"]);
    ensure!(exec != "none" && network == "cgroup-sock-addr", "degraded mechanisms: {attached}");
    eprintln!("smoke: agent attached (exec enforcement {exec}, network {network})");

    // 1. An exec on the host is reported, with the host's pid and the node name.
    let nonce = format!("palisade-smoke-{}", std::process::id());
    let mut child = Command::new("/bin/true").arg(&nonce).spawn().context("running /bin/true")?;
    let pid = child.id();
    child.wait()?;
    let event = agent.wait_event("the host exec", WAIT, |e| {
        e["kind"] == "process_exec"
            && e["process"]["pid"] == pid
            && e["process"]["args"].as_array().is_some_and(|a| a.iter().any(|x| x == &*nonce))
    })?;
    ensure!(event["node"] == NODE_NAME, "the event's node is not $NODE_NAME: {event}");
    // Ancestry reaches processes older than the agent (read from /proc:
    // SYS_PTRACE): cargo, this test's parent.
    let parent = std::os::unix::process::parent_id();
    let ancestors = event["process"]["ancestors"].as_array().cloned().unwrap_or_default();
    ensure!(
        ancestors
            .iter()
            .any(|a| a["pid"] == parent && a["binary"].as_str().is_some_and(|b| !b.is_empty())),
        "the ancestry lacks this test's parent (pid {parent}) with its binary: {event}"
    );
    eprintln!("smoke: host exec of /bin/true (pid {pid}) reported, with its ancestry");

    // A `kill` decision on another user's process (KILL): uid 65534 runs
    // the victim, the agent kills it through a pidfd.
    let started = Instant::now();
    let status = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&victim)
        .arg("30")
        .status()
        .context("running setpriv")?;
    ensure!(
        status.signal() == Some(libc::SIGKILL),
        "the other user's process was not killed: {status}"
    );
    let event = agent.wait_event("the kill decision", WAIT, |e| {
        e["decision"]["enforcement"]["mechanism"] == "pidfd-sigkill"
    })?;
    ensure!(event["decision"]["enforcement"]["result"] == "killed", "{event}");
    eprintln!(
        "smoke: uid 65534's process killed by pidfd in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // 2. The denied binary is stopped before it runs (it would create a file).
    expect_denied(&denied, work, "with the agent running")?;
    let event = agent.wait_event("the denied exec", WAIT, |e| {
        e["kind"] == "process_exec" && e["decision"]["enforcement"]["rule"] == RULE_ID
    })?;
    let result = &event["decision"]["enforcement"]["result"];
    ensure!(result == "killed" || result == "denied", "the kernel did not act: {event}");
    eprintln!("smoke: denied binary stopped ({})", event["decision"]["enforcement"]["mechanism"]);

    // 3. Health and readiness, as the kubelet probes them.
    for path in ["/healthz", "/readyz"] {
        let status = podman::http_status(port, path)?;
        ensure!(status == 200, "{path} answered {status}");
    }
    eprintln!("smoke: /healthz and /readyz answer 200");

    // 4. A ConfigMap update (kubelet swap) turning the rule to audit is
    //    hot-reloaded: the binary runs and is reported as would_block; then
    //    back to enforce.
    configmap.publish(&bundle("audit")?)?;
    agent.wait_log("new policy bundle validated", WAIT)?;
    agent.wait_log("policy bundle swapped in", WAIT)?;
    let marker = work.join("ran-in-audit");
    let status = Command::new(&denied).arg(&marker).status()?;
    ensure!(status.success() && marker.exists(), "in audit mode the binary did not run: {status}");
    agent.wait_event("the audited exec", WAIT, |e| {
        e["kind"] == "process_exec"
            && e["decision"]["would_block"] == true
            && e["decision"]["matched"]
                .as_array()
                .is_some_and(|m| m.iter().any(|r| r["rule"] == RULE_ID))
    })?;
    configmap.publish(&bundle("enforce")?)?;
    agent.wait_log("new policy bundle validated", WAIT)?;
    agent.wait_log("policy bundle swapped in", WAIT)?;
    expect_denied(&denied, work, "after the ConfigMap went back to enforce")?;
    eprintln!("smoke: ConfigMap swaps hot-reloaded (enforce -> audit -> enforce)");

    // The DaemonSet's SYS_NICE reached the runtime state watcher.
    ensure!(
        !agent.logs().iter().any(|l| l.contains("keeps the default priority")),
        "the runtime state watcher could not raise its priority with the DaemonSet's capabilities"
    );

    // 5. Stopped as a pod is (SIGTERM): the pins keep enforcing.
    agent.stop()?;
    ensure!(
        Path::new(PIN_DIR).join("links").read_dir().is_ok_and(|mut d| d.next().is_some()),
        "no pinned links under {PIN_DIR}/links after the agent stopped"
    );
    expect_denied(&denied, work, "after the agent stopped")?;
    eprintln!("smoke: agent stopped; pinned enforcement still denies the binary");

    // 6. `palisade unload` from the image removes it all.
    let output = podman::unload()?;
    ensure!(output.status.success(), "unload failed: {}", String::from_utf8_lossy(&output.stderr));
    let left = std::fs::read_dir(PIN_DIR).map(|d| d.count()).unwrap_or(0);
    ensure!(left == 0, "{left} entries left under {PIN_DIR} after unload");
    // With CAP_BPF alone, unload cannot list the kernel's programs to see
    // them go (it says so): the links are released a moment after it
    // returns, on a kernel worker.
    let marker = work.join("ran-after-unload");
    let unloaded = Instant::now();
    let status = loop {
        let status = Command::new(&denied).arg(&marker).status()?;
        if status.success() || unloaded.elapsed() > Duration::from_secs(5) {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    ensure!(
        status.success() && marker.exists(),
        "5 s after unload the binary still fails: {status}"
    );
    eprintln!(
        "smoke: unload from the image removed the pins; the binary runs again ({} ms later)",
        unloaded.elapsed().as_millis()
    );
    Ok(())
}

/// Runs `denied` (a `touch`) and requires that the kernel stopped it: killed
/// by SIGKILL at exec or refused with EPERM, and the file never created.
fn expect_denied(denied: &Path, work: &Path, when: &str) -> anyhow::Result<()> {
    let marker = work.join("must-not-exist");
    let outcome = Command::new(denied).arg(&marker).status();
    let stopped = match &outcome {
        Ok(status) => status.signal() == Some(libc::SIGKILL),
        Err(err) => err.raw_os_error() == Some(libc::EPERM),
    };
    if !stopped || marker.exists() {
        bail!(
            "{when}: the denied binary was not stopped ({outcome:?}, file created: {})",
            marker.exists()
        );
    }
    Ok(())
}

/// The bundle the ConfigMaps hold, as the kubelet lays out the DaemonSet's
/// projected volume: the baseline (modules at their flattened keys, data
/// files at their paths, as in deploy/base), with its own mode left at
/// audit, plus a site rule denying `denied` by path in `mode`.
fn bundle(denied: &Path, victim: &Path, mode: &str) -> anyhow::Result<Vec<(String, String)>> {
    const RULE_MODES: &str = "palisade/config/rule_modes/data.json";
    let root = cmd::workspace_root();
    let mut files: Vec<(String, String)> = policy_configmap::bundle_files(&root.join("policies"))?
        .into_iter()
        .filter(|(path, _)| path != RULE_MODES)
        .map(|(path, text)| match policy_configmap::is_data(&path) {
            true => (path, text),
            false => (policy_configmap::key_of(&path), text),
        })
        .collect();
    let rule_modes = serde_json::json!({RULE_ID: mode, KILL_RULE_ID: "enforce"});
    files.push((RULE_MODES.into(), rule_modes.to_string()));
    files.push(("rules.smoke_deny.rego".into(), rule(denied)));
    files.push(("rules.smoke_kill.rego".into(), kill_rule(victim)));
    Ok(files)
}

fn rule(denied: &Path) -> String {
    format!(
        r#"package palisade.rules.smoke_deny

import rego.v1

meta := {{"id": "{RULE_ID}", "title": "smoke test: denied by path", "description": "The smoke test's denied binary.", "severity": "high", "mitre": "T1059", "action": "block", "kinds": ["process_exec"]}}

hits contains "smoke-denied executed" if input.process.binary == {path:?}

kernel := {{"scope": "all", "exec": {{"paths": [{path:?}]}}}}
"#,
        path = denied.display().to_string()
    )
}

/// A userspace-only rule (no `kernel` section) that kills `victim`.
fn kill_rule(victim: &Path) -> String {
    format!(
        r#"package palisade.rules.smoke_kill

import rego.v1

meta := {{"id": "{KILL_RULE_ID}", "title": "smoke test: killed in userspace", "description": "The smoke test's victim.", "severity": "high", "mitre": "T1059", "action": "kill", "kinds": ["process_exec"]}}

hits contains "smoke-victim executed" if input.process.binary == {path:?}
"#,
        path = victim.display().to_string()
    )
}
