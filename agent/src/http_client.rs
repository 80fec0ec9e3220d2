//! What the agent's HTTP clients (the export webhook, the OTLP exporter and
//! the Kubernetes API client) share: status codes handed back rather than
//! turned into errors, the user agent, the CA to trust, a bearer token or
//! headers read from a file, and a receiver's `Retry-After`.

use std::{path::Path, time::Duration};

use ureq::{
    RequestBuilder,
    config::ConfigBuilder,
    tls::{PemItem, RootCerts, TlsConfig},
    typestate::AgentScope,
};

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
    Ok(config(ca_file)?.timeout_global(Some(timeout)).build().new_agent())
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
    use super::parse_headers;

    #[test]
    fn header_files_are_name_value_lines_and_errors_name_the_line() {
        let text = "# the collector's key\nX-Api-Key: abc:def \n\nX-Tenant:t1\n";
        assert_eq!(parse_headers(text).unwrap(), [("X-Api-Key", "abc:def"), ("X-Tenant", "t1")]);
        assert_eq!(parse_headers("a: b\nnocolon").unwrap_err(), "2: not `Name: value`");
        assert!(parse_headers("bad name: x").unwrap_err().starts_with("1: `bad name`"));
    }
}
