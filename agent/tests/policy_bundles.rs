//! OPA bundle tarballs and their signatures, through the real binary:
//! `palisade policy build` (with and without a key), `policy check` with
//! `--verification-key`, each way a signed bundle can be wrong rejected with
//! its reason, bad tarballs refused, and signatures made and checked by an
//! independent JWT implementation (PyJWT, agent/tests/support/opa_sign.py).
//! No kernel needed.

mod support;

use std::{
    io::Read,
    path::PathBuf,
    process::{Command, Output},
};

use support::bundle::TempBundle;

const PYTHON: &str = "/opt/palisade-toolchain/deploy-venv/bin/python";
const OPA_SIGN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/opa_sign.py");

fn palisade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_palisade")).args(args).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

/// A scratch directory with an RSA and an EC key pair made by
/// `cryptography` (PKCS#8 private keys, SPKI public keys).
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("palisade-bundles-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        python(&["keys", dir.to_str().unwrap()]);
        Scratch(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn python(args: &[&str]) -> Output {
    let out =
        Command::new(PYTHON).arg(OPA_SIGN).args(args).output().unwrap_or_else(|e| {
            panic!("cannot run {PYTHON} (run `cargo xtask setup` for PyJWT): {e}")
        });
    assert!(out.status.success(), "opa_sign.py {args:?}: {}", stderr(&out));
    out
}

/// `policy build` of the test bundle, signed with `key` when given.
fn build(bundle: &TempBundle, out: &str, key: Option<(&str, &str)>) {
    let dir = bundle.path().to_str().unwrap();
    let mut args = vec!["policy", "build", dir, "-o", out, "--revision", "rev-42"];
    if let Some((key, id)) = key {
        args.extend(["--signing-key", key, "--key-id", id]);
    }
    let result = palisade(&args);
    assert!(result.status.success(), "build: {}", stderr(&result));
}

/// `policy check` with a verification key: (ok, stdout, stderr).
fn check(tarball: &str, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec!["policy", "check", tarball];
    args.extend(extra);
    let out = palisade(&args);
    (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string(), stderr(&out))
}

fn assert_rejected(tarball: &str, extra: &[&str], reason: &str) {
    let (ok, _, err) = check(tarball, extra);
    assert!(!ok, "accepted: {tarball} {extra:?}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with(&format!("palisade: {tarball}")), "names the source: {err}");
    assert!(err.contains(reason), "reason `{reason}`: {err}");
}

fn unpack(path: &str) -> Vec<(String, Vec<u8>)> {
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap());
    let mut archive = tar::Archive::new(gz);
    let mut files = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_str().unwrap().trim_start_matches('/').to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        files.push((name, bytes));
    }
    files
}

/// Writes `files` as a tarball; names are written raw, so `../x` goes in
/// as it is.
fn pack(path: &str, files: &[(String, Vec<u8>)]) {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder.append(&header, bytes.as_slice()).unwrap();
    }
    let tar_bytes = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar_bytes).unwrap();
    std::fs::write(path, gz.finish().unwrap()).unwrap();
}

/// `files` with `f` applied, written to `scratch/name`.
fn altered(
    scratch: &Scratch,
    from: &str,
    name: &str,
    f: impl FnOnce(&mut Vec<(String, Vec<u8>)>),
) -> String {
    let mut files = unpack(from);
    f(&mut files);
    let path = scratch.path(name);
    pack(&path, &files);
    path
}

#[test]
fn a_built_and_signed_bundle_checks_with_its_key_and_carries_its_revision() {
    let scratch = Scratch::new("roundtrip");
    let bundle = TempBundle::new("bundles-roundtrip");
    for (alg, key) in [("rsa", "rsa.pem"), ("ec", "ec.pem")] {
        let out = scratch.path(&format!("{alg}.tar.gz"));
        build(&bundle, &out, Some((&scratch.path(key), "ci-key")));
        let names: Vec<String> = unpack(&out).into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&".manifest".into()) && names.contains(&".signatures.json".into()));
        assert!(names.contains(&"rules/nc.rego".into()), "{names:?}");
        let public = scratch.path(&format!("{alg}.pub.pem"));
        let (ok, stdout, err) =
            check(&out, &["--verification-key", &public, "--verification-key-id", "ci-key"]);
        assert!(ok, "{err}");
        assert!(stdout.contains("revision rev-42, verified"), "{stdout}");
        // The tests run from the tarball too.
        let test = palisade(&["policy", "test", &out, "--verification-key", &public]);
        assert!(test.status.success(), "{}", stderr(&test));
        // Without a key: read, said to be unverified.
        let (ok, stdout, _) = check(&out, &[]);
        assert!(ok && stdout.contains("signed, not verified"), "{stdout}");
    }
    // Decisions carry the revision.
    let out = scratch.path("rsa.tar.gz");
    let event = br#"{"kind":"process_exec","time":"2026-01-01T00:00:00Z","process":{"binary":"/usr/bin/nc"}}"#;
    let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["policy", "eval", &out])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), event).unwrap();
    let eval = child.wait_with_output().unwrap();
    let decision: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(decision["matched"][0]["rule"], "T-001", "{decision}");
}

#[test]
fn every_way_a_signed_bundle_can_be_wrong_is_rejected_with_its_reason() {
    let scratch = Scratch::new("tamper");
    let bundle = TempBundle::new("bundles-tamper");
    let signed = scratch.path("signed.tar.gz");
    build(&bundle, &signed, Some((&scratch.path("rsa.pem"), "ci-key")));
    let key = scratch.path("rsa.pub.pem");
    let with_key = ["--verification-key", key.as_str()];

    let unsigned = scratch.path("unsigned.tar.gz");
    build(&bundle, &unsigned, None);
    assert_rejected(&unsigned, &with_key, "signature: unsigned");

    let tampered = altered(&scratch, &signed, "tampered.tar.gz", |files| {
        let nc = files.iter_mut().find(|(n, _)| n == "rules/nc.rego").unwrap();
        nc.1 = String::from_utf8(nc.1.clone()).unwrap().replace("/nc", "/ncat").into_bytes();
    });
    assert_rejected(&tampered, &with_key, "`rules/nc.rego` does not match its signed hash");

    let added = altered(&scratch, &signed, "added.tar.gz", |files| {
        files.push(("rules/extra.rego".into(), b"package palisade.rules.extra".to_vec()));
    });
    assert_rejected(&added, &with_key, "`rules/extra.rego` is not listed in the signature");

    let missing = altered(&scratch, &signed, "missing.tar.gz", |files| {
        files.retain(|(n, _)| n != "rules/nc_test.rego");
    });
    assert_rejected(
        &missing,
        &with_key,
        "`rules/nc_test.rego` is listed in the signature but not in the bundle",
    );

    // Signed by another key of the same type.
    let other = scratch.path("other");
    std::fs::create_dir_all(&other).unwrap();
    python(&["keys", &other]);
    let foreign = scratch.path("foreign.tar.gz");
    build(&bundle, &foreign, Some((&format!("{other}/rsa.pem"), "ci-key")));
    assert_rejected(&foreign, &with_key, "signature: bad signature");

    // A key of another type cannot verify it.
    let ec = scratch.path("ec.pub.pem");
    assert_rejected(&signed, &["--verification-key", &ec], "which the configured key (EC)");

    let mut args = with_key.to_vec();
    args.extend(["--verification-key-id", "prod-key"]);
    assert_rejected(&signed, &args, "signed with key id `ci-key`, not the configured `prod-key`");

    let mut args = with_key.to_vec();
    args.extend(["--verification-scope", "write"]);
    assert_rejected(&signed, &args, "signed for scope ``, not the configured `write`");
}

#[test]
fn bad_tarballs_and_manifests_are_refused_with_one_line() {
    let scratch = Scratch::new("bad");
    let bundle = TempBundle::new("bundles-bad");
    let good = scratch.path("good.tar.gz");
    build(&bundle, &good, None);

    let bytes = std::fs::read(&good).unwrap();
    let truncated = scratch.path("truncated.tar.gz");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert_rejected(&truncated, &[], "truncated or corrupt");

    let escaping = altered(&scratch, &good, "escape.tar.gz", |files| {
        files.push(("../evil.rego".into(), b"package evil".to_vec()));
    });
    assert_rejected(&escaping, &[], "`../evil.rego` escapes the bundle");

    let manifest = |name: &str, text: &str| {
        let text = text.to_string();
        altered(&scratch, &good, name, move |files| {
            files.retain(|(n, _)| n != ".manifest");
            files.push((".manifest".into(), text.into_bytes()));
        })
    };
    let overlap = manifest("overlap.tar.gz", r#"{"roots": ["palisade", "palisade/rules"]}"#);
    assert_rejected(&overlap, &[], "roots `palisade` and `palisade/rules` overlap");
    let outside = manifest(
        "outside.tar.gz",
        r#"{"roots": ["palisade/rules", "palisade/lib", "palisade/main"]}"#,
    );
    let (ok, _, err) = check(&outside, &[]);
    assert!(!ok && err.contains("is outside the manifest's roots"), "{err}");
    let fitting = manifest("fitting.tar.gz", r#"{"revision": "r1", "roots": ["palisade"]}"#);
    let (ok, stdout, err) = check(&fitting, &[]);
    assert!(ok && stdout.contains("revision r1"), "{stdout}{err}");
}

#[test]
fn signatures_interoperate_with_an_independent_jwt_implementation() {
    let scratch = Scratch::new("pyjwt");
    let bundle = TempBundle::new("bundles-pyjwt");
    let unsigned = scratch.path("unsigned.tar.gz");
    build(&bundle, &unsigned, None);
    for (alg, jwt_alg) in [("rsa", "RS256"), ("ec", "ES256")] {
        // PyJWT signs, Palisade verifies.
        let signed = scratch.path(&format!("py-{alg}.tar.gz"));
        python(&["sign", &unsigned, &signed, &scratch.path(&format!("{alg}.pem")), jwt_alg, "py"]);
        let public = scratch.path(&format!("{alg}.pub.pem"));
        let (ok, stdout, err) =
            check(&signed, &["--verification-key", &public, "--verification-key-id", "py"]);
        assert!(ok && stdout.contains("verified"), "{jwt_alg} by PyJWT: {err}");

        // Palisade signs, PyJWT verifies.
        let ours = scratch.path(&format!("ours-{alg}.tar.gz"));
        build(&bundle, &ours, Some((&scratch.path(&format!("{alg}.pem")), "ci")));
        let out = python(&["verify", &ours, &public]);
        assert!(String::from_utf8_lossy(&out.stdout).contains("kid ci"));
    }
}

#[test]
fn a_directory_with_a_manifest_has_its_revision() {
    let bundle = TempBundle::new("bundles-dir-manifest");
    bundle.write(".manifest", r#"{"revision": "dir-rev"}"#);
    let (ok, stdout, err) = check(bundle.path().to_str().unwrap(), &[]);
    assert!(ok && stdout.contains("revision dir-rev, unsigned"), "{stdout}{err}");
}
