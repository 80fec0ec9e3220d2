//! Reading a policy bundle from a directory or an OPA bundle tarball
//! (`.tar.gz`) as OPA's bundle loader reads it: Rego modules, `*_test.rego`
//! tests, data from `data.json`/`data.yaml` files mounted at their
//! directory's path (see [`super::data`]), and OPA's `.manifest` (revision,
//! roots) and `.signatures.json` (checked when a verification key is
//! configured; see [`super::signing`]). Palisade's own `*.jsonl` files are
//! sample events.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{
    PolicyError, data,
    decision::Mode,
    signing::{MANIFEST_FILE, RawFile, SIGNATURES_FILE, Verification},
    tarball,
};

/// Largest file a bundle may hold: a guard against a stray huge file.
pub const FILE_MAX_BYTES: u64 = 4 << 20;

/// The baseline bundle shipped in the binary (`policies/`).
pub static EMBEDDED: &[(&str, &str)] = &include!(concat!(env!("OUT_DIR"), "/embedded_policies.rs"));

#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path relative to the bundle root, as shown in errors.
    pub path: String,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Bundle {
    /// Where it came from, for messages.
    pub origin: String,
    pub modules: Vec<SourceFile>,
    pub tests: Vec<SourceFile>,
    /// The `data.json`/`data.yaml` files.
    pub data_files: Vec<SourceFile>,
    /// The data files, each mounted at its directory's path, merged.
    pub data: serde_json::Value,
    /// Events from `*.jsonl` files: examples the bundle ships, used to
    /// check that the fast evaluator agrees with the reference one.
    pub samples: Vec<serde_json::Value>,
    /// SHA-256 over every file's path and contents, in path order.
    pub digest: String,
    /// The baseline built into the binary: `policies/`, whose sample-based
    /// checks its tests already run, so loading skips the slow ones.
    pub embedded: bool,
    /// The manifest's `revision`, when it names one.
    pub revision: Option<String>,
    /// The manifest's `roots` (paths under `data`, `/`-separated); empty
    /// when it declares none, which means all of `data`.
    pub roots: Vec<String>,
    /// Whether it carries a `.signatures.json`, and whether that was
    /// verified (only with a verification key).
    pub signed: bool,
    pub verified: bool,
}

/// OPA's `.manifest`. Fields Palisade does not use (`wasm`,
/// `file_rego_versions`, ...) are accepted and ignored.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roots: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rego_version: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl Manifest {
    /// Parses and checks a manifest: the Rego version is v1, the roots do
    /// not overlap.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| format!("invalid manifest: {e}"))?;
        if let Some(v) = manifest.rego_version.filter(|v| *v != 1) {
            return Err(format!("rego_version {v}: only Rego v1 (rego_version 1) is supported"));
        }
        if let Some(roots) = &manifest.roots {
            let roots: Vec<&str> = roots.iter().map(|r| r.trim_matches('/')).collect();
            for (i, a) in roots.iter().enumerate() {
                for b in &roots[i + 1..] {
                    if under(a, b) || under(b, a) {
                        return Err(format!("roots `{a}` and `{b}` overlap"));
                    }
                }
            }
        }
        Ok(manifest)
    }
}

/// Whether `path` is `root` or below it (`/`-separated; the empty root
/// holds everything).
pub fn under(path: &str, root: &str) -> bool {
    root.is_empty()
        || path == root
        || (path.starts_with(root) && path.as_bytes().get(root.len()) == Some(&b'/'))
}

impl Bundle {
    /// Reads the bundle at `path`: a tarball (see [`tarball`]), or a
    /// directory, of which it reads every `.rego`, `.json`, `.jsonl`,
    /// `.yaml` and `.yml` file, and `.manifest` and `.signatures.json` at
    /// its root. Other hidden entries and the kubelet's `..data`-style
    /// ConfigMap internals are skipped; symlinks to files are followed.
    ///
    /// A directory where a kubelet mounted a ConfigMap is read through its
    /// `..data` link: one published snapshot, whole, never a mix of two (see
    /// [`read_snapshot`]).
    ///
    /// With `verification`, only if its signature holds.
    pub fn open(path: &Path, verification: Option<&Verification>) -> Result<Self, PolicyError> {
        let files = Self::read_files(path)?;
        Self::from_raw(path.display().to_string(), files, verification)
    }

    /// The files of the bundle at `path` as stored: a tarball's every
    /// regular file; a directory's bundle files, `.manifest` and
    /// `.signatures.json`.
    pub fn read_files(path: &Path) -> Result<Vec<RawFile>, PolicyError> {
        let mut files =
            if tarball::is_tarball(path) { tarball::read(path)? } else { read_snapshot(path)? };
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// A bundle from its stored files: the signature checked first (with
    /// `verification`), then the manifest, then the files Palisade reads
    /// (`.rego`, `.json`, `.jsonl`, `.yaml`, `.yml`, outside hidden
    /// directories).
    pub fn from_raw(
        origin: String,
        files: Vec<RawFile>,
        verification: Option<&Verification>,
    ) -> Result<Self, PolicyError> {
        let signed = files.iter().any(|f| f.path == SIGNATURES_FILE);
        if let Some(v) = verification {
            v.verify(&files)
                .map_err(|reason| PolicyError::Signature { location: origin.clone(), reason })?;
        }
        let manifest_bytes = files.iter().find(|f| f.path == MANIFEST_FILE).map(|f| &f.bytes);
        let manifest = match manifest_bytes {
            Some(bytes) => Manifest::parse(bytes).map_err(|reason| PolicyError::Bundle {
                location: format!("{origin}: {MANIFEST_FILE}"),
                reason,
            })?,
            None => Manifest::default(),
        };
        let mut sources = Vec::new();
        for file in &files {
            let hidden = file.path.split('/').any(|c| c.starts_with('.'));
            let name = file.path.rsplit('/').next().unwrap_or_default();
            if hidden || !is_bundle_file(name) {
                continue;
            }
            let text = String::from_utf8(file.bytes.clone()).map_err(|e| PolicyError::Bundle {
                location: file.path.clone(),
                reason: format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
            })?;
            sources.push(SourceFile { path: file.path.clone(), text });
        }
        let mut bundle = Self::build(origin, sources, manifest_bytes.map(Vec::as_slice))?;
        bundle.revision = manifest.revision.filter(|r| !r.is_empty());
        bundle.roots = (manifest.roots.unwrap_or_default().iter())
            .map(|r| r.trim_matches('/').to_string())
            .collect();
        bundle.signed = signed;
        bundle.verified = verification.is_some();
        bundle.check_data_roots()?;
        Ok(bundle)
    }

    /// Every data path lies under a declared root (the packages are checked
    /// when the bundle is compiled, where they are known).
    fn check_data_roots(&self) -> Result<(), PolicyError> {
        data::check_roots(&self.data, &self.roots, &self.data_files)
    }

    /// The baseline bundle compiled into the binary.
    pub fn embedded() -> Self {
        let files = EMBEDDED
            .iter()
            .map(|(path, text)| SourceFile { path: path.to_string(), text: text.to_string() })
            .collect();
        let bundle = Self::from_files("<embedded baseline>".into(), files)
            .expect("the embedded baseline bundle is valid (checked by its tests)");
        Self { embedded: true, ..bundle }
    }

    pub fn from_files(origin: String, files: Vec<SourceFile>) -> Result<Self, PolicyError> {
        Self::build(origin, files, None)
    }

    /// The digest covers the manifest (a new revision is a new bundle) and
    /// every file Palisade reads.
    fn build(
        origin: String,
        files: Vec<SourceFile>,
        manifest: Option<&[u8]>,
    ) -> Result<Self, PolicyError> {
        let mut hasher = Sha256::new();
        if let Some(manifest) = manifest {
            hasher.update(MANIFEST_FILE.as_bytes());
            hasher.update([0]);
            hasher.update(manifest);
            hasher.update([0]);
        }
        let (mut modules, mut tests, mut data_files) = (Vec::new(), Vec::new(), Vec::new());
        let mut samples = Vec::new();
        for file in files {
            hasher.update(file.path.as_bytes());
            hasher.update([0]);
            hasher.update(file.text.as_bytes());
            hasher.update([0]);
            if file.path.ends_with("_test.rego") {
                tests.push(file);
            } else if file.path.ends_with(".rego") {
                modules.push(file);
            } else if file.path.ends_with(".jsonl") {
                samples.extend(parse_samples(&file)?);
            } else if data::is_data_file(&file.path) {
                data_files.push(file);
            } else {
                return Err(data::refuse_stray(&file));
            }
        }
        let data = data::mount_all(&data_files)?;
        if modules.is_empty() {
            return Err(PolicyError::Bundle {
                location: origin,
                reason: "no Rego modules (.rego files) in the bundle".into(),
            });
        }
        let digest = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self {
            origin,
            modules,
            tests,
            data_files,
            data,
            samples,
            digest,
            embedded: false,
            revision: None,
            roots: Vec::new(),
            signed: false,
            verified: false,
        })
    }

    /// Sets the bundle's global mode (`data.palisade.config.mode`), as
    /// `palisade run --mode` does; per-rule modes stay as written.
    pub fn override_mode(&mut self, mode: Mode) {
        self.data["palisade"]["config"]["mode"] = mode.as_str().into();
    }

    /// `file:line` of where the data file setting `path` (under `data`)
    /// sets it: the deepest data file mounted at or above `path`, at its
    /// first line when mounted at `path` itself, else at the first line
    /// naming the path's last key.
    pub fn locate_data(&self, path: &[&str]) -> Option<String> {
        let found = self.data_files.iter().filter_map(|f| {
            let mount = data::mount_of(&f.path);
            let rest = path.strip_prefix(mount.as_slice())?;
            let line = match rest.last() {
                None => 0,
                Some(key) => f.text.lines().position(|l| {
                    l.contains(&format!("\"{key}\""))
                        || l.trim_start().starts_with(&format!("{key}:"))
                })?,
            };
            Some((mount.len(), format!("{}:{}", f.path, line + 1)))
        });
        found.max_by_key(|(depth, _)| *depth).map(|(_, at)| at)
    }

    /// `file:line` of the first line of any data file or module containing
    /// `needle`, for pointing an error at its source.
    pub fn locate(&self, needle: &str) -> Option<String> {
        self.data_files.iter().chain(&self.modules).find_map(|f| {
            f.text.lines().position(|l| l.contains(needle)).map(|i| format!("{}:{}", f.path, i + 1))
        })
    }
}

/// The kubelet's link to the current snapshot of a mounted ConfigMap.
const KUBELET_DATA_LINK: &str = "..data";

/// Reads the bundle files under `dir`. When `dir` is a mounted ConfigMap, the
/// kubelet publishes an update by writing a new `..<timestamp>` directory,
/// renaming a `..data` link onto it, then adding and removing the top-level
/// per-key links one at a time, then deleting the old directory. Reading the
/// top-level links during that window can see a key removed (a dangling link)
/// or miss one just added; so the files are read from `..data`'s target,
/// which is complete and never changes. If that target is deleted while it
/// is being read (a newer update), the read starts again on the new one.
fn read_snapshot(dir: &Path) -> Result<Vec<RawFile>, PolicyError> {
    let link = dir.join(KUBELET_DATA_LINK);
    let mut attempts = 0;
    loop {
        let Ok(root) = std::fs::canonicalize(&link) else {
            let mut files = Vec::new();
            collect(dir, dir, &mut files)?;
            return Ok(files);
        };
        let mut files = Vec::new();
        match collect(&root, &root, &mut files) {
            Ok(()) => return Ok(files),
            Err(err) => {
                attempts += 1;
                let moved = std::fs::canonicalize(&link).is_ok_and(|now| now != root);
                if !moved || attempts >= 3 {
                    return Err(err);
                }
            }
        }
    }
}

fn is_bundle_file(name: &str) -> bool {
    [".rego", ".json", ".jsonl", ".yaml", ".yml"].iter().any(|ext| name.ends_with(ext))
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<RawFile>) -> Result<(), PolicyError> {
    let read_err = |path: &Path, e: std::io::Error| PolicyError::Bundle {
        location: path.display().to_string(),
        reason: format!("cannot read: {e}"),
    };
    if dir == root {
        // OPA's two hidden files, at the bundle root only.
        for name in [MANIFEST_FILE, SIGNATURES_FILE] {
            let path = root.join(name);
            if std::fs::symlink_metadata(&path).is_ok() {
                let bytes = read_regular(&path, name)?;
                out.push(RawFile { path: name.into(), bytes });
            }
        }
    }
    let entries = std::fs::read_dir(dir).map_err(|e| read_err(dir, e))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        // Hidden files, and the kubelet's `..data` / `..2024_..` directories
        // behind a mounted ConfigMap (their files are reached via symlinks).
        if name.starts_with('.') {
            continue;
        }
        let relative = path.strip_prefix(root).unwrap_or(&path).display().to_string();
        // A real directory is walked; a link to one is not followed (a link
        // to `/` would walk the node). Links to files are read: that is how
        // a kubelet lays out a ConfigMap.
        let own = std::fs::symlink_metadata(&path).map_err(|e| read_err(&path, e))?;
        if own.is_dir() {
            collect(root, &path, out)?;
            continue;
        }
        if !is_bundle_file(name) {
            continue;
        }
        if own.file_type().is_symlink() && std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
            return Err(PolicyError::Bundle {
                location: relative,
                reason: "is a link to a directory, which is not followed".into(),
            });
        }
        let bytes = read_regular(&path, &relative)?;
        out.push(RawFile { path: relative, bytes });
    }
    Ok(())
}

/// The bytes of the regular file at `path` (named `relative` in errors), at
/// most [`FILE_MAX_BYTES`] (see [`read_capped`]).
fn read_regular(path: &Path, relative: &str) -> Result<Vec<u8>, PolicyError> {
    let fail = |reason: String| PolicyError::Bundle { location: relative.to_string(), reason };
    let (bytes, _) = read_capped(path, FILE_MAX_BYTES).map_err(fail)?;
    if bytes.len() as u64 > FILE_MAX_BYTES {
        return Err(fail(format!("is over the {FILE_MAX_BYTES}-byte limit for a bundle file")));
    }
    Ok(bytes)
}

/// The bytes of the regular file at `path`, at most `max + 1` (more than
/// `max` tells the caller it is too big), and its metadata. Opened without
/// blocking and checked on the open file, so a FIFO never hangs the reader
/// and a link to `/dev/zero` is refused rather than read until memory runs
/// out.
pub(crate) fn read_capped(path: &Path, max: u64) -> Result<(Vec<u8>, std::fs::Metadata), String> {
    use std::{io::Read, os::unix::fs::OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| format!("cannot read: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file (a FIFO, a device, a socket?)".into());
    }
    let mut bytes = Vec::with_capacity(meta.len().min(max) as usize);
    file.take(max + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read: {e}"))?;
    Ok((bytes, meta))
}

fn parse_samples(file: &SourceFile) -> Result<Vec<serde_json::Value>, PolicyError> {
    let mut events = Vec::new();
    for (i, line) in file.text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let event: serde_json::Value =
            serde_json::from_str(line).map_err(|e| PolicyError::Bundle {
                location: format!("{}:{}", file.path, i + 1),
                reason: format!("sample event is not JSON: {e}"),
            })?;
        events.push(event);
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> SourceFile {
        SourceFile { path: path.into(), text: text.into() }
    }

    #[test]
    fn sorts_files_by_role_and_mounts_data() {
        let b = Bundle::from_files(
            "t".into(),
            vec![
                file("main.rego", "package a"),
                file("main_test.rego", "package a_test"),
                file("palisade/config/data.json", r#"{"shells": {"sh": true}}"#),
                file("palisade/config/mode/data.json", "\n\"sometimes\"\n"),
                file("palisade/exceptions/data.yaml", "[]\n"),
                file("samples/events.jsonl", "{\"kind\": \"process_exec\"}\n"),
            ],
        )
        .unwrap();
        assert_eq!((b.modules.len(), b.tests.len(), b.data_files.len()), (1, 1, 3));
        assert_eq!(b.data["palisade"]["config"]["mode"], "sometimes");
        assert!(b.data["palisade"]["exceptions"].is_array());
        assert_eq!(b.samples.len(), 1);
        assert_eq!(b.digest.len(), 64);
        let mode = ["palisade", "config", "mode"];
        assert_eq!(b.locate_data(&mode).unwrap(), "palisade/config/mode/data.json:1");
        let sh = ["palisade", "config", "shells"];
        assert_eq!(b.locate_data(&sh).unwrap(), "palisade/config/data.json:1");
    }

    /// Publishes `files` into `dir` the way the kubelet updates a mounted
    /// ConfigMap (a nested path, from a volume's `items`, is a directory in
    /// the snapshot reached by a top-level link to its first component),
    /// stopping after the `..data` swap when `finish` is false (the window
    /// in which the top-level links are stale).
    fn kubelet_publish(dir: &Path, files: &[(&str, &str)], stamp: &str, finish: bool) {
        use std::os::unix::fs::symlink;
        let snapshot = dir.join(format!("..{stamp}"));
        for (name, text) in files {
            let path = snapshot.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let old = std::fs::read_link(dir.join("..data")).ok();
        symlink(format!("..{stamp}"), dir.join("..data_tmp")).unwrap();
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
        if !finish {
            return;
        }
        let top = |name: &&str| name.split('/').next().unwrap().to_string();
        let tops: Vec<String> = files.iter().map(|(name, _)| top(name)).collect();
        for name in &tops {
            let _ = symlink(format!("..data/{name}"), dir.join(name));
        }
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if !name.starts_with('.') && !tops.contains(&name) {
                std::fs::remove_file(dir.join(&name)).unwrap();
            }
        }
        if let Some(old) = old {
            std::fs::remove_dir_all(dir.join(old)).unwrap();
        }
    }

    #[test]
    fn a_kubelet_configmap_update_is_read_whole_even_mid_swap() {
        let dir = std::env::temp_dir().join(format!("palisade-kubelet-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let first = [("main.rego", "package a"), ("old/data.json", r#"{"n": 1}"#)];
        kubelet_publish(&dir, &first, "2026_11_24_10_00_00.1", true);
        let b = Bundle::open(&dir, None).unwrap();
        assert_eq!(b.data, serde_json::json!({"old": {"n": 1}}));

        // Swapped, top-level links not yet updated: `old` dangles and `new`
        // has no link. The new snapshot is read, whole.
        let second = [("main.rego", "package a"), ("new/deeper/data.json", r#"{"n": 2}"#)];
        kubelet_publish(&dir, &second, "2026_11_24_10_01_00.2", false);
        let mid = Bundle::open(&dir, None).unwrap();
        assert_eq!(mid.data, serde_json::json!({"new": {"deeper": {"n": 2}}}));
        std::fs::remove_dir_all(dir.join("..2026_11_24_10_00_00.1")).unwrap();
        let after = Bundle::open(&dir, None).unwrap();
        assert_eq!(after.digest, mid.digest);

        // The digest is that of a plain directory with the same files.
        let plain = dir.join("..plain");
        for (name, text) in second {
            std::fs::create_dir_all(plain.join(name).parent().unwrap()).unwrap();
            std::fs::write(plain.join(name), text).unwrap();
        }
        assert_eq!(Bundle::open(&plain, None).unwrap().digest, mid.digest);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_digest_changes_with_any_byte() {
        let one = Bundle::from_files("t".into(), vec![file("m.rego", "package a")]).unwrap();
        let two = Bundle::from_files("t".into(), vec![file("m.rego", "package b")]).unwrap();
        assert_ne!(one.digest, two.digest);
    }

    #[test]
    fn bad_data_is_rejected_with_its_location() {
        let rejected =
            |files: Vec<SourceFile>| Bundle::from_files("t".into(), files).unwrap_err().to_string();
        let err = rejected(vec![file("m.rego", "package a"), file("a/data.json", "{\n\"x\": }")]);
        assert!(err.starts_with("a/data.json:2: invalid JSON"), "{err}");
        let err = rejected(vec![file("m.rego", "package a"), file("data.json", "[1]")]);
        assert!(err.contains("must hold an object"), "{err}");
        let err = rejected(vec![
            file("m.rego", "package a"),
            file("data.json", r#"{"x": {"y": 1}}"#),
            file("x/data.json", r#"{"y": 2}"#),
        ]);
        assert_eq!(err, "x/data.json: data `x.y` is also set by data.json");
        let err = rejected(vec![
            file("m.rego", "package a"),
            file("config.json", r#"{"palisade": {"config": {"mode": "audit"}}}"#),
        ]);
        assert!(err.starts_with("config.json: not read: an OPA bundle takes data only"), "{err}");
        let err = rejected(vec![file("data.json", "{}")]);
        assert!(err.contains("no Rego modules"), "{err}");
    }

    #[test]
    fn data_outside_the_roots_is_refused() {
        let manifest =
            RawFile { path: MANIFEST_FILE.into(), bytes: br#"{"roots": ["palisade"]}"#.to_vec() };
        let raw =
            |path: &str, text: &str| RawFile { path: path.into(), bytes: text.as_bytes().to_vec() };
        let files = vec![
            manifest.clone(),
            raw("m.rego", "package palisade.m"),
            raw("palisade/config/data.json", "{}"),
        ];
        assert!(Bundle::from_raw("t".into(), files.clone(), None).is_ok());
        let mut outside = files;
        outside.push(raw("other/data.json", "{}"));
        let err = Bundle::from_raw("t".into(), outside, None).unwrap_err().to_string();
        assert_eq!(err, "other/data.json: data `other` is outside the manifest's roots [palisade]");
    }
}
