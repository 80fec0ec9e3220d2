//! OPA bundle tarballs (`.tar.gz`): files at their paths from the bundle
//! root, an optional `.manifest` and `.signatures.json`. Read whole into
//! memory with bounds on the compressed size, the unpacked size, each file
//! and the number of entries; nothing is written to disk, so a path only
//! names a file, but one that leaves the bundle (`..`) or a link is refused.

use std::{io::Read, path::Path};

use flate2::{Compression, GzBuilder, read::MultiGzDecoder};

use super::{PolicyError, bundle::FILE_MAX_BYTES, signing::RawFile};

/// Largest tarball read.
pub const COMPRESSED_MAX_BYTES: u64 = 16 << 20;
/// Largest total of the files in a tarball.
pub const UNPACKED_MAX_BYTES: u64 = 64 << 20;
/// Most entries (files and directories) in a tarball.
pub const ENTRIES_MAX: usize = 10_000;

/// Whether `path` looks like a tarball rather than a bundle directory.
pub fn is_tarball(path: &Path) -> bool {
    path.is_file()
}

/// Every regular file of the tarball at `path`.
pub fn read(path: &Path) -> Result<Vec<RawFile>, PolicyError> {
    let origin = path.display().to_string();
    let err = |reason: String| PolicyError::Bundle { location: origin.clone(), reason };
    let file = std::fs::File::open(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let mut compressed = Vec::new();
    file.take(COMPRESSED_MAX_BYTES + 1)
        .read_to_end(&mut compressed)
        .map_err(|e| err(format!("cannot read: {e}")))?;
    if compressed.len() as u64 > COMPRESSED_MAX_BYTES {
        return Err(err(format!(
            "the tarball is over the {COMPRESSED_MAX_BYTES}-byte limit for a bundle"
        )));
    }
    unpack(&compressed).map_err(err)
}

/// The regular files of a gzipped tar in memory, or why it is refused.
pub fn unpack(compressed: &[u8]) -> Result<Vec<RawFile>, String> {
    if !compressed.starts_with(&[0x1f, 0x8b]) {
        return Err("not a gzip file (a bundle is a directory or a .tar.gz)".into());
    }
    // Inflated whole first: the gzip trailer (length and CRC) is checked,
    // so a truncated tarball is refused even where tar would stop early.
    let mut tar_bytes = Vec::new();
    MultiGzDecoder::new(compressed)
        .take(UNPACKED_MAX_BYTES + 1)
        .read_to_end(&mut tar_bytes)
        .map_err(|e| format!("truncated or corrupt gzip: {e}"))?;
    if tar_bytes.len() as u64 > UNPACKED_MAX_BYTES {
        return Err(format!("unpacks to over the {UNPACKED_MAX_BYTES}-byte limit for a bundle"));
    }
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    let entries = archive.entries().map_err(|e| format!("not a tar archive: {e}"))?;
    let mut files: Vec<RawFile> = Vec::new();
    for (i, entry) in entries.enumerate() {
        if i >= ENTRIES_MAX {
            return Err(format!("more than {ENTRIES_MAX} entries"));
        }
        let mut entry = entry.map_err(|e| format!("truncated or corrupt tar: {e}"))?;
        let raw_path = String::from_utf8(entry.path_bytes().into_owned())
            .map_err(|_| "an entry's path is not UTF-8".to_string())?;
        let path = check_path(&raw_path)?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            return Err(format!("`{raw_path}` is a link; a bundle holds regular files only"));
        }
        if kind.is_pax_global_extensions() {
            continue;
        }
        if !kind.is_file() || path.is_empty() {
            return Err(format!("`{raw_path}` is not a regular file ({kind:?})"));
        }
        let size = entry.size();
        if size > FILE_MAX_BYTES {
            return Err(format!(
                "`{path}`: {size} bytes is over the {FILE_MAX_BYTES}-byte limit for a bundle file"
            ));
        }
        let mut bytes = Vec::with_capacity(size as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| format!("`{path}`: truncated or corrupt tar: {e}"))?;
        if bytes.len() as u64 != size {
            return Err(format!("`{path}`: truncated ({} of {size} bytes)", bytes.len()));
        }
        if files.iter().any(|f| f.path == path) {
            return Err(format!("`{path}` appears twice"));
        }
        files.push(RawFile { path, bytes });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// A tar path as a bundle path: OPA writes them with a leading `/` (the
/// bundle root) and `tar -C dir .` with `./`; `..` would leave the bundle.
fn check_path(raw: &str) -> Result<String, String> {
    let path = super::signing::normalize(raw).trim_end_matches('/');
    if path.split('/').any(|c| c == ".." || c == "." || c.is_empty()) && !path.is_empty() {
        return Err(format!("`{raw}` escapes the bundle or is not a plain path"));
    }
    if raw.contains('\\') || raw.contains('\0') {
        return Err(format!("`{raw}` is not a plain path"));
    }
    Ok(path.to_string())
}

/// A gzipped tar of `files`, in the given order, reproducible: no times,
/// owners or modes but 0644.
pub fn pack(files: &[RawFile]) -> std::io::Result<Vec<u8>> {
    let gz = GzBuilder::new().mtime(0).write(Vec::new(), Compression::best());
    let mut builder = tar::Builder::new(gz);
    builder.mode(tar::HeaderMode::Deterministic);
    for file in files {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(file.bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        builder.append_data(&mut header, &file.path, file.bytes.as_slice())?;
    }
    builder.into_inner()?.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> RawFile {
        RawFile { path: path.into(), bytes: text.as_bytes().to_vec() }
    }

    #[test]
    fn packs_and_unpacks_the_same_files() {
        let files = vec![file(".manifest", "{}"), file("a/b.rego", "package a.b")];
        let packed = pack(&files).unwrap();
        assert_eq!(unpack(&packed).unwrap(), files);
        assert_eq!(pack(&files).unwrap(), packed, "reproducible");
    }

    #[test]
    fn bad_tarballs_are_refused_with_the_reason() {
        let packed = pack(&[file("a.rego", "package a")]).unwrap();
        let err = unpack(&packed[..packed.len() - 10]).unwrap_err();
        assert!(err.contains("truncated"), "{err}");
        assert!(unpack(b"package a").unwrap_err().contains("not a gzip"));
        for bad in ["../x.rego", "a/../../x.rego"] {
            assert!(check_path(bad).unwrap_err().contains("escapes"), "{bad}");
        }
        assert_eq!(check_path("/a/b.rego").unwrap(), "a/b.rego");
        assert_eq!(check_path("./a.rego").unwrap(), "a.rego");

        // A link, written by hand (the builder refuses nothing).
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        builder.append_link(&mut header, "x.rego", "/etc/passwd").unwrap();
        let tar_bytes = builder.into_inner().unwrap();
        let mut gz = GzBuilder::new().write(Vec::new(), Compression::fast());
        std::io::Write::write_all(&mut gz, &tar_bytes).unwrap();
        let err = unpack(&gz.finish().unwrap()).unwrap_err();
        assert!(err.contains("is a link"), "{err}");
    }
}
