//! `--sink` values: where records go, in which format, and which records.
//!
//! `KIND[,key=value...]`, for example
//! `file,path=/var/log/palisade/events.jsonl,max_size=64MiB,keep=5` or
//! `webhook,url=https://collector:8443/palisade,filter=alerts,format=ocsf` or
//! `otlp,endpoint=http://otel-collector:4318` or
//! `decision_log,url=https://logs:8443/logs,mask=/input/process/args`.
//! A comma inside a value (a URL's query) must be written `%2C`.

use std::{path::PathBuf, time::Duration};

use super::{ExportError, filter::Filter};

/// Default file rotation size.
const DEFAULT_MAX_FILE: u64 = 64 << 20;
/// Default number of rotated files kept beside the active one.
const DEFAULT_KEEP: usize = 5;
/// Default bound of a webhook's on-disk spool.
const DEFAULT_SPOOL_MAX: u64 = 256 << 20;
/// The longest a record may wait in memory only: a `SIGKILL` loses that much.
const SPILL_AFTER_MAX: Duration = Duration::from_secs(60);
/// Default records per webhook or OTLP request.
const DEFAULT_BATCH: usize = 500;
/// Where webhook and OTLP spools live unless `spool_dir` says otherwise.
const SPOOL_ROOT: &str = "/var/lib/palisade/spool";

#[derive(Debug, Clone)]
pub struct SinkSpec {
    /// Names the sink in metrics and logs; unique.
    pub name: String,
    pub kind: SinkKind,
    pub format: Format,
    pub filter: Filter,
    /// Decision logs: JSON pointers erased from each entry.
    pub masks: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum SinkKind {
    Stdout,
    File {
        path: PathBuf,
        max_bytes: u64,
        keep: usize,
    },
    /// NDJSON POSTed to a URL.
    Webhook(RemoteSpec),
    /// OTLP/HTTP logs (protobuf) to a Collector's `/v1/logs`.
    Otlp(RemoteSpec),
    /// OPA decision logs: gzipped JSON arrays POSTed to a URL.
    DecisionLog(RemoteSpec),
}

/// A receiver over HTTP(S), fed from an on-disk spool.
#[derive(Debug, Clone)]
pub struct RemoteSpec {
    /// Where requests go (for OTLP, `/v1/logs` is added to an endpoint
    /// given without a path, as OpenTelemetry's exporters do).
    pub url: String,
    pub spool_dir: PathBuf,
    pub spool_max_bytes: u64,
    /// How long records may wait in memory only before they are written
    /// to the spool (zero: within the 50 ms flush). Records delivered
    /// sooner never touch the disk; a `SIGKILL` loses up to this much.
    pub spill_after: Duration,
    pub batch_records: usize,
    /// PEM file of the CA that signs the receiver's certificate; default:
    /// the Mozilla roots built in.
    pub ca_file: Option<PathBuf>,
    /// A file holding a bearer token, re-read for every request (so a
    /// mounted Secret can rotate).
    pub token_file: Option<PathBuf>,
    /// A file of `Name: value` lines sent as request headers (an API key),
    /// re-read for every request.
    pub headers_file: Option<PathBuf>,
    /// Gzip request bodies (OTLP; the Collector's receiver accepts both).
    pub gzip: bool,
    pub timeout: Duration,
}

/// How a record is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The agent's own schema, `schema/event.schema.json`.
    Native,
    /// OCSF 1.1: Process Activity, Network Activity, Base Event.
    Ocsf,
    /// OPA's decision-log events (`decision_log` sinks only).
    DecisionLog,
}

impl SinkSpec {
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            SinkKind::Stdout => "stdout",
            SinkKind::File { .. } => "file",
            SinkKind::Webhook(_) => "webhook",
            SinkKind::Otlp(_) => "otlp",
            SinkKind::DecisionLog(_) => "decision_log",
        }
    }
}

/// Parses one `--sink` value.
pub fn parse(text: &str) -> Result<SinkSpec, ExportError> {
    let bad = |reason: String| ExportError::Spec { spec: text.to_string(), reason };
    let mut parts = text.split(',');
    let kind = parts.next().unwrap_or_default().trim();
    let mut options = Vec::new();
    for part in parts {
        let (key, value) =
            part.split_once('=').ok_or_else(|| bad(format!("`{part}` is not key=value")))?;
        if options.iter().any(|(k, _): &(&str, String)| *k == key) {
            return Err(bad(format!("`{key}` is given twice")));
        }
        options.push((key, value.replace("%2C", ",")));
    }
    let take = |key: &str| options.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
    // What every sink delivering from a spool takes, then each kind's own.
    const SPOOLED: &[&str] = &[
        "name",
        "filter",
        "spool_dir",
        "spool_max",
        "spill_after",
        "batch",
        "ca_file",
        "headers_file",
        "timeout",
    ];
    let allowed: Vec<&str> = match kind {
        "stdout" => vec!["name", "format", "filter"],
        "file" => vec!["name", "format", "filter", "path", "max_size", "keep"],
        "webhook" => [SPOOLED, &["format", "url", "token_file"]].concat(),
        "otlp" => [SPOOLED, &["format", "endpoint", "compression"]].concat(),
        "decision_log" => [SPOOLED, &["url", "token_file", "compression", "mask"]].concat(),
        other => {
            return Err(bad(format!(
                "unknown sink `{other}` (one of stdout, file, webhook, otlp, decision_log)"
            )));
        }
    };
    if let Some((key, _)) = options.iter().find(|(k, _)| !allowed.contains(k)) {
        return Err(bad(format!("`{key}` is not an option of {kind} (one of {allowed:?})")));
    }
    let decision_log = kind == "decision_log";
    let format = match take("format").as_deref() {
        None if decision_log => Format::DecisionLog,
        None | Some("native") => Format::Native,
        Some("ocsf") => Format::Ocsf,
        Some(other) => return Err(bad(format!("unknown format `{other}` (native or ocsf)"))),
    };
    let filter = match take("filter") {
        Some(f) => Filter::parse(&f).map_err(bad)?,
        // As OPA logs decisions worth auditing: the matches and the
        // exceptions that suppressed one (`filter=all`: every decision).
        None if decision_log => Filter::parse("alerts|suppressed").map_err(bad)?,
        None => Filter::default(),
    };
    let masks: Vec<String> =
        take("mask").map(|m| m.split('|').map(str::to_string).collect()).unwrap_or_default();
    for mask in &masks {
        super::decision_log::check_mask(mask).map_err(bad)?;
    }
    let name = take("name").unwrap_or_else(|| kind.to_string());
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)) {
        return Err(bad(format!("name `{name}` must be letters, digits, `-` or `_`")));
    }
    let kind = match kind {
        "stdout" => SinkKind::Stdout,
        "file" => SinkKind::File {
            path: take("path")
                .map(PathBuf::from)
                .ok_or_else(|| bad("`path` is required".into()))?,
            max_bytes: take("max_size").map_or(Ok(DEFAULT_MAX_FILE), |v| size(&v)).map_err(bad)?,
            keep: take("keep").map_or(Ok(DEFAULT_KEEP), |v| number(&v, "keep")).map_err(bad)?,
        },
        remote => {
            let otlp = remote == "otlp";
            let url = if otlp {
                let endpoint =
                    take("endpoint").ok_or_else(|| bad("`endpoint` is required".into()))?;
                otlp_logs_url(&endpoint)
            } else {
                take("url").ok_or_else(|| bad("`url` is required".into()))?
            };
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(bad(format!("url `{url}` must start with http:// or https://")));
            }
            let batch_records =
                take("batch").map_or(Ok(DEFAULT_BATCH), |v| number(&v, "batch")).map_err(bad)?;
            if batch_records == 0 {
                return Err(bad("batch must be at least 1".into()));
            }
            let timeout_secs =
                take("timeout").map_or(Ok(10), |v| number(&v, "timeout")).map_err(bad)?;
            let gzip = match take("compression").as_deref() {
                None | Some("gzip") => otlp || decision_log,
                Some("none") => false,
                Some(other) => {
                    return Err(bad(format!("unknown compression `{other}` (gzip or none)")));
                }
            };
            let spec = RemoteSpec {
                url,
                spool_dir: take("spool_dir")
                    .map_or_else(|| PathBuf::from(SPOOL_ROOT).join(&name), PathBuf::from),
                spool_max_bytes: take("spool_max")
                    .map_or(Ok(DEFAULT_SPOOL_MAX), |v| size(&v))
                    .map_err(bad)?,
                spill_after: take("spill_after")
                    .map_or(Ok(Duration::ZERO), |v| spill_after(&v))
                    .map_err(bad)?,
                batch_records,
                ca_file: take("ca_file").map(PathBuf::from),
                token_file: take("token_file").map(PathBuf::from),
                headers_file: take("headers_file").map(PathBuf::from),
                gzip,
                timeout: Duration::from_secs(timeout_secs.max(1) as u64),
            };
            match remote {
                "otlp" => SinkKind::Otlp(spec),
                "decision_log" => SinkKind::DecisionLog(spec),
                _ => SinkKind::Webhook(spec),
            }
        }
    };
    Ok(SinkSpec { name, kind, format, filter, masks })
}

/// The logs URL of an OTLP/HTTP endpoint: `/v1/logs` is appended to an
/// endpoint without a path (`OTEL_EXPORTER_OTLP_ENDPOINT` style), a URL with
/// a path is used as it is (`OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` style).
fn otlp_logs_url(endpoint: &str) -> String {
    let after_scheme = endpoint.split_once("://").map_or(endpoint, |(_, rest)| rest);
    match after_scheme.find('/') {
        Some(slash) if after_scheme.len() > slash + 1 => endpoint.to_string(),
        _ => format!("{}/v1/logs", endpoint.trim_end_matches('/')),
    }
}

/// `4096`, `512KiB`, `64MiB`, `1GiB`; at least 4 KiB.
fn size(text: &str) -> Result<u64, String> {
    let (digits, unit) =
        text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let shift = match unit {
        "" | "B" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        _ => return Err(format!("size `{text}`: unit must be B, KiB, MiB or GiB")),
    };
    let n: u64 = digits.parse().map_err(|_| format!("size `{text}` is not a number"))?;
    let bytes = n.checked_mul(1 << shift).ok_or_else(|| format!("size `{text}` is too large"))?;
    if bytes < 4096 {
        return Err(format!("size `{text}` is below 4KiB"));
    }
    Ok(bytes)
}

/// `0`, `500ms`, `2s`; at most [`SPILL_AFTER_MAX`].
fn spill_after(text: &str) -> Result<Duration, String> {
    let (digits, unit) =
        text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 =
        digits.parse().map_err(|_| format!("spill_after `{text}` is not a duration like 2s"))?;
    let after = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "" if n == 0 => Duration::ZERO,
        _ => return Err(format!("spill_after `{text}`: the unit must be ms or s")),
    };
    if after > SPILL_AFTER_MAX {
        return Err(format!("spill_after `{text}` is above {}s", SPILL_AFTER_MAX.as_secs()));
    }
    Ok(after)
}

fn number(text: &str, key: &str) -> Result<usize, String> {
    text.parse().map_err(|_| format!("{key} `{text}` is not a whole number"))
}

/// Gives every sink a unique name: the second unnamed `file` is `file-2`.
pub fn name_uniquely(specs: &mut [SinkSpec]) -> Result<(), ExportError> {
    let mut seen: Vec<String> = Vec::new();
    for spec in specs.iter_mut() {
        if seen.contains(&spec.name) {
            if spec.name != spec.kind_name() {
                return Err(ExportError::Spec {
                    spec: spec.name.clone(),
                    reason: "two sinks have this name".into(),
                });
            }
            let mut n = 2;
            while seen.contains(&format!("{}-{n}", spec.name)) {
                n += 1;
            }
            spec.name = format!("{}-{n}", spec.name);
            let default_spool = PathBuf::from(SPOOL_ROOT).join(spec.kind_name());
            if let SinkKind::Webhook(w) | SinkKind::Otlp(w) = &mut spec.kind
                && w.spool_dir == default_spool
            {
                w.spool_dir = PathBuf::from(SPOOL_ROOT).join(&spec.name);
            }
        }
        seen.push(spec.name.clone());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_and_refuses_mistakes_by_name() {
        let file = parse("file,path=/tmp/e.jsonl,max_size=1MiB,keep=3,filter=alerts").unwrap();
        assert!(matches!(file.kind, SinkKind::File { max_bytes: 1048576, keep: 3, .. }));
        let hook = parse("webhook,url=http://h:1/x?a=1%2C2,format=ocsf").unwrap();
        let SinkKind::Webhook(w) = hook.kind else { panic!() };
        assert_eq!(w.url, "http://h:1/x?a=1,2");
        assert_eq!(w.spool_dir, PathBuf::from("/var/lib/palisade/spool/webhook"));
        assert_eq!(hook.format, Format::Ocsf);
        let SinkKind::Webhook(w) = parse("webhook,url=http://h").unwrap().kind else { panic!() };
        assert!(!w.gzip, "webhooks send plain NDJSON unless asked");
        for (endpoint, url) in [
            ("http://c:4318", "http://c:4318/v1/logs"),
            ("http://c:4318/", "http://c:4318/v1/logs"),
            ("https://gw/otlp/v1/logs", "https://gw/otlp/v1/logs"),
        ] {
            let SinkKind::Otlp(o) = parse(&format!("otlp,endpoint={endpoint}")).unwrap().kind
            else {
                panic!()
            };
            assert_eq!(o.url, url);
            assert!(o.gzip);
            assert_eq!(o.spill_after, Duration::ZERO, "written within the flush unless asked");
        }
        for (text, after) in [("0", 0), ("750ms", 750), ("2s", 2000)] {
            let spec = format!("otlp,endpoint=http://c,spill_after={text}");
            let SinkKind::Otlp(o) = parse(&spec).unwrap().kind else { panic!() };
            assert_eq!(o.spill_after, Duration::from_millis(after), "{text}");
        }
        for (bad, needle) in [
            ("kafka", "unknown sink `kafka`"),
            ("file", "`path` is required"),
            ("file,path=/x,keep=many", "keep `many`"),
            ("file,path=/x,max_size=12TB", "unit must be"),
            ("stdout,path=/x", "`path` is not an option of stdout"),
            ("webhook,url=ftp://x", "must start with http"),
            ("otlp,url=http://x", "`url` is not an option of otlp"),
            ("otlp", "`endpoint` is required"),
            ("otlp,endpoint=http://c:4318,compression=zstd", "unknown compression"),
            ("otlp,endpoint=http://c,spill_after=2", "unit must be ms or s"),
            ("otlp,endpoint=http://c,spill_after=5m", "unit must be ms or s"),
            ("otlp,endpoint=http://c,spill_after=61s", "above 60s"),
            ("stdout,spill_after=1s", "`spill_after` is not an option of stdout"),
            ("stdout,format=xml", "unknown format"),
            ("stdout,filter=loud", "unknown filter term `loud`"),
            ("stdout,name=a b", "name `a b`"),
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains(needle), "{bad}: {err}");
            assert!(err.contains(bad), "names the value: {err}");
        }
    }

    #[test]
    fn a_decision_log_is_gzipped_json_with_checked_masks() {
        let log = parse("decision_log,url=http://logs/logs,mask=/input/process/args|/result/actor")
            .unwrap();
        let SinkKind::DecisionLog(remote) = &log.kind else { panic!("{log:?}") };
        assert!(remote.gzip);
        assert_eq!(log.format, Format::DecisionLog);
        assert_eq!(log.masks, ["/input/process/args", "/result/actor"]);
        for (spec, needle) in [
            ("decision_log,url=http://l,mask=/labels/id", "mask `/labels/id`"),
            ("decision_log,url=http://l,format=ocsf", "`format` is not an option"),
            ("webhook,url=http://l,mask=/input/x", "`mask` is not an option"),
        ] {
            let err = parse(spec).unwrap_err().to_string();
            assert!(err.contains(needle), "{spec}: {err}");
        }
    }

    #[test]
    fn unnamed_sinks_of_one_kind_get_distinct_names_and_spools() {
        let mut specs =
            vec![parse("webhook,url=http://a").unwrap(), parse("webhook,url=http://b").unwrap()];
        name_uniquely(&mut specs).unwrap();
        assert_eq!(specs[1].name, "webhook-2");
        let SinkKind::Webhook(w) = &specs[1].kind else { panic!() };
        assert!(w.spool_dir.ends_with("webhook-2"));
        let mut clash = vec![parse("stdout,name=x").unwrap(), parse("stdout,name=x").unwrap()];
        assert!(name_uniquely(&mut clash).is_err());
    }
}
