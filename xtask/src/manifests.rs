//! Offline checks of `deploy/`: the bundle ConfigMap is current; each
//! overlay renders with `kubectl kustomize`; the rendered manifests carry the
//! bundle byte for byte and the mode they claim (`xtask/deploy/check_rendered.py`),
//! pass the Kubernetes schemas (`kubernetes-validate --strict`) and checkov's
//! lints, every skipped check justified in `deploy/.checkov.yaml`; and the
//! bundle as the kubelet mounts it (flat file names) passes its tests and
//! decides every sample event as `policies/` does.

use std::{path::Path, process::Command};

use anyhow::{Context, bail};

use crate::{cmd, policy_configmap, setup::DEPLOY_VENV};

/// Kubernetes versions whose schemas the manifests must pass: the oldest
/// with `securityContext.appArmorProfile` (1.30) and the newest shipped.
const KUBERNETES_VERSIONS: &[&str] = &["1.30.0", "1.37.0"];

struct Variant {
    name: &'static str,
    source: Source,
    mode: &'static str,
    privileged: bool,
    /// Text the rendering must hold: proof that a component applied.
    needles: &'static [&'static str],
}

enum Source {
    /// A kustomization directory, relative to the workspace.
    Dir(&'static str),
    /// An overlay of deploy/overlays with a component of deploy/components.
    Compose { overlay: &'static str, component: &'static str },
}

const VARIANTS: &[Variant] = &[
    Variant {
        name: "audit",
        source: Source::Dir("deploy/overlays/audit"),
        mode: "audit",
        privileged: false,
        needles: &[],
    },
    Variant {
        name: "enforce",
        source: Source::Dir("deploy/overlays/enforce"),
        mode: "enforce",
        privileged: false,
        needles: &[],
    },
    // The documented fallback: the enforce overlay plus the privileged component.
    Variant {
        name: "enforce-privileged",
        source: Source::Compose { overlay: "enforce", component: "privileged" },
        mode: "enforce",
        privileged: true,
        needles: &[],
    },
    // The audit overlay sending to an OpenTelemetry Collector.
    Variant {
        name: "audit-otlp",
        source: Source::Compose { overlay: "audit", component: "otlp" },
        mode: "audit",
        privileged: false,
        needles: &["--sink=otlp,endpoint=$(PALISADE_OTLP_ENDPOINT)", "port: 4318"],
    },
    // The enforce overlay with its policy from a bundle server.
    Variant {
        name: "enforce-bundle-server",
        source: Source::Compose { overlay: "enforce", component: "bundle-server" },
        mode: "enforce",
        privileged: false,
        needles: &[
            "--policy=$(PALISADE_BUNDLE_URL)",
            "--policy-cache-dir=/var/lib/palisade/bundle",
            "--verification-key=/etc/palisade/bundle-key/key.pem",
            "secretName: palisade-bundle-key",
        ],
    },
    // The audit overlay with the cluster's PolicyReports writer fed by the
    // agents' webhook sink.
    Variant {
        name: "audit-policy-reports",
        source: Source::Compose { overlay: "audit", component: "policy-reports" },
        mode: "audit",
        privileged: false,
        needles: &[
            "--sink=webhook,name=policy-reports,url=http://palisade-reports.palisade-system.svc:8080",
            "kind: Deployment",
            "- kubernetes",
            "clusterpolicyreports",
            "port: 8080",
        ],
    },
];

/// The vendored PolicyReport CRDs (deploy/crds/wgpolicyk8s.io), checked
/// against the Kubernetes schemas too.
const CRDS: &[&str] = &[
    "deploy/crds/wgpolicyk8s.io/wgpolicyk8s.io_policyreports.yaml",
    "deploy/crds/wgpolicyk8s.io/wgpolicyk8s.io_clusterpolicyreports.yaml",
];

/// `palisade` is the agent's debug build (what `cargo xtask test` has
/// compiled already; it optimises regorus): a release build here cost a
/// whole extra compile.
pub fn validate(palisade: &Path) -> anyhow::Result<()> {
    policy_configmap::run(true)?;
    let root = cmd::workspace_root();
    let out = root.join("target/deploy");
    if out.exists() {
        std::fs::remove_dir_all(&out).context("clearing target/deploy")?;
    }
    std::fs::create_dir_all(&out).context("creating target/deploy")?;
    let venv = Path::new(DEPLOY_VENV).join("bin");
    let mut checked_bundles = std::collections::HashSet::new();
    for variant in VARIANTS {
        let dir = match variant.source {
            Source::Dir(dir) => root.join(dir),
            Source::Compose { overlay, component } => {
                with_component(&out, variant.name, overlay, component)?
            }
        };
        let rendered = out.join(format!("{}.yaml", variant.name));
        let output = Command::new(venv.join("kubectl"))
            .arg("kustomize")
            .arg(&dir)
            .output()
            .context("running kubectl kustomize (run `cargo xtask setup`)")?;
        if !output.status.success() {
            bail!(
                "kubectl kustomize {} failed: {}",
                dir.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        std::fs::write(&rendered, &output.stdout).context("writing the rendered manifests")?;
        let text = String::from_utf8_lossy(&output.stdout);
        for needle in variant.needles {
            if !text.contains(needle) {
                bail!("{}: the component did not apply (no `{needle}`)", variant.name);
            }
        }
        let mut check = Command::new(venv.join("python"));
        check.arg(root.join("xtask/deploy/check_rendered.py"));
        check.arg(&rendered).arg(root.join("policies")).arg(variant.mode);
        if variant.privileged {
            check.arg("--privileged");
        }
        let mounted = out.join(format!("{}-mounted", variant.name));
        check.arg("--write-bundle").arg(&mounted);
        cmd::run(&mut check)?;
        // The variants mount one of two bundles (audit or enforce): each is
        // tested once (`policy test` runs every test of the bundle).
        let bundle = mounted_digest(&mounted)?;
        if checked_bundles.insert(bundle) {
            same_decisions(palisade, &root, &mounted)?;
        } else {
            eprintln!("deploy: {} mounts a bundle already checked above", variant.name);
        }
        for version in KUBERNETES_VERSIONS {
            cmd::run(
                Command::new(venv.join("kubernetes-validate"))
                    .args(["--strict", "--quiet", "-k", version])
                    .arg(&rendered),
            )?;
        }
        eprintln!(
            "deploy: {} passes the Kubernetes {} schemas",
            variant.name,
            KUBERNETES_VERSIONS.join(" and ")
        );
        if !variant.privileged {
            checkov(&venv, &root, &rendered)?;
        }
    }
    for version in KUBERNETES_VERSIONS {
        cmd::run(
            Command::new(venv.join("kubernetes-validate"))
                .args(["--strict", "--quiet", "-k", version])
                .args(CRDS.iter().map(|crd| root.join(crd))),
        )?;
    }
    eprintln!("deploy: the vendored PolicyReport CRDs pass the Kubernetes schemas");
    Ok(())
}

/// A kustomization applying a component to an overlay (the privileged
/// fallback to enforce, a sink to audit).
fn with_component(
    out: &Path,
    name: &str,
    overlay: &str,
    component: &str,
) -> anyhow::Result<std::path::PathBuf> {
    let dir = out.join(name);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n\
             resources: [../../../deploy/overlays/{overlay}]\n\
             components: [../../../deploy/components/{component}]\n"
        ),
    )?;
    Ok(dir)
}

fn checkov(venv: &Path, root: &Path, rendered: &Path) -> anyhow::Result<()> {
    let output = Command::new(venv.join("checkov"))
        .args(["--framework", "kubernetes", "--compact", "--quiet", "--skip-download"])
        .arg("--config-file")
        .arg(root.join("deploy/.checkov.yaml"))
        .arg("--file")
        .arg(rendered)
        .output()
        .context("running checkov (run `cargo xtask setup`)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "checkov found problems in {}:\n{text}{}",
            rendered.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    eprintln!("deploy: checkov passes {}", rendered.display());
    Ok(())
}

/// The bundle as mounted from the ConfigMap (`mounted`) passes its tests and
/// decides each of the baseline's sample events as `policies/` does.
/// What identifies a mounted bundle: its files' names and contents.
fn mounted_digest(dir: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    // The files of the snapshot the kubelet's `..data` link points to.
    let root = dir.join("..data");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).with_context(|| format!("reading {}", at.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(&root)?.display().to_string();
                files.push((relative, std::fs::read(&path)?));
            }
        }
    }
    files.sort();
    Ok(files)
}

fn same_decisions(palisade: &Path, root: &Path, mounted: &Path) -> anyhow::Result<()> {
    let test = Command::new(palisade).args(["policy", "test"]).arg(mounted).output()?;
    if !test.status.success() {
        bail!("the mounted bundle's tests fail:\n{}", String::from_utf8_lossy(&test.stdout));
    }
    let replay = Command::new(palisade)
        .args(["policy", "replay", "--json", "--events"])
        .arg(root.join("policies/samples/corpus.jsonl"))
        .arg(mounted)
        .arg("--against")
        .arg(root.join("policies"))
        .output()?;
    let report: serde_json::Value = serde_json::from_slice(&replay.stdout)
        .with_context(|| format!("policy replay: {}", String::from_utf8_lossy(&replay.stderr)))?;
    let changed = report["against"]["changed"].as_array().map_or(usize::MAX, Vec::len);
    let events = report["events"].as_u64().unwrap_or(0);
    if changed != 0 || events == 0 {
        bail!(
            "the mounted bundle decides {changed} of {events} sample events differently from policies/"
        );
    }
    eprintln!(
        "deploy: the mounted bundle passes its tests and decides all {events} sample events as policies/"
    );
    Ok(())
}
