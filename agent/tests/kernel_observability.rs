//! Metrics, liveness and readiness, scraped over real HTTP from the running
//! agent and parsed with a Prometheus text-format parser (`prometheus-parse`):
//! counters must move with real events.

mod support;

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use prometheus_parse::{Scrape, Value};
use support::{
    Agent, WAIT,
    bundle::TempBundle,
    scrape::{free_port, get, scrape, value},
};

#[test]
fn metrics_move_with_real_events_and_readiness_follows_enforcement() {
    let _ = Command::new(env!("CARGO_BIN_EXE_palisade")).arg("unload").output();
    let bundle = TempBundle::new("observability");
    bundle.write(support::bundle::CONFIG_FILE, r#"{"mode": "audit", "rule_modes": {}}"#);
    let dir = std::env::temp_dir().join(format!("palisade-observe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let nc = dir.join("nc");
    std::fs::copy(std::fs::canonicalize("/usr/bin/true").unwrap(), &nc).unwrap();
    // Another netcat, which an exception covers.
    let excepted = dir.join("excepted/nc");
    std::fs::create_dir_all(excepted.parent().unwrap()).unwrap();
    std::fs::copy(std::fs::canonicalize("/usr/bin/true").unwrap(), &excepted).unwrap();
    bundle.write(
        support::bundle::EXCEPTIONS_FILE,
        &serde_json::json!([{
            "id": "EX-OBS", "rules": ["T-001"], "owner": "team-a@example.com",
            "reason": "the test's own netcat", "expires": support::rfc3339_in(3600),
            "scope": {"binary": excepted.to_str().unwrap()},
        }])
        .to_string(),
    );

    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut agent =
        Agent::start_with(&["--policy", bundle.path().to_str().unwrap(), "--metrics-addr", &addr]);
    assert_eq!(get(port, "/healthz"), (200, "ok\n".to_string()));
    let (status, body) = get(port, "/readyz");
    assert_eq!(status, 200, "{body}");
    assert_eq!(get(port, "/nowhere").0, 404);

    let before = scrape(port);
    // Conventions: every family is palisade_*, every counter ends in _total.
    for s in &before.samples {
        assert!(s.metric.starts_with("palisade_"), "{}", s.metric);
        if matches!(s.value, Value::Counter(_)) {
            assert!(s.metric.ends_with("_total"), "{}", s.metric);
        }
    }
    let execs = |s: &Scrape| value(s, "palisade_records_total", &[("kind", "process_exec")]);
    let execs_before = execs(&before).expect("records by kind");
    let digest = before
        .samples
        .iter()
        .find(|s| s.metric == "palisade_policy_bundle_info")
        .and_then(|s| s.labels.get("digest").map(str::to_string))
        .expect("the bundle digest");
    assert_eq!(digest.len(), 64, "{digest}");
    assert_eq!(value(&before, "palisade_enforcement_in_force", &[]), Some(1.0));

    const RUNS: u32 = 3;
    for _ in 0..RUNS {
        assert!(Command::new(&nc).status().unwrap().success());
    }
    for _ in 0..2 {
        assert!(Command::new(&excepted).status().unwrap().success());
    }
    let nc_path = nc.to_str().unwrap().to_string();
    for _ in 0..RUNS {
        agent.wait_for("an nc exec", |e| {
            e["kind"] == "process_exec" && e["process"]["binary"] == nc_path.as_str()
        });
    }
    let deadline = Instant::now() + WAIT;
    let after = loop {
        let s = scrape(port);
        let matched =
            value(&s, "palisade_decisions_total", &[("rule", "T-001"), ("action", "alert")]);
        if matched.unwrap_or(0.0) >= f64::from(RUNS) {
            break s;
        }
        assert!(Instant::now() < deadline, "decisions did not move: {matched:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(execs(&after).unwrap() >= execs_before + f64::from(RUNS));
    // Per rule and per exception: three blocks that audit mode let through,
    // two uses of the exception under its id, and its time left.
    let outcome = |s: &Scrape, outcome: &str| {
        let labels =
            [("rule", "T-001"), ("action", "block"), ("mode", "audit"), ("outcome", outcome)];
        value(s, "palisade_rule_outcomes_total", &labels)
    };
    let deadline = Instant::now() + WAIT;
    let after = loop {
        let s = scrape(port);
        if outcome(&s, "suppressed") == Some(2.0) {
            break s;
        }
        assert!(Instant::now() < deadline, "suppressed matches: {:?}", outcome(&s, "suppressed"));
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(outcome(&after, "would_block"), Some(f64::from(RUNS)));
    let uses = [("exception", "EX-OBS"), ("rule", "T-001")];
    assert_eq!(value(&after, "palisade_exception_uses_total", &uses), Some(2.0));
    let left = value(
        &after,
        "palisade_exception_expiry_seconds",
        &[("exception", "EX-OBS"), ("owner", "team-a@example.com")],
    )
    .expect("the exception's expiry gauge");
    assert!((3000.0..=3600.0).contains(&left), "{left} s left");
    let evaluations = value(&after, "palisade_policy_evaluation_seconds", &[]).unwrap_or(0.0);
    assert!(evaluations >= f64::from(RUNS), "evaluation histogram count {evaluations}");

    // Take away what makes enforcement outlive the agent: not ready.
    let pin = Path::new("/sys/fs/bpf/palisade/links/palisade_exec");
    std::fs::remove_file(pin).expect("remove the exec link's pin");
    let (status, body) = get(port, "/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("enforcement is not in force"), "{body}");
    assert_eq!(value(&scrape(port), "palisade_enforcement_in_force", &[]), Some(0.0));

    drop(agent);
    // Unloading writes its record before it acts.
    let out = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["unload", "--by", "sre@example.com", "--reason", "test teardown"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let record: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(record["kind"], "unload", "{stdout}");
    support::assert_schema(&record);
    assert_eq!(record["by"], "sre@example.com");
    assert_eq!(record["reason"], "test teardown");
    assert!(stdout.contains("enforcement is off"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
