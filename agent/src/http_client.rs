//! What the agent's HTTP clients (the export webhook, the OTLP exporter and
//! the Kubernetes API client) share: status codes handed back rather than
//! turned into errors, the user agent, the CA to trust, a bearer token or
//! headers read from a file, a receiver's `Retry-After`, and its address
//! resolved once every few seconds rather than for every request.

use std::{
    path::Path,
    sync::Mutex,
    time::{Duration, Instant},
};

use ureq::{
    RequestBuilder,
    config::{Config, ConfigBuilder},
    http::Uri,
    tls::{PemItem, RootCerts, TlsConfig},
    typestate::AgentScope,
    unversioned::{
        resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver},
        transport::{DefaultConnector, NextTimeout},
    },
};

/// How long a receiver's resolved addresses are reused.
const RESOLVED_FOR: Duration = Duration::from_secs(5);

/// A client configuration trusting the CA certificates in `ca_file` (the
/// Mozilla roots built in when none is given); callers add their timeouts.
pub fn config(ca_file: Option<&Path>) -> Result<ConfigBuilder<AgentScope>, String> {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(concat!("palisade/", env!("CARGO_PKG_VERSION")));
    Ok(match ca_file {
        Some(ca) => config.tls_config(trusting(ca)?),
        None => config,
    })
}

/// An agent for one remote receiver: `ca_file` as in [`config`], every
/// request bounded by `timeout`.
pub fn agent(ca_file: Option<&Path>, timeout: Duration) -> Result<ureq::Agent, String> {
    let config = config(ca_file)?.timeout_global(Some(timeout)).build();
    Ok(ureq::Agent::with_parts(
        config,
        DefaultConnector::new(),
        RecentResolver::<DefaultResolver>::default(),
    ))
}

/// Reuses the last lookup of a host for [`RESOLVED_FOR`]. ureq resolves
/// before every request, even one that reuses a pooled connection, and
/// under a timeout on a thread it spawns for the lookup: for an exporter
/// sending a batch every fraction of a second that was a thread and a DNS
/// query per batch (8 % of the OTLP sender's CPU under an exec loop).
#[derive(Default)]
struct RecentResolver<R = DefaultResolver> {
    lookup: R,
    /// `scheme://authority`, its addresses, and when they were looked up.
    last: Mutex<Option<(String, ResolvedSocketAddrs, Instant)>>,
}

impl<R> std::fmt::Debug for RecentResolver<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecentResolver")
    }
}

impl<R: Resolver> Resolver for RecentResolver<R> {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let key = format!(
            "{}://{}",
            uri.scheme_str().unwrap_or(""),
            uri.authority().map_or("", |a| a.as_str())
        );
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((host, addrs, at)) = last.as_ref() {
            if *host == key && at.elapsed() < RESOLVED_FOR {
                return Ok(addrs.clone());
            }
        }
        // Not held across the lookup: a slow DNS server delays only this.
        drop(last);
        let addrs = self.lookup.resolve(uri, config, timeout)?;
        last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        *last = Some((key, addrs.clone(), Instant::now()));
        Ok(addrs)
    }
}

/// Adds `Authorization: Bearer <token>`, the token read from `token_file`
/// for every request so that a rotated token (a mounted Secret, a projected
/// service-account token) is picked up.
pub fn with_bearer<B>(
    request: RequestBuilder<B>,
    token_file: Option<&Path>,
) -> Result<RequestBuilder<B>, String> {
    let Some(path) = token_file else { return Ok(request) };
    let token =
        std::fs::read_to_string(path).map_err(|e| format!("token file {}: {e}", path.display()))?;
    Ok(request.header("Authorization", format!("Bearer {}", token.trim())))
}

/// Adds the headers in `headers_file`, one `Name: value` per line (blank
/// lines and lines starting with `#` skipped), read for every request so
/// that a rotated key is picked up.
pub fn with_headers_file<B>(
    mut request: RequestBuilder<B>,
    headers_file: Option<&Path>,
) -> Result<RequestBuilder<B>, String> {
    let Some(path) = headers_file else { return Ok(request) };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("headers file {}: {e}", path.display()))?;
    for (name, value) in parse_headers(&text).map_err(|e| format!("{}:{e}", path.display()))? {
        request = request.header(name, value);
    }
    Ok(request)
}

/// `Name: value` lines; an error names the line: `3: ...`.
pub fn parse_headers(text: &str) -> Result<Vec<(&str, &str)>, String> {
    let mut headers = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| format!("{}: {why}", n + 1);
        let (name, value) = line.split_once(':').ok_or_else(|| bad("not `Name: value`"))?;
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            return Err(bad(&format!("`{name}` is not a header name")));
        }
        headers.push((name, value.trim()));
    }
    Ok(headers)
}

/// How long the receiver asked to be left alone: `Retry-After` in seconds
/// (an HTTP date is not read; the caller's backoff applies then).
pub fn retry_after<B>(response: &ureq::http::Response<B>) -> Option<Duration> {
    let value = response.headers().get("retry-after")?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Trusts exactly the CA certificates in the PEM file at `path`.
fn trusting(path: &Path) -> Result<TlsConfig, String> {
    let pem = std::fs::read(path).map_err(|e| format!("CA file {}: {e}", path.display()))?;
    let certs = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(Ok(c)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("CA file {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("CA file {}: no certificate in it", path.display()));
    }
    Ok(TlsConfig::builder().root_certs(RootCerts::new_with_certs(&certs)).build())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    use super::*;

    /// Counts the lookups it passes on.
    #[derive(Debug, Default)]
    struct Counting(AtomicUsize, DefaultResolver);

    impl Resolver for Counting {
        fn resolve(
            &self,
            uri: &Uri,
            config: &Config,
            timeout: NextTimeout,
        ) -> Result<ResolvedSocketAddrs, ureq::Error> {
            self.0.fetch_add(1, Relaxed);
            self.1.resolve(uri, config, timeout)
        }
    }

    #[test]
    fn a_receiver_is_looked_up_once_while_its_addresses_are_recent() {
        let resolver = RecentResolver::<Counting>::default();
        let config = Config::default();
        let never = NextTimeout::default();
        let one: Uri = "http://127.0.0.1:4318/v1/logs".parse().unwrap();
        let other: Uri = "http://127.0.0.2:4318/v1/logs".parse().unwrap();
        for _ in 0..3 {
            let addrs = resolver.resolve(&one, &config, never).unwrap();
            assert_eq!(addrs[0], "127.0.0.1:4318".parse().unwrap());
        }
        assert_eq!(resolver.lookup.0.load(Relaxed), 1);
        assert_eq!(
            resolver.resolve(&other, &config, never).unwrap()[0],
            "127.0.0.2:4318".parse().unwrap()
        );
        assert_eq!(resolver.lookup.0.load(Relaxed), 2, "another receiver is looked up");
        resolver.last.lock().unwrap().as_mut().unwrap().2 -= RESOLVED_FOR;
        resolver.resolve(&other, &config, never).unwrap();
        assert_eq!(resolver.lookup.0.load(Relaxed), 3, "looked up again once stale");
    }

    #[test]
    fn header_files_are_name_value_lines_and_errors_name_the_line() {
        let text = "# the collector's key\nX-Api-Key: abc:def \n\nX-Tenant:t1\n";
        assert_eq!(parse_headers(text).unwrap(), [("X-Api-Key", "abc:def"), ("X-Tenant", "t1")]);
        assert_eq!(parse_headers("a: b\nnocolon").unwrap_err(), "2: not `Name: value`");
        assert!(parse_headers("bad name: x").unwrap_err().starts_with("1: `bad name`"));
    }
}
