//! The same bundle gives the same decisions in Palisade and in OPA.
//!
//! OPA's real Go engine runs here as a shared library (from the PyPI wheel
//! `opa-golib-python-bindings`, fetched by `cargo xtask setup` through
//! `xtask/opa/setup.sh`) driven by `xtask/opa/opa_eval.py`, which reads a
//! bundle as OPA's bundle loader does (`opa run --bundle`, a bundle server:
//! data only from `data.json`/`data.yaml` at their directory's path, every
//! module, the manifest's roots). The baseline in `policies/` is built into
//! the tarball a fleet would pull (`palisade policy build`); both engines
//! judge the same events with that tarball, and every decision must be
//! equal. OPA also runs the bundle's own Rego tests from it.
//! Host only: the 6.1 VM has no Python (the VM runner skips this binary).

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
};

use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn run_with_stdin(cmd: &mut Command, stdin: &[u8]) -> std::process::Output {
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    out
}

fn opa_harness() -> PathBuf {
    let lib = workspace().join("target/opa/opa_bindings/libopabridge.so");
    assert!(
        lib.exists(),
        "{} is missing: run `cargo xtask setup` (it fetches OPA's engine)",
        lib.display()
    );
    workspace().join("xtask/opa/opa_eval.py")
}

/// `policies/` built as an OPA bundle tarball, once for both tests.
fn baseline_tarball() -> &'static Path {
    static TARBALL: OnceLock<PathBuf> = OnceLock::new();
    TARBALL.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("palisade-parity-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tarball = dir.join("policies.tar.gz");
        let out = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(["policy", "build", "--revision", "parity", "-o"])
            .arg(&tarball)
            .arg(workspace().join("policies"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        tarball
    })
}

fn lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn palisade_and_opa_decide_alike_on_the_corpus() {
    let policies = baseline_tarball();
    let corpus =
        std::fs::read(workspace().join("policies/samples/corpus.jsonl")).expect("the corpus");
    let ours = run_with_stdin(
        Command::new(env!("CARGO_BIN_EXE_palisade")).args(["policy", "eval"]).arg(policies),
        &corpus,
    );
    assert!(ours.status.success(), "{}", String::from_utf8_lossy(&ours.stderr));
    let theirs = run_with_stdin(
        Command::new("python3").arg(opa_harness()).arg("eval").arg(policies),
        &corpus,
    );
    assert!(theirs.status.success(), "{}", String::from_utf8_lossy(&theirs.stderr));
    let (ours, theirs) = (lines(&ours.stdout), lines(&theirs.stdout));
    assert_eq!(ours.len(), theirs.len(), "one decision per event from each");
    assert!(ours.len() >= 50, "a corpus worth the name: {} events", ours.len());

    let mut rules = std::collections::BTreeSet::new();
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "event {} decided differently:\npalisade: {a}\nopa:      {b}", i + 1);
        for m in a["matched"].as_array().into_iter().flatten() {
            rules.insert(m["rule"].as_str().unwrap().to_string());
        }
    }
    // The comparison means something only if the rules actually fire.
    assert!(rules.len() >= 15, "only {} rules matched in the corpus: {rules:?}", rules.len());
}

#[test]
fn opa_passes_the_bundles_own_tests() {
    let out = Command::new("python3")
        .arg(opa_harness())
        .arg("test")
        .arg(baseline_tarball())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
