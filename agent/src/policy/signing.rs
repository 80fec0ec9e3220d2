//! Bundle signatures as OPA specifies them: `.signatures.json` holds one
//! JWT whose payload lists every file of the bundle with its hash
//! (`files: [{name, hash, algorithm}]`), and optionally `keyid` and
//! `scope`. A bundle verifies when the JWT's signature holds for the
//! configured public key, its key id and scope are the configured ones, and
//! the listed files are exactly the bundle's files, each with its hash.
//!
//! Hashes follow OPA: the bytes of a file, except for the structured files
//! (`data.json`, `data.yaml`, `.manifest`), which are parsed and hashed in a
//! canonical JSON form (keys sorted, no whitespace), so that reformatting
//! them does not break a signature.

use std::{collections::BTreeMap, path::Path};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::PolicyError;

/// The file that carries the signature.
pub const SIGNATURES_FILE: &str = ".signatures.json";
/// The bundle's manifest.
pub const MANIFEST_FILE: &str = ".manifest";

/// One file of a bundle as stored: its path relative to the bundle root
/// and its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct RawFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// `.signatures.json`.
#[derive(Debug, Serialize, Deserialize)]
struct SignaturesFile {
    signatures: Vec<String>,
}

/// The JWT's payload.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    files: Vec<FileHash>,
    /// Deprecated by OPA in favour of the header's `kid`, still read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keyid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct FileHash {
    name: String,
    hash: String,
    algorithm: String,
}

/// The hash algorithm `policy build` writes.
pub const HASH_ALGORITHM: &str = "SHA-256";

/// A public key that bundles must be signed with, and what the signature
/// must also say.
pub struct Verification {
    key: DecodingKey,
    /// The algorithms the key's type allows (RSA or EC), so a token cannot
    /// pick another family.
    algorithms: &'static [Algorithm],
    /// The key id the token must name, when configured.
    key_id: Option<String>,
    /// The scope the payload must carry (OPA: exact match, empty when
    /// neither says one).
    scope: String,
    /// The key file, for messages.
    pub origin: String,
}

impl std::fmt::Debug for Verification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verification")
            .field("origin", &self.origin)
            .field("key_id", &self.key_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

const RSA_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];
const EC_ALGORITHMS: &[Algorithm] = &[Algorithm::ES256, Algorithm::ES384];

impl Verification {
    /// Reads a PEM public key (RSA or EC; SPKI `PUBLIC KEY`, or PKCS#1
    /// `RSA PUBLIC KEY`).
    pub fn from_pem_file(
        path: &Path,
        key_id: Option<String>,
        scope: Option<String>,
    ) -> Result<Self, PolicyError> {
        let origin = path.display().to_string();
        let err = |reason: String| PolicyError::Signature { location: origin.clone(), reason };
        let pem = std::fs::read(path).map_err(|e| err(format!("cannot read the key: {e}")))?;
        let (key, algorithms) = if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
            (key, RSA_ALGORITHMS)
        } else if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
            (key, EC_ALGORITHMS)
        } else {
            return Err(err("not a PEM RSA or EC public key".into()));
        };
        Ok(Self {
            key,
            algorithms,
            key_id: key_id.filter(|k| !k.is_empty()),
            scope: scope.unwrap_or_default(),
            origin,
        })
    }

    /// Checks `files` (every file of the bundle, `.signatures.json`
    /// included) against their signature; the reason when they fail.
    pub fn verify(&self, files: &[RawFile]) -> Result<(), String> {
        let Some(signatures) = files.iter().find(|f| f.path == SIGNATURES_FILE) else {
            return Err(format!(
                "unsigned: no {SIGNATURES_FILE}, and a verification key is configured"
            ));
        };
        let signatures: SignaturesFile = serde_json::from_slice(&signatures.bytes)
            .map_err(|e| format!("{SIGNATURES_FILE} is not valid: {e}"))?;
        let [token] = signatures.signatures.as_slice() else {
            return Err(format!(
                "{SIGNATURES_FILE} holds {} signatures; exactly one is supported",
                signatures.signatures.len()
            ));
        };
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| format!("the signature is not a JWT: {e}"))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(format!(
                "signed with {:?}, which the configured key ({}) cannot verify",
                header.alg,
                if self.algorithms == RSA_ALGORITHMS { "RSA" } else { "EC" }
            ));
        }
        self.check_key_id(header.kid.as_deref())?;
        let mut validation = Validation::new(header.alg);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let payload = jsonwebtoken::decode::<Payload>(token, &self.key, &validation)
            .map_err(|e| format!("bad signature: {e}"))?
            .claims;
        if header.kid.is_none() {
            self.check_key_id(payload.keyid.as_deref())?;
        }
        let scope = payload.scope.as_deref().unwrap_or_default();
        if scope != self.scope {
            return Err(format!("signed for scope `{scope}`, not the configured `{}`", self.scope));
        }
        check_files(&payload.files, files)
    }

    fn check_key_id(&self, kid: Option<&str>) -> Result<(), String> {
        match (&self.key_id, kid) {
            (Some(want), Some(got)) if want != got => {
                Err(format!("signed with key id `{got}`, not the configured `{want}`"))
            }
            _ => Ok(()),
        }
    }
}

/// The listed files must be exactly the bundle's, each with its hash.
fn check_files(listed: &[FileHash], files: &[RawFile]) -> Result<(), String> {
    let mut by_name = BTreeMap::new();
    for f in listed {
        let name = normalize(&f.name);
        if by_name.insert(name.to_string(), f).is_some() {
            return Err(format!("`{name}` is listed twice in the signature"));
        }
    }
    for file in files.iter().filter(|f| f.path != SIGNATURES_FILE) {
        let Some(entry) = by_name.remove(&file.path) else {
            return Err(format!("`{}` is not listed in the signature", file.path));
        };
        let hash = hash_file(&file.path, &file.bytes, &entry.algorithm)?;
        if !hash.eq_ignore_ascii_case(&entry.hash) {
            return Err(format!("`{}` does not match its signed hash", file.path));
        }
    }
    match by_name.into_keys().next() {
        Some(missing) => {
            Err(format!("`{missing}` is listed in the signature but not in the bundle"))
        }
        None => Ok(()),
    }
}

/// A path as a bundle names it: relative, without a leading `/` or `./`.
pub fn normalize(path: &str) -> &str {
    let mut p = path;
    loop {
        if let Some(rest) = p.strip_prefix("./") {
            p = rest;
        } else if let Some(rest) = p.strip_prefix('/') {
            p = rest;
        } else {
            return p;
        }
    }
}

/// Whether OPA hashes the file in its canonical JSON form.
fn is_structured(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    matches!(name, "data.json" | "data.yaml" | MANIFEST_FILE | SIGNATURES_FILE)
}

/// The hex hash of a file, as OPA computes it.
pub fn hash_file(path: &str, bytes: &[u8], algorithm: &str) -> Result<String, String> {
    let canonical;
    let input = if is_structured(path) {
        let value: serde_json::Value = if path.ends_with(".yaml") {
            let text = std::str::from_utf8(bytes).map_err(|_| format!("`{path}` is not UTF-8"))?;
            let value = regorus::Value::from_yaml_str(text)
                .map_err(|e| format!("`{path}` is not valid YAML: {e}"))?;
            serde_json::to_value(&value).map_err(|e| format!("`{path}`: {e}"))?
        } else {
            serde_json::from_slice(bytes).map_err(|e| format!("`{path}` is not valid JSON: {e}"))?
        };
        let mut out = Vec::with_capacity(bytes.len());
        canonical_json(&value, &mut out);
        canonical = out;
        canonical.as_slice()
    } else {
        bytes
    };
    let digest = match algorithm {
        "SHA-256" => sha2::Sha256::digest(input).to_vec(),
        "SHA-224" => sha2::Sha224::digest(input).to_vec(),
        "SHA-384" => sha2::Sha384::digest(input).to_vec(),
        "SHA-512" => sha2::Sha512::digest(input).to_vec(),
        "SHA-512-224" => sha2::Sha512_224::digest(input).to_vec(),
        "SHA-512-256" => sha2::Sha512_256::digest(input).to_vec(),
        other => return Err(format!("`{path}`: hash algorithm `{other}` is not accepted")),
    };
    Ok(hex(&digest))
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// OPA's canonical form: objects with their keys sorted, no whitespace,
/// strings escaped as Go's encoder does without HTML escaping.
fn canonical_json(value: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            out.push(b'{');
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                go_string(key, out);
                out.push(b':');
                canonical_json(&map[key], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        Value::String(s) => go_string(s, out),
        // Integers and plain decimals read as Go writes them; OPA keeps a
        // number's source text, which differs for exponents (`1e3`).
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

fn go_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\u{2028}' => out.extend_from_slice(b"\\u2028"),
            '\u{2029}' => out.extend_from_slice(b"\\u2029"),
            c if (c as u32) < 0x20 => {
                let b = c as u8;
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// A private key to sign bundles with.
pub struct SigningKey {
    key: EncodingKey,
    algorithm: Algorithm,
}

impl SigningKey {
    /// Reads a PEM private key: RSA (PKCS#1 or PKCS#8, RS256 unless
    /// `algorithm` says another) or EC (PKCS#8, ES256 unless ES384).
    pub fn from_pem_file(path: &Path, algorithm: Option<&str>) -> Result<Self, PolicyError> {
        let origin = path.display().to_string();
        let err = |reason: String| PolicyError::Signature { location: origin.clone(), reason };
        let pem = std::fs::read(path).map_err(|e| err(format!("cannot read the key: {e}")))?;
        let (key, default, allowed) = if let Ok(key) = EncodingKey::from_rsa_pem(&pem) {
            (key, Algorithm::RS256, RSA_ALGORITHMS)
        } else if let Ok(key) = EncodingKey::from_ec_pem(&pem) {
            (key, Algorithm::ES256, EC_ALGORITHMS)
        } else {
            return Err(err("not a PEM RSA or EC private key (EC keys: PKCS#8)".into()));
        };
        let algorithm = match algorithm {
            None => default,
            Some(name) => name
                .parse::<Algorithm>()
                .ok()
                .filter(|a| allowed.contains(a))
                .ok_or_else(|| err(format!("`{name}` is not an algorithm for this key")))?,
        };
        Ok(Self { key, algorithm })
    }

    /// The `.signatures.json` for `files` (the bundle's files, without a
    /// signature).
    pub fn sign(
        &self,
        files: &[RawFile],
        key_id: &str,
        scope: Option<&str>,
    ) -> Result<Vec<u8>, String> {
        let files = files
            .iter()
            .filter(|f| f.path != SIGNATURES_FILE)
            .map(|f| {
                Ok(FileHash {
                    name: f.path.clone(),
                    hash: hash_file(&f.path, &f.bytes, HASH_ALGORITHM)?,
                    algorithm: HASH_ALGORITHM.into(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let payload = Payload {
            files,
            keyid: Some(key_id.to_string()).filter(|k| !k.is_empty()),
            scope: scope.map(str::to_string).filter(|s| !s.is_empty()),
        };
        let mut header = Header::new(self.algorithm);
        header.kid = payload.keyid.clone();
        let token = jsonwebtoken::encode(&header, &payload, &self.key)
            .map_err(|e| format!("cannot sign: {e}"))?;
        let mut out = serde_json::to_vec_pretty(&SignaturesFile { signatures: vec![token] })
            .map_err(|e| e.to_string())?;
        out.push(b'\n');
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_files_hash_in_canonical_form() {
        let a = hash_file("x/data.json", br#"{"b": 1, "a": ["\u2028", "<&>"]}"#, "SHA-256");
        let b = hash_file("x/data.json", b"{\"a\":[\"\\u2028\",\"<&>\"],\"b\":1}", "SHA-256");
        assert_eq!(a, b);
        let mut out = Vec::new();
        canonical_json(&serde_json::json!({"b": "\u{1}\n", "a": [true, null, 2]}), &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), r#"{"a":[true,null,2],"b":"\u0001\n"}"#);
        // Other files: their bytes.
        let raw = hash_file("config.json", b"{}", "SHA-256").unwrap();
        assert_eq!(raw, hex(&sha2::Sha256::digest(b"{}")));
        assert!(hash_file("a.rego", b"", "MD5").unwrap_err().contains("not accepted"));
    }

    #[test]
    fn paths_lose_their_leading_slash_and_dot() {
        assert_eq!(normalize("/a/b.rego"), "a/b.rego");
        assert_eq!(normalize("./.manifest"), ".manifest");
    }
}
