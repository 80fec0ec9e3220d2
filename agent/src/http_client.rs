//! What the agent's HTTP clients (the export webhook and the Kubernetes API
//! client) share: status codes handed back rather than turned into errors,
//! the user agent, the CA to trust, and a bearer token read from a file.

use std::path::Path;

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
