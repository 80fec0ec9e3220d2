//! What the policy costs, read back from the exported stream.
//!
//! - [`friction`]: `palisade policy report`, per rule and per exception
//!   over exported files: matches, blocks, `would_block`, suppressions,
//!   who and what hit each rule, rules that never fired, exceptions unused
//!   or expiring; as text, JSON or one self-contained HTML page.
//! - [`kube`]: `palisade report kubernetes`, the same stream turned into
//!   `wgpolicyk8s.io/v1alpha2` PolicyReports over a rolling window.
//!
//! Both read records through [`record::View`], the typed subset of a native
//! record they need.

pub mod friction;
mod html;
pub mod kube;
pub mod record;
mod text;

use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("cannot read the exported records")]
    Load(#[source] crate::forensics::ForensicsError),
    #[error("cannot load the policy bundle {origin}")]
    Bundle {
        origin: String,
        #[source]
        source: crate::policy::PolicyError,
    },
    #[error("cannot write {path}")]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--since {since} is not before --until {until}")]
    EmptyWindow { since: String, until: String },
}

/// How long `text` says: whole numbers with units `s`, `m`, `h`, `d`, `w`,
/// one or more (`90s`, `24h`, `1h30m`, `14d`).
pub fn parse_span(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration such as 90s, 15m, 24h, 1h30m, 14d or 2w");
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n.checked_mul(unit).and_then(|s| total.checked_add(s)).ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() || text.trim().is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// An instant given on the command line: RFC 3339, or a duration meaning
/// that long before now (`24h`). As ns since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant(pub i128);

pub fn parse_instant(text: &str) -> Result<Instant, String> {
    if let Some(ns) = crate::model::time::parse_rfc3339_ns(text) {
        return Ok(Instant(ns));
    }
    let ago = parse_span(text).map_err(|_| {
        format!("`{text}` is neither an RFC 3339 time nor a duration before now such as 24h or 7d")
    })?;
    Ok(Instant(now_ns() - ago.as_nanos() as i128))
}

pub fn now_ns() -> i128 {
    i128::from(crate::model::time::now_ns())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_numbers_with_units() {
        assert_eq!(parse_span("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_span("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_span("14d").unwrap(), Duration::from_secs(14 * 86_400));
        assert_eq!(parse_span("2w").unwrap(), Duration::from_secs(14 * 86_400));
        for bad in ["", "h", "24", "1.5h", "3y", "-1d", "99999999999999999999w"] {
            assert!(parse_span(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn instants_are_rfc3339_or_a_span_ago() {
        assert_eq!(
            parse_instant("2027-01-01T00:00:00Z").unwrap(),
            Instant(1_798_761_600_000_000_000)
        );
        let ago = parse_instant("1h").unwrap().0;
        let expected = now_ns() - 3600 * 1_000_000_000;
        assert!((ago - expected).abs() < 5_000_000_000, "{ago} vs {expected}");
        assert!(parse_instant("yesterday").unwrap_err().contains("RFC 3339"));
    }
}
