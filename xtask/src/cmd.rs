//! Running commands, with their failures named.

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};
use serde_json::Value;

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask/ has a parent").to_path_buf()
}

/// Where cargo puts what it builds: `CARGO_TARGET_DIR` when set (relative
/// to the workspace, as cargo reads it), else the workspace's `target/`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => workspace_root().join("target"),
    }
}

/// Builds the agent with the release profile and returns its path.
pub fn release_agent() -> anyhow::Result<PathBuf> {
    cargo(&["build", "--release", "--package", "palisade-agent"])?;
    Ok(target_dir().join("release/palisade"))
}

/// Where cgroup v2 is mounted, from `/proc/self/mounts`.
pub fn cgroup2_root() -> anyhow::Result<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").context("reading mounts")?;
    mounts
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(f[1]))
        })
        .context("no cgroup v2 mount")
}

/// Runs `cmd`, failing with its name when it fails.
pub fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("cannot start {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// Runs `cargo` (the toolchain running xtask) in the workspace.
pub fn cargo(args: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(Command::new(cargo).args(args).current_dir(workspace_root()))
}

/// Replaces this process with `bin args...`.
pub fn exec(bin: &Path, args: impl IntoIterator<Item = String>) -> anyhow::Result<()> {
    let err = Command::new(bin).args(args).exec();
    Err(err).with_context(|| format!("cannot run {}", bin.display()))
}

/// The packages every test build selects. Each cargo command `cargo xtask
/// test` runs that builds code (the test build, the VM's, the manifests'
/// and the smoke test's agent, the test runs) selects these and builds the
/// tests: cargo unifies features over what is selected, dev-dependencies
/// included, so any other selection rebuilt regorus, aya and the agent
/// (minutes on these two cores) and left three copies of every test binary.
/// The eBPF crate builds for its own target (agent/build.rs) and has no tests.
pub const TEST_PACKAGES: [&str; 3] = ["--workspace", "--exclude", "palisade-ebpf"];

/// Builds every test with [`TEST_PACKAGES`] and returns cargo's
/// `compiler-artifact` messages; diagnostics still go to the terminal.
pub fn test_build_artifacts() -> anyhow::Result<Vec<Value>> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["test", "--no-run", "--message-format=json-render-diagnostics"])
        .args(TEST_PACKAGES)
        .current_dir(workspace_root())
        .stdout(std::process::Stdio::piped());
    let out = command.output().with_context(|| format!("cannot start {command:?}"))?;
    if !out.status.success() {
        bail!("{command:?} failed: {}", out.status);
    }
    Ok(out
        .stdout
        .split(|&b| b == b'\n')
        .filter_map(|line| serde_json::from_slice::<Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .collect())
}

/// The agent's debug binary, built as the tests build it (see
/// [`TEST_PACKAGES`]): under `cargo xtask test` it is already there.
pub fn debug_agent() -> anyhow::Result<PathBuf> {
    test_build_artifacts()?
        .iter()
        .filter(|a| a["profile"]["test"].as_bool() == Some(false))
        .find(|a| a["target"]["name"] == "palisade" && a["target"]["kind"][0] == "bin")
        .and_then(|a| a["executable"].as_str())
        .map(PathBuf::from)
        .context("the test build made no `palisade` binary")
}
