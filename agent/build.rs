//! Builds the eBPF programs (`ebpf/`) for the BPF target and hands the object
//! to the agent, which embeds it.
//!
//! rustup's toolchains here ship no `rust-src`, so `-Z build-std=core` needs
//! Debian's compiler (package rust-web-src) and bpf-linker built on its LLVM.
//! `cargo xtask setup` installs both; this script only uses them.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};

/// Where `cargo xtask setup` installs bpf-linker.
const TOOLCHAIN_BIN: &str = "/opt/palisade-toolchain/bin";
/// Debian's cargo and rustc, which come with the core library's source.
const BPF_CARGO: &str = "/usr/bin/cargo";
const BPF_RUSTC: &str = "/usr/bin/rustc";
const BPF_TARGET: &str = "bpfel-unknown-none";

fn main() -> anyhow::Result<()> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let workspace = manifest_dir.parent().context("agent/ has no parent")?;
    let ebpf_dir = workspace.join("ebpf");
    let common_dir = workspace.join("common");
    for dir in [&ebpf_dir, &common_dir] {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let object = out_dir.join("palisade-ebpf.o");
    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("ebpf");

    embed_policies(&workspace.join("policies"), &out_dir)?;
    build_ebpf(workspace, &target_dir)?;
    let built = target_dir.join(BPF_TARGET).join("release").join("palisade-ebpf");
    std::fs::copy(&built, &object)
        .with_context(|| format!("copying {} to {}", built.display(), object.display()))?;
    Ok(())
}

/// Writes `embedded_policies.rs`: an array of (relative path, contents) for
/// every bundle file under `policies/`, included into the binary as the
/// default baseline.
fn embed_policies(dir: &Path, out_dir: &Path) -> anyhow::Result<()> {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).with_context(|| format!("reading {}", at.display()))? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                println!("cargo:rerun-if-changed={}", path.display());
                stack.push(path);
            } else if [".rego", ".json", ".jsonl", ".yaml", ".yml"]
                .iter()
                .any(|e| name.ends_with(e))
            {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut code = String::from("[\n");
    for path in &files {
        let relative = path.strip_prefix(dir)?.display().to_string();
        code.push_str(&format!(
            "    ({relative:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push(']');
    std::fs::write(out_dir.join("embedded_policies.rs"), code)?;
    Ok(())
}

fn build_ebpf(workspace: &Path, target_dir: &Path) -> anyhow::Result<()> {
    for tool in [BPF_CARGO, BPF_RUSTC] {
        if !Path::new(tool).exists() {
            bail!(
                "{tool} is missing: the eBPF toolchain is not installed; run `cargo xtask setup` as root"
            );
        }
    }
    let linker = Path::new(TOOLCHAIN_BIN).join("bpf-linker");
    if !linker.exists() {
        bail!("{} is missing; run `cargo xtask setup` as root", linker.display());
    }
    let path = env::var_os("PATH").unwrap_or_default();
    let path = env::join_paths(
        std::iter::once(PathBuf::from(TOOLCHAIN_BIN)).chain(env::split_paths(&path)),
    )?;

    let mut cmd = Command::new(BPF_CARGO);
    cmd.current_dir(workspace)
        .args(["build", "--release", "--package", "palisade-ebpf", "--bin", "palisade-ebpf"])
        .args(["--target", BPF_TARGET, "-Z", "build-std=core"])
        .arg("--target-dir")
        .arg(target_dir)
        .env("PATH", path)
        .env("RUSTC", BPF_RUSTC)
        // Debian's compiler is stable; build-std needs the unstable flag.
        .env("RUSTC_BOOTSTRAP", "1")
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            ["--cfg=bpf_target_arch=\"x86_64\"", "-Cdebuginfo=2", "-Clink-arg=--btf"].join("\x1f"),
        );
    // The outer cargo's settings describe the host build, not this one.
    for key in ["RUSTC_WORKSPACE_WRAPPER", "RUSTC_WRAPPER", "RUSTFLAGS", "CARGO_BUILD_TARGET"] {
        cmd.env_remove(key);
    }
    let output = cmd.output().with_context(|| format!("running {BPF_CARGO}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        for line in stderr.lines() {
            println!("cargo:warning={line}");
        }
        bail!("building the eBPF programs failed ({}); see the warnings above", output.status);
    }
    Ok(())
}
