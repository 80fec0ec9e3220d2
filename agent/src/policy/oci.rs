//! Bundles in an OCI registry, as OPA pulls them: the manifest of
//! `oci://REGISTRY/REPOSITORY[:TAG|@DIGEST]` names one layer of media type
//! `application/vnd.oci.image.layer.v1.tar+gzip`, the bundle tarball. A
//! poll fetches the manifest only; the layer is downloaded when the
//! manifest's digest changed, and checked against its digest.
//!
//! The distribution API needs two GETs here, which the agent's HTTP client
//! makes; the OCI client crates are async clients on another HTTP stack.
//! Registries that want a token get the anonymous one their `Bearer`
//! challenge offers (with `--policy-headers-file`'s headers, e.g. Basic
//! credentials, sent to the token endpoint and the registry alike).

use std::{path::Path, time::Duration};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{signing::hex, tarball::COMPRESSED_MAX_BYTES};

/// OPA's media type for a bundle layer.
pub const BUNDLE_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";
/// Largest manifest read.
const MANIFEST_MAX_BYTES: u64 = 1 << 20;

/// A parsed `oci://` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `https://host[:port]`, or `http://` for a loopback registry (as
    /// container runtimes treat `localhost` registries).
    pub base: String,
    pub repository: String,
    /// A tag or a `sha256:` digest.
    pub reference: String,
}

impl Reference {
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("`{text}` is not an OCI reference ({why})");
        let rest = text.strip_prefix("oci://").ok_or_else(|| bad("it must start with oci://"))?;
        let (host, path) = rest.split_once('/').ok_or_else(|| bad("no repository"))?;
        if host.is_empty() {
            return Err(bad("no registry"));
        }
        let (repository, reference) = match path.split_once('@') {
            Some((repo, digest)) => (repo, digest),
            None => match path.rsplit_once(':') {
                Some((repo, tag)) if !tag.contains('/') => (repo, tag),
                _ => (path, "latest"),
            },
        };
        let valid_repo = !repository.is_empty()
            && repository.split('/').all(|c| {
                !c.is_empty()
                    && c.chars().all(|ch| {
                        ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch)
                    })
            });
        if !valid_repo {
            return Err(bad("a repository is lowercase path components"));
        }
        if reference.is_empty() || reference.contains('/') {
            return Err(bad("bad tag or digest"));
        }
        let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
        let loopback = matches!(name, "localhost" | "127.0.0.1" | "[::1]");
        let scheme = if loopback { "http" } else { "https" };
        Ok(Self {
            base: format!("{scheme}://{host}"),
            repository: repository.to_string(),
            reference: reference.to_string(),
        })
    }
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: u64,
}

/// What one pull found.
pub enum Pulled {
    /// The manifest's digest is `known`: nothing downloaded.
    Unchanged,
    /// The bundle tarball, and the digest of the manifest that named it.
    Bundle { tarball: Vec<u8>, manifest_digest: String },
}

/// A failure, with how long the registry asked to be left alone.
pub type PullError = (String, Option<Duration>);

/// Pulls the bundle `reference` names unless its manifest's digest is
/// `known`.
pub fn pull(
    client: &ureq::Agent,
    reference: &Reference,
    known: Option<&str>,
    headers_file: Option<&Path>,
) -> Result<Pulled, PullError> {
    let manifest_url =
        format!("{}/v2/{}/manifests/{}", reference.base, reference.repository, reference.reference);
    let (body, _) = get(client, &manifest_url, MANIFEST_TYPES, MANIFEST_MAX_BYTES, headers_file)?;
    let manifest_digest = format!("sha256:{}", hex(&Sha256::digest(&body)));
    if known == Some(manifest_digest.as_str()) {
        return Ok(Pulled::Unchanged);
    }
    let manifest: Manifest = serde_json::from_slice(&body)
        .map_err(|e| (format!("the manifest is not an OCI image manifest: {e}"), None))?;
    let mut bundles = manifest.layers.iter().filter(|l| l.media_type == BUNDLE_LAYER);
    let layer = match (bundles.next(), bundles.next()) {
        (Some(layer), None) => layer,
        (None, _) => return Err((format!("the manifest has no {BUNDLE_LAYER} layer"), None)),
        (Some(_), Some(_)) => {
            return Err((format!("the manifest has more than one {BUNDLE_LAYER} layer"), None));
        }
    };
    if layer.size > COMPRESSED_MAX_BYTES {
        return Err((
            format!(
                "the bundle layer is {} bytes, over the {COMPRESSED_MAX_BYTES}-byte limit",
                layer.size
            ),
            None,
        ));
    }
    let blob_url = format!("{}/v2/{}/blobs/{}", reference.base, reference.repository, layer.digest);
    let (tarball, _) = get(client, &blob_url, "*/*", COMPRESSED_MAX_BYTES, headers_file)?;
    let got = format!("sha256:{}", hex(&Sha256::digest(&tarball)));
    if got != layer.digest {
        return Err((
            format!("the bundle layer's digest is {got}, the manifest says {}", layer.digest),
            None,
        ));
    }
    Ok(Pulled::Bundle { tarball, manifest_digest })
}

/// GETs `url` (at most `limit` bytes), answering a `Bearer` challenge once
/// with the token it offers.
fn get(
    client: &ureq::Agent,
    url: &str,
    accept: &str,
    limit: u64,
    headers_file: Option<&Path>,
) -> Result<(Vec<u8>, u16), PullError> {
    let mut token: Option<String> = None;
    for _ in 0..2 {
        let mut request = client.get(url).header("Accept", accept);
        request = crate::http_client::with_headers_file(request, headers_file)
            .map_err(|reason| (reason, None))?;
        if let Some(token) = &token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let mut response = request.call().map_err(|e| (e.to_string(), None))?;
        let status = response.status().as_u16();
        if status == 401 && token.is_none() {
            let challenge = response
                .headers()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .ok_or_else(|| {
                    ("the registry answered 401 without a challenge".to_string(), None)
                })?;
            token = Some(anonymous_token(client, &challenge, headers_file)?);
            continue;
        }
        if status != 200 {
            let retry_after = crate::http_client::retry_after(&response);
            return Err((format!("the registry answered {status} for {url}"), retry_after));
        }
        let body = response.body_mut().with_config().limit(limit).read_to_vec().map_err(|e| {
            let reason = match e {
                ureq::Error::BodyExceedsLimit(_) => format!("{url} is over {limit} bytes"),
                e => format!("reading {url}: {e}"),
            };
            (reason, None)
        })?;
        return Ok((body, status));
    }
    Err(("the registry refused the token it offered".into(), None))
}

/// The token a `Bearer realm="...",service="...",scope="..."` challenge
/// offers.
fn anonymous_token(
    client: &ureq::Agent,
    challenge: &str,
    headers_file: Option<&Path>,
) -> Result<String, PullError> {
    let params = challenge
        .strip_prefix("Bearer ")
        .ok_or_else(|| (format!("unsupported registry challenge `{challenge}`"), None))?;
    let mut realm = None;
    let mut query = Vec::new();
    for part in params.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else { continue };
        let value = value.trim_matches('"');
        match key {
            "realm" => realm = Some(value.to_string()),
            "service" | "scope" => query.push((key.to_string(), value.to_string())),
            _ => {}
        }
    }
    let realm = realm.ok_or_else(|| (format!("no realm in the challenge `{challenge}`"), None))?;
    let mut request = client.get(&realm);
    for (key, value) in &query {
        request = request.query(key, value);
    }
    let request = crate::http_client::with_headers_file(request, headers_file)
        .map_err(|reason| (reason, None))?;
    let mut response = request.call().map_err(|e| (e.to_string(), None))?;
    if response.status().as_u16() != 200 {
        return Err((format!("the token endpoint {realm} answered {}", response.status()), None));
    }
    #[derive(Deserialize)]
    struct Token {
        token: Option<String>,
        access_token: Option<String>,
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_vec()
        .map_err(|e| (format!("reading the token: {e}"), None))?;
    let token: Token = serde_json::from_slice(&body)
        .map_err(|e| (format!("the token endpoint's answer is not a token: {e}"), None))?;
    token
        .token
        .or(token.access_token)
        .ok_or_else(|| ("the token endpoint gave no token".into(), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_like_container_tools_read_them() {
        let r = Reference::parse("oci://127.0.0.1:5000/palisade/bundle:r1").unwrap();
        assert_eq!(r.base, "http://127.0.0.1:5000");
        assert_eq!((r.repository.as_str(), r.reference.as_str()), ("palisade/bundle", "r1"));
        let r = Reference::parse("oci://ghcr.io/acme/policy").unwrap();
        assert_eq!((r.base.as_str(), r.reference.as_str()), ("https://ghcr.io", "latest"));
        let r = Reference::parse("oci://registry:443/p@sha256:abc").unwrap();
        assert_eq!((r.base.as_str(), r.reference.as_str()), ("https://registry:443", "sha256:abc"));
        for bad in ["oci://", "oci://host", "oci://host/", "oci://host/UPPER:tag", "https://h/r"] {
            let err = Reference::parse(bad).unwrap_err();
            assert!(err.starts_with(&format!("`{bad}` is not an OCI reference")), "{err}");
        }
    }
}
