//! Environment variables captured at exec.
//!
//! The exec hook copies the first `ENV_MAX` bytes of the new image's
//! environment block (`mm->env_start..env_end`, NUL-separated `NAME=value`
//! strings, as the loader and the program will read them) and flags a longer
//! one. Which variables are kept is the bundle's choice:
//! `data.palisade.config.env_capture`, a list of names. Everything else in
//! the window is dropped here and never leaves the agent.
//!
//! The window is read in the kernel, at the exec, rather than from
//! `/proc/PID/environ` later: by then the process may have exited or
//! rewritten its environment (both race the reader), and the window is what
//! the dynamic loader saw.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use thiserror::Error;

use crate::model::bytes::Bytes;

/// Variables captured at most: each costs a comparison per environment
/// string.
pub const NAMES_MAX: usize = 64;
/// Bytes of a variable name at most.
pub const NAME_MAX: usize = 128;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum EnvConfigError {
    #[error("`env_capture` must be an array of variable names, not {0}")]
    NotAList(String),
    #[error(
        "`env_capture[{index}]` must be a variable name (1 to {NAME_MAX} bytes, no `=` or NUL), not {value}"
    )]
    BadName { index: usize, value: String },
    #[error("`env_capture` names {0} variables; at most {NAMES_MAX} are allowed")]
    TooMany(usize),
}

/// The names of the variables to capture.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvCapture {
    names: BTreeSet<Vec<u8>>,
    /// Bit `n` set when some name is `n` bytes long ([`NAME_MAX`] fits):
    /// most of an environment's strings are passed over on their name's
    /// length and first byte, without a lookup.
    lengths: [u64; 3],
    first_bytes: [u64; 4],
}

/// Whether bit `n` is set in `bits`.
fn has_bit(bits: &[u64], n: usize) -> bool {
    bits.get(n / 64).is_some_and(|word| word & (1 << (n % 64)) != 0)
}

fn set_bit(bits: &mut [u64], n: usize) {
    bits[n / 64] |= 1 << (n % 64);
}

impl EnvCapture {
    /// From `data.palisade.config.env_capture` (absent: capture nothing).
    pub fn from_config(config: &Value) -> Result<Self, EnvConfigError> {
        let list = match config.get("env_capture") {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Array(list)) => list,
            Some(other) => return Err(EnvConfigError::NotAList(short(other))),
        };
        if list.len() > NAMES_MAX {
            return Err(EnvConfigError::TooMany(list.len()));
        }
        let mut capture = Self::default();
        for (index, value) in list.iter().enumerate() {
            match value.as_str() {
                Some(n) if !n.is_empty() && n.len() <= NAME_MAX && !n.contains(['=', '\0']) => {
                    set_bit(&mut capture.lengths, n.len());
                    set_bit(&mut capture.first_bytes, usize::from(n.as_bytes()[0]));
                    capture.names.insert(n.as_bytes().to_vec());
                }
                _ => return Err(EnvConfigError::BadName { index, value: short(value) }),
            }
        }
        Ok(capture)
    }

    /// The configured variables in `window`, the copied start of an
    /// environment block, by name. A name set twice keeps its first value:
    /// the one `getenv(3)` returns. With `truncated`, the window's last
    /// string may be cut short: it is dropped rather than reported with a
    /// partial value.
    pub fn pick(&self, window: &[u8], truncated: bool) -> BTreeMap<String, Bytes> {
        let mut vars = BTreeMap::new();
        if self.names.is_empty() {
            return vars;
        }
        // The piece after the last NUL is empty when the window ends on a
        // string's end, a partial string when the copy stopped inside one.
        let complete = match truncated {
            true => &window[..memchr::memrchr(0, window).map_or(0, |at| at + 1)],
            false => window,
        };
        let mut start = 0;
        let ends = memchr::memchr_iter(0, complete).chain(std::iter::once(complete.len()));
        for end in ends {
            let entry = &complete[start..end];
            start = end + 1;
            // The first byte rules most strings out before any search.
            let Some(&first) = entry.first() else { continue };
            if !has_bit(&self.first_bytes, usize::from(first)) {
                continue;
            }
            let Some(eq) = memchr::memchr(b'=', entry) else { continue };
            let (name, value) = (&entry[..eq], &entry[eq + 1..]);
            if !has_bit(&self.lengths, name.len()) {
                continue;
            }
            if self.names.contains(name) {
                let name = String::from_utf8_lossy(name).into_owned();
                vars.entry(name).or_insert_with(|| Bytes(value.to_vec()));
            }
        }
        vars
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn capture(names: &[&str]) -> EnvCapture {
        EnvCapture::from_config(&json!({ "env_capture": names })).unwrap()
    }

    fn vars(c: &BTreeMap<String, Bytes>) -> Vec<(String, String)> {
        c.iter().map(|(k, v)| (k.clone(), v.text().into())).collect()
    }

    #[test]
    fn picks_the_configured_variables_first_value_wins() {
        let c = capture(&["LD_PRELOAD", "HISTFILE"]);
        let window = b"PATH=/bin\0LD_PRELOAD=/x.so\0HISTFILE=\0LD_PRELOAD=/y.so\0LD_PRELOADX=1\0";
        assert_eq!(
            vars(&c.pick(window, false)),
            [("HISTFILE".into(), "".into()), ("LD_PRELOAD".into(), "/x.so".into())]
        );
    }

    #[test]
    fn a_cut_last_string_is_dropped_only_when_truncated() {
        let c = capture(&["HISTSIZE"]);
        assert_eq!(vars(&c.pick(b"A=1\0HISTSIZE=0", false)), [("HISTSIZE".into(), "0".into())]);
        // HISTSIZE=0 may have been HISTSIZE=0123 before the cut.
        assert!(c.pick(b"A=1\0HISTSIZE=0", true).is_empty());
        assert_eq!(vars(&c.pick(b"HISTSIZE=0\0B=", true)), [("HISTSIZE".into(), "0".into())]);
        assert!(capture(&[]).pick(b"HISTSIZE=0\0", false).is_empty());
    }

    #[test]
    fn the_configuration_is_checked() {
        assert_eq!(EnvCapture::from_config(&json!({})).unwrap(), EnvCapture::default());
        let err = |v: Value| EnvCapture::from_config(&json!({ "env_capture": v })).unwrap_err();
        assert_eq!(err(json!("LD_PRELOAD")), EnvConfigError::NotAList("\"LD_PRELOAD\"".into()));
        assert!(matches!(err(json!(["A", "B=C"])), EnvConfigError::BadName { index: 1, .. }));
        assert!(matches!(err(json!([""])), EnvConfigError::BadName { index: 0, .. }));
        assert!(matches!(err(json!([1])), EnvConfigError::BadName { index: 0, .. }));
        let many: Vec<String> = (0..=NAMES_MAX).map(|i| format!("V{i}")).collect();
        assert_eq!(err(json!(many)), EnvConfigError::TooMany(NAMES_MAX + 1));
    }
}
