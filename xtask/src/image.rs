//! `cargo xtask image`: the container image, built offline from this
//! workspace's release build (the smoke test builds it from the debug
//! build, which `cargo xtask test` has already compiled: the same code,
//! without a third compilation of the whole tree). No base image: `deploy/image/Containerfile`
//! starts `FROM scratch` and copies a root filesystem staged here with the
//! `palisade` binary, the shared libraries `ldd` names for it, and the
//! baseline bundle. buildah (a Debian package) builds it into the local
//! containers storage (where podman finds it) and saves an OCI archive for
//! importing into a node's runtime (`ctr -n k8s.io images import`).

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, bail};

use crate::cmd;

/// The image's name; `deploy/base/kustomization.yaml` points at it.
pub const NAME: &str = "localhost/palisade";

/// The reference of the image this workspace builds.
pub fn reference() -> String {
    format!("{NAME}:{}", env!("CARGO_PKG_VERSION"))
}

/// Builds the image; returns the OCI archive's path.
/// Which build of the agent goes into the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Release,
    Debug,
}

pub fn build(profile: Profile) -> anyhow::Result<PathBuf> {
    let root = cmd::workspace_root();
    let binary = match profile {
        Profile::Release => {
            cmd::cargo(&["build", "--package", "palisade-agent", "--release"])?;
            cmd::release_agent()
        }
        Profile::Debug => cmd::debug_agent()?,
    };
    let out = root.join("target/image");
    let context = out.join("context");
    if context.exists() {
        std::fs::remove_dir_all(&context).context("clearing the image context")?;
    }
    let rootfs = context.join("rootfs");
    copy_into(&rootfs, &binary, Path::new("/usr/bin/palisade"))?;
    for lib in shared_libraries(&binary)? {
        copy_into(&rootfs, &lib, &lib)?;
    }
    let policies = rootfs.join("usr/share/palisade/policies");
    std::fs::create_dir_all(policies.parent().expect("has a parent"))?;
    cmd::run(Command::new("cp").arg("-r").arg(root.join("policies")).arg(&policies))?;
    std::fs::copy(root.join("deploy/image/Containerfile"), context.join("Containerfile"))
        .context("copying the Containerfile")?;
    let reference = reference();
    let previous = image_id(&reference);
    // --timestamp 0: the same inputs give the same image, byte for byte.
    cmd::run(
        Command::new("buildah")
            .args(["bud", "--quiet", "--layers=false", "--timestamp=0", "--tag", &reference])
            .arg("--file")
            .arg(context.join("Containerfile"))
            .arg(&context),
    )?;
    if let Some(old) = previous.filter(|old| Some(old) != image_id(&reference).as_ref()) {
        // The image this build replaced, now untagged.
        let _ = Command::new("buildah").args(["rmi", &old]).stdout(Stdio::null()).status();
    }
    let archive = out.join(format!("palisade-{}.oci.tar", env!("CARGO_PKG_VERSION")));
    let _ = std::fs::remove_file(&archive);
    cmd::run(
        Command::new("buildah")
            .args(["push", "--quiet", &reference])
            .arg(format!("oci-archive:{}:{reference}", archive.display())),
    )?;
    let size = std::fs::metadata(&archive).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "image: {reference} built; OCI archive {} ({:.1} MiB)",
        archive.display(),
        size as f64 / (1 << 20) as f64
    );
    Ok(archive)
}

/// The id of the local image `reference`, if there is one.
fn image_id(reference: &str) -> Option<String> {
    let out = Command::new("buildah")
        .args(["inspect", "--type=image", "--format={{.FromImageID}}", reference])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !id.is_empty()).then_some(id)
}

/// Copies `from` to `rootfs` + `at`, following symlinks, keeping the mode.
fn copy_into(rootfs: &Path, from: &Path, at: &Path) -> anyhow::Result<()> {
    let to = rootfs.join(at.strip_prefix("/").unwrap_or(at));
    std::fs::create_dir_all(to.parent().expect("a path under the rootfs"))?;
    std::fs::copy(from, &to)
        .with_context(|| format!("copying {} into the image", from.display()))?;
    Ok(())
}

/// The shared libraries `binary` loads, and its loader, by absolute path.
fn shared_libraries(binary: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let output = Command::new("ldd").arg(binary).output().context("running ldd")?;
    if !output.status.success() {
        bail!("ldd {} failed: {}", binary.display(), String::from_utf8_lossy(&output.stderr));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let libs: Vec<PathBuf> = text
        .lines()
        .filter_map(|line| {
            // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)`, or the
            // loader's `/lib64/ld-linux-x86-64.so.2 (0x...)`; the vDSO has no file.
            let path = line.split("=>").last()?.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect();
    if !libs.iter().any(|l| l.to_string_lossy().contains("ld-linux")) {
        bail!("ldd named no dynamic loader for {}:\n{text}", binary.display());
    }
    Ok(libs)
}
