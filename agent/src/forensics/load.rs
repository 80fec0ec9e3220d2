//! Reads exported records back: files, or directories of them (rotated
//! files included), skipping what is not a native record and
//! saying how much was skipped. The same record seen twice (at-least-once
//! delivery, overlapping copies) is kept once.

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

pub fn load(paths: &[PathBuf]) -> Result<Loaded, ForensicsError> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| ForensicsError::read(path, e))?;
        if meta.is_dir() {
            files.extend(files_in(path)?);
        } else {
            files.push(path.clone());
        }
    }
    let mut seen = HashSet::new();
    let mut loaded = Loaded { records: Vec::new(), skipped: 0, duplicates: 0 };
    for file in &files {
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
                        loaded.records.push(record);
                    } else {
                        loaded.duplicates += 1;
                    }
                }
                None if line.iter().all(u8::is_ascii_whitespace) => {}
                None => loaded.skipped += 1,
            }
        }
    }
    loaded.records.sort_by_key(|r| r.ns);
    Ok(loaded)
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
