//! `deploy/base/policy-bundle.yaml`: the two ConfigMaps holding the policy
//! bundle (`policies/`), generated so that review sees plain Rego and JSON.
//!
//! ConfigMap keys cannot hold `/`, so `rules/tunnel_tool.rego` is stored as
//! `rules.tunnel_tool.rego`. The Rego modules and samples are in
//! `palisade-policy`, which the kubelet mounts flat at the top of the bundle
//! directory: packages come from the Rego, not from file paths, so a module
//! added later is mounted without touching the DaemonSet. The data files are
//! in `palisade-policy-data`: an OPA bundle mounts a `data.json` at its
//! directory's path, so the DaemonSet's projected volume maps each of those
//! keys back to its path with `items` (`palisade.config.data.json` to
//! `palisade/config/data.json`), which `cargo xtask deploy-check` verifies.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::cmd;

/// Where the generated ConfigMap goes, relative to the workspace.
pub const OUTPUT: &str = "deploy/base/policy-bundle.yaml";
const NAME: &str = "palisade-policy";
/// The ConfigMap of the data files, each mapped to its path by the volume.
const DATA_NAME: &str = "palisade-policy-data";
const NAMESPACE: &str = "palisade-system";
/// The API server's limit for a ConfigMap's data.
const CONFIGMAP_MAX_BYTES: usize = 1 << 20;
const BUNDLE_EXTENSIONS: &[&str] = &[".rego", ".json", ".jsonl", ".yaml", ".yml"];

/// Writes the ConfigMap, or with `check` fails when the file on disk differs.
pub fn run(check: bool) -> anyhow::Result<()> {
    let root = cmd::workspace_root();
    let text = render(&root.join("policies"))?;
    let out = root.join(OUTPUT);
    if check {
        let current = std::fs::read_to_string(&out).unwrap_or_default();
        if current != text {
            bail!(
                "{OUTPUT} does not match policies/; run `cargo xtask deploy-bundle` and commit it"
            );
        }
        eprintln!("deploy: {OUTPUT} matches policies/");
        return Ok(());
    }
    std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("deploy: wrote {OUTPUT}");
    Ok(())
}

/// Whether OPA reads the file at `relative` as data (`data.json`,
/// `data.yaml`, `data.yml`), which must be mounted at its own path.
pub fn is_data(relative: &str) -> bool {
    let name = relative.rsplit('/').next().unwrap_or(relative);
    ["data.json", "data.yaml", "data.yml"].contains(&name)
}

/// The ConfigMap key for a bundle file's relative path.
pub fn key_of(relative: &str) -> String {
    relative.replace('/', ".")
}

/// Every bundle file under `dir`, as (relative path, contents), sorted.
pub fn bundle_files(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut paths = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).with_context(|| format!("reading {}", at.display()))? {
            let path: PathBuf = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if BUNDLE_EXTENSIONS.iter().any(|e| name.ends_with(e)) {
                paths.push(path);
            }
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let relative = path.strip_prefix(dir)?.display().to_string();
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("{}: not readable as UTF-8", path.display()))?;
            Ok((relative, text))
        })
        .collect()
}

fn render(dir: &Path) -> anyhow::Result<String> {
    let (data, modules): (Vec<_>, Vec<_>) =
        bundle_files(dir)?.into_iter().partition(|(relative, _)| is_data(relative));
    let header = "# Generated from policies/ by `cargo xtask deploy-bundle`; do not edit.\n\
         # `cargo xtask test` fails when this file no longer matches policies/.\n\
         # Keys are the bundle's paths with `/` as `.` (see xtask/src/policy_configmap.rs):\n\
         # the Rego modules and samples are mounted flat; the data files, each at its\n\
         # path (the DaemonSet's projected volume lists them under `items`).\n";
    let mut out = format!("{header}{}", config_map(NAME, &modules)?);
    out.push_str(&format!("---\n{}", config_map(DATA_NAME, &data)?));
    Ok(out)
}

/// One ConfigMap named `name` holding `files`.
fn config_map(name: &str, files: &[(String, String)]) -> anyhow::Result<String> {
    let mut out = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {NAMESPACE}\ndata:\n"
    );
    let mut keys = std::collections::BTreeSet::new();
    let mut total = 0;
    for (relative, text) in files {
        let key = key_of(relative);
        if !key.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
            || key.starts_with("..")
        {
            bail!("policies/{relative}: `{key}` is not a valid ConfigMap key");
        }
        if !keys.insert(key.clone()) {
            bail!("policies/{relative}: two files map to the ConfigMap key `{key}`");
        }
        total += key.len() + text.len();
        out.push_str(&format!("  {key}: {}", block_scalar(relative, text)?));
    }
    if total > CONFIGMAP_MAX_BYTES {
        bail!(
            "{name} is {total} bytes, over a ConfigMap's {CONFIGMAP_MAX_BYTES}: split it or ship it another way"
        );
    }
    Ok(out)
}

/// `text` as a YAML literal block scalar for a key indented by two spaces:
/// its lines indented by four (indentation indicator 2, so a first line
/// starting with spaces is not misread), with the chomping indicator that
/// gives back its exact trailing newlines; ends with a newline.
fn block_scalar(relative: &str, text: &str) -> anyhow::Result<String> {
    if let Some(bad) = text.chars().find(|c| c.is_control() && *c != '\n' && *c != '\t') {
        bail!("policies/{relative}: holds the control character {bad:?}, which YAML cannot carry");
    }
    if text.is_empty() {
        return Ok("\"\"\n".into());
    }
    let chomp = if !text.ends_with('\n') {
        "-"
    } else if text.ends_with("\n\n") {
        "+"
    } else {
        ""
    };
    let mut out = format!("|2{chomp}\n");
    let body = text.strip_suffix('\n').unwrap_or(text);
    for line in body.split('\n') {
        if !line.is_empty() {
            out.push_str("    ");
        }
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_flatten_paths() {
        assert_eq!(key_of("rules/tunnel_tool.rego"), "rules.tunnel_tool.rego");
        assert_eq!(key_of("main.rego"), "main.rego");
        assert!(is_data("palisade/config/data.json") && is_data("data.yaml"));
        assert!(!is_data("samples/corpus.jsonl") && !is_data("rules/data.rego"));
    }

    #[test]
    fn block_scalars_keep_the_exact_ending() {
        assert_eq!(block_scalar("f", "a\n\tb\n").unwrap(), "|2\n    a\n    \tb\n");
        assert_eq!(block_scalar("f", "a").unwrap(), "|2-\n    a\n");
        assert_eq!(block_scalar("f", "  a\n\nb\n\n").unwrap(), "|2+\n      a\n\n    b\n\n");
        assert!(block_scalar("f", "a\rb").is_err());
    }
}
