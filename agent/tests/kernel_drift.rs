//! Drift, end to end on the real kernel: a container whose root file system
//! is a real overlayfs mount (lower = the image: busybox and its applets;
//! upper = the writable layer), the real agent, and programs the container
//! runs from its image, copies in, writes as scripts, and runs from a memfd.
//!
//! The container is started by runc where it is installed (the host), in
//! the cgroup containerd would give it; where it is not (the 6.1 VM, whose
//! initramfs holds no runc), by `unshare --pid --fork --mount` and `chroot`
//! into the same overlay mount, in a cgroup of the same containerd layout:
//! the same nested PID namespace, overlay root and cgroup the kernel and
//! the agent look at, without a runtime's state (so no container start
//! time: the time-based reasons are asserted with runc only).
//!
//! Audit mode (the embedded baseline, where PAL-022 alerts): every drift is
//! reported with its reason, nothing is stopped. Enforce mode (a bundle whose
//! drift rule is enforced in the kernel): copied binaries and memfds are
//! stopped before their first instruction, by EPERM (BPF-LSM) or SIGKILL
//! (the host's fallback); a script is stopped by BPF-LSM only (the exec
//! tracepoint sees its interpreter, which is the image's). A host process
//! running the very same upper-layer file is never flagged.

mod support;

use std::{
    ffi::CString,
    io::Write,
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::{fs::symlink, process::CommandExt},
    },
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use serde_json::{Value, json};
use support::{Agent, bundle::TempBundle};

const RUNC: &[&str] = &["/usr/sbin/runc", "/usr/bin/runc"];
/// Debian's busybox-static on the host; the VM keeps it here.
const BUSYBOX: &[&str] = &["/bin/busybox", "/usr/lib/palisade-vm/busybox"];
const UNSHARE: &str = "/usr/bin/unshare";
const CHROOT: &str = "/usr/sbin/chroot";
const APPLETS: &[&str] =
    &["sh", "true", "cat", "cp", "chmod", "ln", "mkdir", "sleep", "echo", "printf"];
const RULE_ID: &str = "T-DRIFT";

fn busybox() -> &'static str {
    BUSYBOX.iter().copied().find(|p| Path::new(p).exists()).expect("busybox-static is installed")
}

fn mount_overlay(lower: &Path, upper: &Path, work: &Path, merged: &Path) {
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    let c = |s: &str| CString::new(s).unwrap();
    let (src, target, fstype, data) =
        (c("overlay"), c(merged.to_str().unwrap()), c("overlay"), c(&opts));
    // SAFETY: mount(2) with NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::mount(src.as_ptr(), target.as_ptr(), fstype.as_ptr(), 0, data.as_ptr().cast())
    };
    assert_eq!(rc, 0, "mount overlay {opts}: {}", std::io::Error::last_os_error());
}

fn mount_tmpfs(target: &Path) {
    let target = CString::new(target.to_str().unwrap()).unwrap();
    // SAFETY: mount(2) with NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::mount(c"tmpfs".as_ptr(), target.as_ptr(), c"tmpfs".as_ptr(), 0, std::ptr::null())
    };
    assert_eq!(rc, 0, "mount tmpfs: {}", std::io::Error::last_os_error());
}

/// How the container is run.
enum Runner {
    Runc(&'static str),
    Unshare,
}

/// A container on a real overlayfs: the image (busybox) is the lower layer.
struct Container {
    dir: PathBuf,
    merged: PathBuf,
    id: String,
    /// Relative to the cgroup2 root, as containerd's CRI plugin names it.
    cgroup: String,
    runner: Runner,
}

impl Container {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("palisade-drift-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (lower, upper, work, merged) =
            (dir.join("image"), dir.join("upper"), dir.join("work"), dir.join("merged"));
        for d in [
            &lower.join("bin"),
            &lower.join("tmp"),
            &lower.join("proc"),
            &lower.join("vol"),
            &upper,
            &work,
            &merged,
        ] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::copy(busybox(), lower.join("bin/busybox")).expect("copy busybox into the image");
        for applet in APPLETS {
            symlink("busybox", lower.join("bin").join(applet)).unwrap();
        }
        mount_overlay(&lower, &upper, &work, &merged);
        // A volume, as an emptyDir is: a tmpfs mounted into the container
        // (runc takes it along with the root, unshare's mount namespace
        // copies it).
        mount_tmpfs(&merged.join("vol"));
        let id = support::host::fresh_hex(64);
        let cgroup = format!(
            "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/cri-containerd-{id}.scope",
            support::host::fresh_hex(32)
        );
        let runner = match RUNC.iter().copied().find(|p| Path::new(p).exists()) {
            Some(runc) => Runner::Runc(runc),
            None => {
                assert!(
                    Path::new(UNSHARE).exists() && Path::new(CHROOT).exists(),
                    "unshare, chroot"
                );
                Runner::Unshare
            }
        };
        std::fs::create_dir_all(dir.join("state")).unwrap();
        Container { dir, merged, id, cgroup, runner }
    }

    /// Lets the container's script (see [`script`]) finish.
    fn release(&self) {
        std::fs::write(self.merged.join("tmp/release"), b"").expect("release the script");
    }

    fn state_root(&self) -> PathBuf {
        self.dir.join("state")
    }

    fn has_runtime_state(&self) -> bool {
        matches!(self.runner, Runner::Runc(_))
    }

    /// Runs `script` with the container's sh in the foreground, with
    /// `memfd` as its fd 3; returns its output.
    fn run(&self, script: &str, memfd: &OwnedFd) -> Output {
        let mut command = match self.runner {
            Runner::Runc(runc) => self.runc_command(runc, script),
            Runner::Unshare => {
                let procs = support::host::cgroup2_mount()
                    .expect("a cgroup v2 mount")
                    .join(self.cgroup.trim_start_matches('/'));
                std::fs::create_dir_all(&procs).expect("create the container's cgroup");
                let mut c = Command::new("/bin/sh");
                c.arg("-c")
                    .arg(r#"echo $$ > "$1/cgroup.procs" && shift && exec "$@""#)
                    .arg("sh")
                    .arg(&procs)
                    .arg(UNSHARE)
                    .args(["--pid", "--fork", "--mount"])
                    .arg(format!("--mount-proc={}", self.merged.join("proc").display()))
                    .arg(CHROOT)
                    .arg(&self.merged)
                    .args(["/bin/sh", "-c", script]);
                c
            }
        };
        let fd = memfd.as_raw_fd();
        // SAFETY: dup2 is async-signal-safe; fd 3 is the memfd, without
        // CLOEXEC, in the child only.
        unsafe {
            command.pre_exec(move || {
                if libc::dup2(fd, 3) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let started = std::time::Instant::now();
        let out = command.stdin(Stdio::null()).output().expect("run the container");
        support::trace("the container's script", started);
        out
    }

    fn runc_command(&self, runc: &str, script: &str) -> Command {
        let bundle = self.dir.join("bundle");
        std::fs::create_dir_all(&bundle).unwrap();
        let spec = Command::new(runc).args(["spec", "--bundle"]).arg(&bundle).output().unwrap();
        assert!(spec.status.success(), "runc spec: {}", String::from_utf8_lossy(&spec.stderr));
        let path = bundle.join("config.json");
        let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(["/bin/sh", "-c", script]);
        config["process"]["rlimits"] =
            json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]);
        config["root"] = json!({"path": self.merged, "readonly": false});
        config["linux"]["cgroupsPath"] = json!(self.cgroup);
        config["annotations"] = json!({
            "io.kubernetes.cri.container-type": "container",
            "io.kubernetes.cri.container-name": "drifty",
            "io.kubernetes.cri.image-name": "registry.example/drifty:1",
            "io.kubernetes.cri.sandbox-name": "drifty-0",
            "io.kubernetes.cri.sandbox-namespace": "default",
        });
        std::fs::write(&path, config.to_string()).unwrap();
        let mut c = Command::new(runc);
        c.arg("--root")
            .arg(self.state_root())
            .args(["run", "--preserve-fds", "1", "--bundle"])
            .arg(&bundle)
            .arg(&self.id);
        c
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if let Runner::Runc(runc) = self.runner {
            let _ = Command::new(runc)
                .arg("--root")
                .arg(self.state_root())
                .args(["delete", "--force", &self.id])
                .stderr(Stdio::null())
                .status();
        }
        for target in [self.merged.join("vol"), self.merged.clone()] {
            let target = CString::new(target.to_str().unwrap()).unwrap();
            // SAFETY: umount2 with a NUL-terminated path.
            unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
        }
        let root = support::host::cgroup2_mount().expect("a cgroup v2 mount");
        let mut path = self.cgroup.as_str();
        while !path.is_empty() {
            let _ = std::fs::remove_dir(root.join(path.trim_start_matches('/')));
            path = path.rsplit_once('/').map_or("", |(parent, _)| parent);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A memfd holding busybox, for `/proc/self/fd/3` in the container.
fn busybox_memfd() -> OwnedFd {
    let name = CString::new("drift-test").unwrap();
    // SAFETY: memfd_create with a NUL-terminated name; the fd is owned below.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), 0) };
    assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = std::fs::File::from(fd.try_clone().unwrap());
    file.write_all(&std::fs::read(busybox()).unwrap()).unwrap();
    fd
}

/// The container's script: one step per way of running a program, each
/// printing `<step>=<exit status>`. Applets are picked by argv[0], so every
/// program is run under an applet's name (by path: `true` alone would be
/// the shell's builtin). The script runs until the test has seen its event
/// and releases it (`Container::release`), or 60 s: the agent reads a
/// script's file through `/proc/<pid>/root` while it runs.
fn script(marker: &str) -> String {
    format!(
        "/bin/true image-{marker}; echo image=$?; \
         mkdir -p /tmp/c /tmp/m; cp /bin/busybox /tmp/c/true; /tmp/c/true copied-{marker}; echo copied=$?; \
         cp /bin/busybox /vol/true; /vol/true volume-{marker}; echo volume=$?; \
         printf '#!/bin/sh\\nn=0; while [ ! -e /tmp/release ] && [ $n -lt 300 ]; do sleep 0.2; n=$((n+1)); done\\n' > /tmp/s.sh; chmod +x /tmp/s.sh; /tmp/s.sh script-{marker}; echo script=$?; \
         ln -s /proc/self/fd/3 /tmp/m/true; /tmp/m/true memfd-{marker}; echo memfd=$?"
    )
}

fn status_of(out: &Output, step: &str) -> i32 {
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{step}=")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no {step}= in the container's output: {text}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

fn exec_with_arg(agent: &mut Agent, what: &str, arg: &str) -> Value {
    let arg = arg.to_string();
    agent.wait_for(what, move |e| {
        e["kind"] == "process_exec"
            && e["process"]["args"].as_array().is_some_and(|a| a.iter().any(|x| x == arg.as_str()))
    })
}

fn drift_of(event: &Value) -> &Value {
    &event["process"]["exe"]["drift"]
}

fn reasons(event: &Value) -> Vec<String> {
    drift_of(event)["reasons"]
        .as_array()
        .unwrap_or_else(|| panic!("no drift in {event:#}"))
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

fn matched_rules(event: &Value) -> Vec<String> {
    event["decision"]["matched"]
        .as_array()
        .map(|m| m.iter().map(|r| r["rule"].as_str().unwrap_or_default().to_string()).collect())
        .unwrap_or_default()
}

/// Every event seen validates against the event schema: the drift records
/// included.
fn assert_schema(agent: &mut Agent) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/event.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::draft202012::new(&schema).expect("a valid JSON Schema");
    let mut drifted = 0;
    for event in agent.drain() {
        let errors: Vec<String> =
            validator.iter_errors(event).map(|e| format!("{e} at {}", e.instance_path)).collect();
        assert!(errors.is_empty(), "event does not match the schema: {errors:#?}\n{event:#}");
        drifted += usize::from(!drift_of(event).is_null());
    }
    assert!(drifted > 0, "drift records were validated");
}

/// A host process running the container's upper-layer copy directly: no
/// container drift, whatever the mode.
fn assert_host_run_is_not_flagged(agent: &mut Agent, c: &Container) {
    let marker = format!("host-{}", support::host::fresh_hex(8));
    // Through the overlay mount: the kernel sees the upper-layer file.
    let copy = c.merged.join("tmp/c/true");
    let status = Command::new(&copy).arg(&marker).status().expect("run the copy from the host");
    assert!(status.success(), "the host's run of {} was not stopped: {status}", copy.display());
    let e = exec_with_arg(agent, "the host's exec of the upper-layer copy", &marker);
    assert_eq!(e["host"], true, "{e:#}");
    assert!(drift_of(&e).is_null(), "a host process is never container drift: {e:#}");
    assert!(!matched_rules(&e).contains(&"PAL-022".to_string()), "{e:#}");
    assert!(!matched_rules(&e).contains(&RULE_ID.to_string()), "{e:#}");
}

#[test]
fn audit_mode_reports_every_kind_of_drift_and_stops_nothing() {
    let c = Container::new("audit");
    let state = c.state_root();
    // The embedded baseline: PAL-022 in audit mode.
    let mut agent = Agent::start_with(&["--runtime-state-dir", state.to_str().unwrap()]);
    let marker = support::host::fresh_hex(10);
    let memfd = busybox_memfd();
    let out = std::thread::scope(|s| {
        let run = s.spawn(|| c.run(&script(&marker), &memfd));
        exec_with_arg(&mut agent, "exec of the script", &format!("script-{marker}"));
        c.release();
        run.join().expect("the container ran")
    });
    for step in ["image", "copied", "volume", "script", "memfd"] {
        assert_eq!(status_of(&out, step), 0, "audit mode stops nothing ({step})");
    }

    let image = exec_with_arg(&mut agent, "exec from the image", &format!("image-{marker}"));
    assert!(image["container"]["id"] == c.id.as_str(), "attributed to the container: {image:#}");
    assert!(drift_of(&image).is_null(), "the image's binary is no drift: {image:#}");

    let copied =
        exec_with_arg(&mut agent, "exec of the copied binary", &format!("copied-{marker}"));
    assert_eq!(drift_of(&copied)["reason"], "upper_layer", "{copied:#}");
    assert_eq!(drift_of(&copied)["file"], "executable", "{copied:#}");
    if c.has_runtime_state() {
        assert!(reasons(&copied).contains(&"written_after_start".into()), "{copied:#}");
    }
    assert!(matched_rules(&copied).contains(&"PAL-022".into()), "{copied:#}");
    assert_eq!(copied["decision"]["would_block"], true, "{copied:#}");
    // The kernel matched it in the hook and only reported it.
    let enforcement = &copied["decision"]["enforcement"];
    assert_eq!(enforcement["rule"], "PAL-022", "{copied:#}");
    assert_eq!(enforcement["result"], "reported", "audit: nothing enforced: {copied:#}");

    let volume = exec_with_arg(&mut agent, "exec from a volume", &format!("volume-{marker}"));
    assert_eq!(drift_of(&volume)["reason"], "volume", "{volume:#}");
    assert!(matched_rules(&volume).contains(&"PAL-022".into()), "{volume:#}");
    assert_eq!(volume["decision"]["enforcement"]["rule"], "PAL-022", "{volume:#}");

    let script = exec_with_arg(&mut agent, "exec of the script", &format!("script-{marker}"));
    assert_eq!(drift_of(&script)["file"], "script", "{script:#}");
    assert_eq!(drift_of(&script)["reason"], "upper_layer", "{script:#}");
    assert!(matched_rules(&script).contains(&"PAL-022".into()), "{script:#}");

    let memfd_exec = exec_with_arg(&mut agent, "exec from the memfd", &format!("memfd-{marker}"));
    assert_eq!(drift_of(&memfd_exec)["reason"], "memfd", "{memfd_exec:#}");
    assert!(matched_rules(&memfd_exec).contains(&"PAL-022".into()), "{memfd_exec:#}");

    assert_host_run_is_not_flagged(&mut agent, &c);
    assert_schema(&mut agent);
}

fn enforcing_bundle() -> TempBundle {
    let b = TempBundle::new("drift-enforce");
    b.write(
        "rules/drift.rego",
        &format!(
            r#"package palisade.rules.drift

import rego.v1

meta := {{"id": "{RULE_ID}", "title": "drift", "severity": "high", "mitre": "T1105", "action": "block", "kinds": ["process_exec"]}}

hits contains "drift" if input.process.exe.drift.reason

kernel := {{"scope": "containers", "exec": {{"drift": true}}}}
"#
        ),
    )
    .write(support::bundle::CONFIG_FILE, r#"{"mode": "enforce", "rule_modes": {}}"#);
    b
}

fn exec_mechanism() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_palisade")).args(["probe", "--json"]).output();
    let probe: Value = serde_json::from_slice(&out.expect("probe").stdout).expect("probe JSON");
    probe["mechanisms"]["exec"].as_str().expect("exec mechanism").to_string()
}

#[test]
fn enforce_mode_stops_drift_before_it_runs() {
    let _ = Command::new(env!("CARGO_BIN_EXE_palisade")).arg("unload").status();
    let c = Container::new("enforce");
    let bundle = enforcing_bundle();
    let state = c.state_root();
    let mut agent = Agent::start_with(&[
        "--policy",
        bundle.path().to_str().unwrap(),
        "--runtime-state-dir",
        state.to_str().unwrap(),
    ]);
    agent.wait_for_log("kernel rules in force");
    let lsm = exec_mechanism() == "bpf-lsm";
    let marker = support::host::fresh_hex(10);
    let memfd = busybox_memfd();
    let out = std::thread::scope(|s| {
        let run = s.spawn(|| c.run(&script(&marker), &memfd));
        if lsm {
            // The script is refused at exec: nothing to wait for.
            c.release();
        } else {
            exec_with_arg(&mut agent, "exec of the script", &format!("script-{marker}"));
            c.release();
        }
        run.join().expect("the container ran")
    });

    assert_eq!(status_of(&out, "image"), 0, "the image's binary runs");
    // EPERM from execve: the shell says 126; SIGKILL before the first
    // instruction: 128 + 9.
    let stopped = if lsm { 126 } else { 137 };
    assert_eq!(status_of(&out, "copied"), stopped, "the copied binary is stopped");
    assert_eq!(status_of(&out, "volume"), stopped, "a binary on a volume is stopped");
    assert_eq!(status_of(&out, "memfd"), stopped, "the memfd is stopped");
    // BPF-LSM checks the script's own file; the tracepoint only sees its
    // interpreter, the image's sh: the script runs (and is reported).
    assert_eq!(status_of(&out, "script"), if lsm { 126 } else { 0 }, "the script");

    let copied = agent.wait_for("the denied copied binary", |e| {
        e["kind"] == "process_exec"
            && e["process"]["binary"].as_str().is_some_and(|b| b.ends_with("/tmp/c/true"))
    });
    let enforcement = &copied["decision"]["enforcement"];
    assert_eq!(enforcement["rule"], RULE_ID, "{copied:#}");
    assert_eq!(
        enforcement["mechanism"],
        if lsm { "bpf-lsm" } else { "sigkill-at-exec" },
        "{copied:#}"
    );
    assert_eq!(drift_of(&copied)["reason"], "upper_layer", "{copied:#}");
    if !lsm {
        let script = exec_with_arg(&mut agent, "exec of the script", &format!("script-{marker}"));
        assert_eq!(drift_of(&script)["file"], "script", "reported, not blocked: {script:#}");
    }

    assert_host_run_is_not_flagged(&mut agent, &c);
    assert_schema(&mut agent);
    drop(agent);
    let _ = Command::new(env!("CARGO_BIN_EXE_palisade")).arg("unload").status();
}
