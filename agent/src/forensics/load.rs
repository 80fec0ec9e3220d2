//! Reads exported records back: files, or directories of them (rotated
//! files included), skipping what is not a native record and
//! saying how much was skipped. The same record seen twice (at-least-once
//! delivery, overlapping copies) is kept once.
//!
//! A file `P` brings its rotated predecessors with it: `P.1`, `P.2`, ...
//! as the file sink leaves them (see export/file.rs), up to the first
//! number missing. Naming one of them as well reads it once.

use std::{
    collections::HashSet,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
};

use serde_json::Value;

use super::ForensicsError;

/// Records, sorted by time, and what was skipped.
pub struct Loaded {
    pub records: Vec<Record>,
    /// Lines that were not JSON objects of the native schema.
    pub skipped: u64,
    pub duplicates: u64,
}

pub struct Record {
    /// Nanoseconds since the epoch, from `time`.
    pub ns: i128,
    pub value: Value,
}

/// What a pass over the files met besides the records it handed out.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Counts {
    /// The files read, in the order read.
    pub files: Vec<PathBuf>,
    /// Records handed out.
    pub records: u64,
    /// Lines that were not JSON objects of the native schema.
    pub skipped: u64,
    pub duplicates: u64,
}

pub fn load(paths: &[PathBuf]) -> Result<Loaded, ForensicsError> {
    let mut records = Vec::new();
    let counts = visit(paths, |record| records.push(record))?;
    records.sort_by_key(|r| r.ns);
    Ok(Loaded { records, skipped: counts.skipped, duplicates: counts.duplicates })
}

/// Hands every native record in `paths` (each once) to `each`, in file
/// order rather than time order, holding none of them: for passes over
/// more records than fit in memory as JSON values.
pub fn visit(paths: &[PathBuf], mut each: impl FnMut(Record)) -> Result<Counts, ForensicsError> {
    let mut counts = Counts { files: files(paths)?, ..Counts::default() };
    let mut seen = HashSet::new();
    for file in &counts.files {
        let reader =
            BufReader::new(std::fs::File::open(file).map_err(|e| ForensicsError::read(file, e))?);
        for line in reader.split(b'\n') {
            let line = line.map_err(|e| ForensicsError::read(file, e))?;
            let parsed = serde_json::from_slice::<Value>(&line).ok().and_then(|value| {
                let native = value["schema"].as_str()?.starts_with("palisade.event/");
                let ns = crate::model::time::parse_rfc3339_ns(value["time"].as_str()?)?;
                native.then_some(Record { ns, value })
            });
            match parsed {
                Some(record) => {
                    let id = record.value["id"].as_str().unwrap_or_default().to_string();
                    if seen.insert(id) {
                        counts.records += 1;
                        each(record);
                    } else {
                        counts.duplicates += 1;
                    }
                }
                None if line.iter().all(u8::is_ascii_whitespace) => {}
                None => counts.skipped += 1,
            }
        }
    }
    Ok(counts)
}

/// The files to read for `paths`: directories' export files, and each file
/// with its rotated predecessors; each file once.
fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ForensicsError> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| ForensicsError::read(path, e))?;
        if meta.is_dir() {
            files.extend(files_in(path)?);
        } else {
            files.push(path.clone());
            files.extend(rotated(path));
        }
    }
    let mut seen = HashSet::new();
    files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    Ok(files)
}

/// `P.1`, `P.2`, ... beside `P`, up to the first one missing.
fn rotated(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for n in 1.. {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        let next = PathBuf::from(name);
        if !next.is_file() {
            break;
        }
        out.push(next);
    }
    out
}

/// The export files in `dir`: names with `.json` in them (`events.jsonl`,
/// `events.jsonl.1`, ...). Their order does not matter: records are sorted
/// by time.
fn files_in(dir: &Path) -> Result<Vec<PathBuf>, ForensicsError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| ForensicsError::read(dir, e))?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| e.file_name().to_string_lossy().contains(".json"))
        .map(|e| e.path())
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, time: &str) -> String {
        format!(
            r#"{{"schema":"palisade.event/v1","id":"{id}","time":"{time}","node":"n","kind":"process_exit"}}"#
        )
    }

    /// A file brings its rotated predecessors; naming one of them too, or
    /// the directory, reads each file once; a record in two files is kept
    /// once.
    #[test]
    fn a_file_brings_its_rotated_files_each_read_once() {
        let dir = std::env::temp_dir().join(format!("palisade-load-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("events.jsonl");
        std::fs::write(&p, line("c", "2026-01-01T00:00:03Z") + "\nnot json\n").unwrap();
        std::fs::write(dir.join("events.jsonl.1"), line("b", "2026-01-01T00:00:02Z")).unwrap();
        let two = line("a", "2026-01-01T00:00:01Z") + "\n" + &line("b", "2026-01-01T00:00:02Z");
        std::fs::write(dir.join("events.jsonl.2"), two).unwrap();
        // After a gap: not part of the series.
        std::fs::write(dir.join("events.jsonl.4"), line("z", "2026-01-01T00:00:09Z")).unwrap();

        let loaded = load(&[p.clone(), dir.join("events.jsonl.1")]).unwrap();
        let ids: Vec<&str> =
            loaded.records.iter().map(|r| r.value["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!((loaded.skipped, loaded.duplicates), (1, 1));

        let counts = visit(std::slice::from_ref(&p), |_| {}).unwrap();
        assert_eq!(counts.files.len(), 3);
        let counts = visit(std::slice::from_ref(&dir), |_| {}).unwrap();
        assert_eq!((counts.files.len(), counts.records), (4, 4));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
