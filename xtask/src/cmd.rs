//! Running commands, with their failures named.

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask/ has a parent").to_path_buf()
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
