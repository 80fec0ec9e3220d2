//! `palisade policy report` over what a real agent wrote: real processes
//! judged on the real kernel, exported to a rotating file, counted per rule
//! and per exception. Three execs a block rule denies, in audit mode, are
//! `would_block` 3 for that rule; two execs an exception spares are two uses
//! of that exception.

mod support;

use std::{
    os::unix::fs::PermissionsExt,
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;
use support::{Agent, bundle::TempBundle, is};

/// A copy of `sleep` at `dir/nc`, which the test bundle's rule T-001
/// matches.
fn fake_nc(bundle: &TempBundle, dir: &str) -> PathBuf {
    let dir = bundle.path().join(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let nc = dir.join("nc");
    std::fs::copy("/usr/bin/sleep", &nc).unwrap();
    std::fs::set_permissions(&nc, std::fs::Permissions::from_mode(0o755)).unwrap();
    nc
}

#[test]
fn would_block_and_exception_uses_of_a_real_run_are_counted() {
    let bundle = TempBundle::new("report-run");
    // Audit mode; T-001 blocks (support::bundle::NC_RULE).
    let denied = fake_nc(&bundle, "bin");
    let spared = fake_nc(&bundle, "spared");
    bundle.write(
        support::bundle::EXCEPTIONS_FILE,
        &format!(
            r#"[
  {{"id": "EX-PROBE", "rules": ["T-001"], "scope": {{"binary": "{}"}}, "owner": "sre@example.com", "reason": "health probe", "expires": "2099-01-01T00:00:00Z"}},
  {{"id": "EX-IDLE", "rules": ["T-001"], "scope": {{"binary": "/nowhere"}}, "owner": "sre@example.com", "reason": "unused", "expires": "2099-01-01T00:00:00Z"}}
]"#,
            spared.display()
        ),
    );
    let events = bundle.path().join("out/events.jsonl");
    std::fs::create_dir_all(events.parent().unwrap()).unwrap();
    let mut agent = Agent::start_with(&[
        "--policy",
        bundle.path().to_str().unwrap(),
        "--sink",
        &format!("file,path={}", events.display()),
        "--sink",
        "stdout",
    ]);
    let run = |nc: &PathBuf| {
        let mut child = Command::new(nc).arg("0.05").spawn().unwrap();
        assert!(child.wait().unwrap().success(), "audit mode stops nothing");
        child.id()
    };
    let pids: Vec<u32> =
        [&denied, &denied, &denied, &spared, &spared].into_iter().map(run).collect();
    // Every exec judged and its record out before the agent stops.
    for pid in pids {
        let e = agent.wait_for("a judged exec", is("process_exec", pid, None));
        assert!(e["decision"].is_object(), "judged: {e}");
    }
    let deadline = Instant::now() + support::WAIT;
    while agent.drain().iter().filter(|r| r["kind"] == "exception_used").count() < 2 {
        assert!(Instant::now() < deadline, "two exception_used records");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(agent); // SIGTERM: the file sink flushes.

    let out = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["policy", "report", "--json", "--policy"])
        .arg(bundle.path())
        .arg("--events")
        .arg(&events)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rule = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "T-001")
        .unwrap_or_else(|| panic!("T-001 not reported: {report:#}"));
    assert_eq!(rule["would_block"], 3, "{rule:#}");
    assert_eq!(rule["matches"], 3, "{rule:#}");
    assert_eq!((&rule["enforced"], &rule["alerts"]), (&Value::from(0), &Value::from(0)));
    assert_eq!(rule["suppressed"], 2, "{rule:#}");
    assert_eq!(rule["exceptions"], serde_json::json!([{"name": "EX-PROBE", "count": 2}]));
    assert_eq!(rule["binaries"][0]["name"], denied.to_str().unwrap());
    let probe =
        report["exceptions"].as_array().unwrap().iter().find(|e| e["id"] == "EX-PROBE").unwrap();
    assert_eq!(probe["uses"], 2, "{probe:#}");
    assert_eq!(report["exceptions_never_used"], serde_json::json!(["EX-IDLE"]));
    assert_eq!(report["bundle"]["mode"], "audit");
}
