//! Redaction: secrets in command lines never leave the agent. Applied to
//! every record before any sink sees it, after the policy judged the event
//! as it was (a rule may match on the very argument that is redacted).
//!
//! Two kinds of patterns, both regular expressions over one argument:
//! - value patterns: the first capture group (the whole match when there is
//!   none) is replaced, e.g. `--password=(.+)`;
//! - flag patterns: an argument matching one makes the *next* argument the
//!   secret, e.g. `--password` in `--password hunter2`.
//!
//! Each secret found in the arguments is also replaced wherever else it
//! appears in the record (the exec filename, the matched rules' messages,
//! which quote the command line).

use regex::bytes::{Regex, RegexSet};

use crate::{event::Event, model::bytes::Bytes};

/// What replaces a secret.
pub const MARKER: &str = "[REDACTED]";

/// Built in unless `--no-default-redactions`: `--password=`-style options,
/// `*SECRET*=`/`*TOKEN*=`-style environment assignments (`env`, `export`),
/// credentials in URLs, and HTTP authorization schemes.
const DEFAULT_VALUES: &[&str] = &[
    r"(?i)^--?[a-z0-9_-]*(?:password|passwd|passphrase|secret|token|api[-_]?key|access[-_]?key)[a-z0-9_-]*[=:](.+)$",
    r"(?i)^[a-z0-9_]*(?:secret|password|passwd|token|api_?key|access_?key|private_?key|credentials?)[a-z0-9_]*=(.+)$",
    r"(?i)\b[a-z][a-z0-9+.-]*://[^/\s:@]*:([^/\s@]+)@",
    r"(?i)\b(?:bearer|basic|token)\s+([A-Za-z0-9._~+/=-]{8,})",
];

/// Built in: options whose value is the next argument.
const DEFAULT_FLAGS: &[&str] = &[
    r"(?i)^--?(?:password|passwd|passphrase|secret|token|api[-_]?key|access[-_]?key|client[-_]?secret)$",
    r"^(?:-u|--user)$",
];

#[derive(Debug, thiserror::Error)]
#[error("redaction pattern `{pattern}`: {reason}")]
pub struct RedactError {
    pattern: String,
    reason: String,
}

#[derive(Debug)]
pub struct Redactor {
    values: Vec<Regex>,
    /// All of `values`, for the one-pass test most arguments end at.
    any_value: RegexSet,
    flags: RegexSet,
}

impl Redactor {
    /// `values` and `flags` are added to the built-in patterns, or replace
    /// them when `defaults` is false.
    pub fn new(values: &[String], flags: &[String], defaults: bool) -> Result<Self, RedactError> {
        let chosen = |builtin: &[&str], extra: &[String]| -> Vec<String> {
            let builtin = builtin.iter().filter(|_| defaults).map(|p| p.to_string());
            builtin.chain(extra.iter().cloned()).collect()
        };
        let (values, flags) = (chosen(DEFAULT_VALUES, values), chosen(DEFAULT_FLAGS, flags));
        let compiled = values.iter().map(|p| compile(p)).collect::<Result<Vec<_>, _>>()?;
        flags.iter().try_for_each(|p| compile(p).map(drop))?;
        let set = |patterns: &[String]| RegexSet::new(patterns).expect("each compiled alone");
        Ok(Self { any_value: set(&values), flags: set(&flags), values: compiled })
    }

    /// Redacts `event` in place; returns how many secrets were replaced.
    pub fn apply(&self, event: &mut Event) -> u64 {
        let mut secrets: Vec<Vec<u8>> = Vec::new();
        let args = &mut event.process.args;
        let mut next_is_secret = false;
        for arg in args.iter_mut() {
            if std::mem::take(&mut next_is_secret) && !arg.0.is_empty() {
                secrets.push(std::mem::replace(&mut arg.0, MARKER.into()));
                continue;
            }
            next_is_secret = self.flags.is_match(&arg.0);
            self.redact_values(arg, &mut secrets);
        }
        // Captured environment variables, each seen as the `NAME=value`
        // assignment it is, so the assignment patterns apply as to `env
        // NAME=value` in argv (a proxy URL with credentials, a *_TOKEN).
        for (name, value) in &mut event.process.env {
            let prefix = name.len() + 1;
            let mut assignment = Bytes([name.as_bytes(), b"=", &value.0].concat());
            let before = secrets.len();
            self.redact_values(&mut assignment, &mut secrets);
            if secrets.len() != before {
                value.0 = assignment.0.split_off(prefix.min(assignment.0.len()));
            }
        }
        if secrets.is_empty() {
            return 0;
        }
        let found = secrets.len() as u64;
        if let Some(filename) = &mut event.process.filename {
            replace_all(&mut filename.0, &secrets);
        }
        if let Some(decision) = &mut event.decision {
            for m in &mut decision.matched {
                let mut message = std::mem::take(&mut m.message).into_bytes();
                replace_all(&mut message, &secrets);
                m.message = String::from_utf8_lossy(&message).into_owned();
            }
        }
        found
    }

    /// Replaces what the value patterns capture in `arg`.
    fn redact_values(&self, arg: &mut Bytes, secrets: &mut Vec<Vec<u8>>) {
        let matching = self.any_value.matches(&arg.0);
        if !matching.matched_any() {
            return;
        }
        let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
        for index in matching.iter() {
            for captures in self.values[index].captures_iter(&arg.0) {
                let secret = captures.get(1).or_else(|| captures.get(0)).expect("matched");
                if !secret.is_empty()
                    && !ranges.iter().any(|r| r.start < secret.end() && secret.start() < r.end)
                {
                    ranges.push(secret.range());
                }
            }
        }
        ranges.sort_by_key(|r| std::cmp::Reverse(r.start));
        for range in ranges {
            secrets.push(arg.0[range.clone()].to_vec());
            arg.0.splice(range, MARKER.bytes());
        }
    }
}

fn compile(pattern: &str) -> Result<Regex, RedactError> {
    Regex::new(pattern).map_err(|e| RedactError {
        pattern: pattern.to_string(),
        reason: first_line(&e.to_string()),
    })
}

/// The regex crate's errors span lines (the pattern, a caret, the reason).
fn first_line(error: &str) -> String {
    error.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(error).trim().to_string()
}

/// Replaces every occurrence of each secret in `text` by the marker.
fn replace_all(text: &mut Vec<u8>, secrets: &[Vec<u8>]) {
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let mut at = 0;
        while let Some(found) = text[at..].windows(secret.len()).position(|w| w == &secret[..]) {
            let start = at + found;
            text.splice(start..start + secret.len(), MARKER.bytes());
            at = start + MARKER.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::decision::{Action, Decision, Match, Mode};

    fn event(args: &[&str], message: &str) -> Event {
        let mut event = crate::test_support::event("process_exec");
        event.process.args = args.iter().map(|a| Bytes(a.as_bytes().to_vec())).collect();
        event.decision = Some(Decision {
            matched: vec![Match {
                action: Action::Alert,
                message: message.into(),
                mitre: None,
                mode: Mode::Audit,
                rule: "PAL-T".into(),
                severity: None,
                title: None,
            }],
            ..Decision::default()
        });
        event
    }

    fn args(event: &Event) -> Vec<String> {
        event.process.args.iter().map(|a| a.text().into_owned()).collect()
    }

    #[test]
    fn built_in_patterns_redact_common_secrets_and_their_echo_in_messages() {
        let redactor = Redactor::new(&[], &[], true).unwrap();
        let mut e = event(
            &[
                "tool",
                "--password=hunter2",
                "--token",
                "t0k3n",
                "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI",
                "https://bob:pa55@example.com/x",
                "Authorization: Bearer abcdefgh12345",
                "-u",
                "bob:pw",
                "--port=5432",
            ],
            "miner given a pool: tool --password=hunter2 --token t0k3n",
        );
        assert_eq!(redactor.apply(&mut e), 6);
        assert_eq!(
            args(&e),
            [
                "tool",
                "--password=[REDACTED]",
                "--token",
                "[REDACTED]",
                "AWS_SECRET_ACCESS_KEY=[REDACTED]",
                "https://bob:[REDACTED]@example.com/x",
                "Authorization: Bearer [REDACTED]",
                "-u",
                "[REDACTED]",
                "--port=5432",
            ]
        );
        let message = &e.decision.as_ref().unwrap().matched[0].message;
        assert_eq!(message, "miner given a pool: tool --password=[REDACTED] --token [REDACTED]");
    }

    #[test]
    fn configured_patterns_add_to_or_replace_the_built_in_ones() {
        let only = Redactor::new(&["^licen[cs]e=(.+)$".into()], &[], false).unwrap();
        let mut e = event(&["x", "license=ABC", "--password=kept"], "");
        assert_eq!(only.apply(&mut e), 1);
        assert_eq!(args(&e), ["x", "license=[REDACTED]", "--password=kept"]);
        let err = Redactor::new(&["(unclosed".into()], &[], true).unwrap_err().to_string();
        assert!(err.starts_with("redaction pattern `(unclosed`:"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn captured_environment_values_are_redacted_like_assignments() {
        let redactor = Redactor::new(&[], &[], true).unwrap();
        let mut e = event(&["curl", "example.com"], "proxy http://bob:pa55@proxy:3128");
        for (k, v) in [
            ("https_proxy", "http://bob:pa55@proxy:3128"),
            ("GITHUB_TOKEN", "ghp_x"),
            ("LD_PRELOAD", "/tmp/x.so"),
        ] {
            e.process.env.insert(k.into(), Bytes(v.as_bytes().to_vec()));
        }
        assert_eq!(redactor.apply(&mut e), 2);
        let env = |k: &str| String::from_utf8_lossy(&e.process.env[k].0).into_owned();
        assert_eq!(env("https_proxy"), "http://bob:[REDACTED]@proxy:3128");
        assert_eq!(env("GITHUB_TOKEN"), "[REDACTED]");
        assert_eq!(env("LD_PRELOAD"), "/tmp/x.so");
        let message = &e.decision.as_ref().unwrap().matched[0].message;
        assert_eq!(message, "proxy http://bob:[REDACTED]@proxy:3128");
    }

    #[test]
    fn an_event_without_secrets_is_left_alone() {
        let redactor = Redactor::new(&[], &[], true).unwrap();
        let mut e = event(&["ls", "-la", "/tmp"], "ls -la /tmp");
        assert_eq!(redactor.apply(&mut e), 0);
        assert_eq!(args(&e), ["ls", "-la", "/tmp"]);
    }
}
