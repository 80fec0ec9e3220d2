//! TLS settings shared by the agent's HTTP clients (the export webhook and
//! the Kubernetes API client).

use std::path::Path;

use ureq::tls::{PemItem, RootCerts, TlsConfig};

/// Trusts exactly the CA certificates in the PEM file at `path`.
pub fn trusting(path: &Path) -> Result<TlsConfig, String> {
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
