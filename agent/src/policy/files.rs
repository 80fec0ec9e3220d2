//! The file paths the kernel watches: `data.palisade.files.watch`
//! (policies/files.rego), the union of the rules' `files` sections, read
//! once when the bundle is compiled and written into the kernel's
//! `FILE_WATCH` prefix map. A path under no prefix produces no event at all.

use std::collections::BTreeMap;

use regorus::{Engine, Value};
use serde_json::Value as Json;

use palisade_common::{FILE_PATH_MAX, file_watch};

use super::{PolicyError, one_line};

/// The package of policies/files.rego, and its watch set.
pub const PACKAGE: &str = "palisade.files";
pub const WATCH_RULE: &str = "data.palisade.files.watch";

/// Watched path prefixes and the operations watched under each
/// (`palisade_common::file_watch` bits).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileWatchSet {
    pub prefixes: BTreeMap<String, u32>,
}

impl FileWatchSet {
    /// Evaluates [`WATCH_RULE`] (it must not depend on `input`); undefined,
    /// it watches nothing.
    pub fn read(all: &mut Engine, origin: &str) -> Result<Self, PolicyError> {
        let invalid =
            |reason: String| PolicyError::invalid(origin, format!("{WATCH_RULE}: {reason}"));
        let value = all
            .eval_rule(WATCH_RULE.to_string())
            .map_err(|e| invalid(format!("cannot evaluate: {}", one_line(&e))))?;
        if value == Value::Undefined {
            return Ok(Self::default());
        }
        let json =
            serde_json::to_value(&value).map_err(|e| invalid(format!("not plain data: {e}")))?;
        Self::parse(&json).map_err(invalid)
    }

    /// `{"read": [prefix, ...], "write": [prefix, ...]}`; both optional.
    fn parse(value: &Json) -> Result<Self, String> {
        let Some(fields) = value.as_object() else {
            return Err(format!("must be an object with `read` and/or `write`, not {value}"));
        };
        let mut prefixes = BTreeMap::new();
        for (key, list) in fields {
            let bit = match key.as_str() {
                "read" => file_watch::READ,
                "write" => file_watch::WRITE,
                other => return Err(format!("unknown field `{other}` (known: read, write)")),
            };
            let Some(list) = list.as_array() else {
                return Err(format!("{key}: must be a list of path prefixes, not {list}"));
            };
            for item in list {
                let prefix =
                    item.as_str().ok_or_else(|| format!("{key}: {item} is not a string"))?;
                check_prefix(prefix).map_err(|why| format!("{key}: {prefix:?} {why}"))?;
                *prefixes.entry(prefix.to_string()).or_insert(0) |= bit;
            }
        }
        Ok(Self { prefixes })
    }

    /// What the kernel's longest-prefix map must hold: each prefix with the
    /// bits of every shorter prefix of it too, since a lookup returns only
    /// the longest match (`/etc/` watched for writes and `/etc/shadow` for
    /// reads: a write to /etc/shadow finds the latter, which must say WRITE).
    pub fn kernel_entries(&self) -> BTreeMap<&str, u32> {
        self.prefixes
            .keys()
            .map(|p| {
                let bits = (self.prefixes.iter())
                    .filter(|(q, _)| p.starts_with(q.as_str()))
                    .fold(0, |acc, (_, b)| acc | b);
                (p.as_str(), bits)
            })
            .collect()
    }
}

/// A prefix the kernel can match: absolute (the kernel compares the path
/// string the caller passed, and only absolute ones), shorter than its key.
fn check_prefix(prefix: &str) -> Result<(), String> {
    if !prefix.starts_with('/') {
        return Err("is not absolute: the kernel matches absolute paths only".into());
    }
    if prefix.len() >= FILE_PATH_MAX {
        return Err(format!(
            "is {} bytes; the kernel matches prefixes of up to {} bytes",
            prefix.len(),
            FILE_PATH_MAX - 1
        ));
    }
    if prefix.contains('\0') {
        return Err("holds a NUL byte".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_read_and_write_lists_into_bits() {
        let set = FileWatchSet::parse(&json!({
            "read": ["/etc/shadow", "/root/.ssh/"],
            "write": ["/etc/", "/root/.ssh/"],
        }))
        .unwrap();
        assert_eq!(set.prefixes["/etc/shadow"], file_watch::READ);
        assert_eq!(set.prefixes["/etc/"], file_watch::WRITE);
        assert_eq!(set.prefixes["/root/.ssh/"], file_watch::READ | file_watch::WRITE);
    }

    #[test]
    fn kernel_entries_carry_the_bits_of_shorter_prefixes() {
        let set =
            FileWatchSet::parse(&json!({"read": ["/etc/shadow"], "write": ["/etc/"]})).unwrap();
        let entries = set.kernel_entries();
        assert_eq!(entries["/etc/shadow"], file_watch::READ | file_watch::WRITE);
        assert_eq!(entries["/etc/"], file_watch::WRITE);
    }

    #[test]
    fn refuses_what_the_kernel_cannot_match() {
        for (value, why) in [
            (json!({"read": ["etc/shadow"]}), "not absolute"),
            (json!({"read": ["/".repeat(FILE_PATH_MAX)]}), "bytes"),
            (json!({"exec": ["/bin/"]}), "unknown field `exec`"),
            (json!({"read": "/etc/shadow"}), "must be a list"),
            (json!(["/etc/"]), "must be an object"),
        ] {
            let err = FileWatchSet::parse(&value).unwrap_err();
            assert!(err.contains(why), "{value}: {err}");
        }
    }
}
