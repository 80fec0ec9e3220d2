//! The policy inside `palisade run`, on the real kernel: real processes are
//! judged, a `kill` in enforce mode really kills, audit mode only reports,
//! exceptions are recorded, and a changed bundle is hot-reloaded (or
//! rejected, keeping the previous one), from a directory or a bundle server.

mod support;

use std::{
    os::unix::{fs::PermissionsExt, process::ExitStatusExt},
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;
use support::{Agent, bundle::TempBundle, is};

/// A copy of `sleep` named `nc`, which the test bundle's rule T-001 matches.
fn fake_nc(bundle: &TempBundle) -> PathBuf {
    let dir = bundle.path().join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let nc = dir.join("nc");
    std::fs::copy("/usr/bin/sleep", &nc).unwrap();
    std::fs::set_permissions(&nc, std::fs::Permissions::from_mode(0o755)).unwrap();
    nc
}

fn set_config(bundle: &TempBundle, mode: &str, action: &str) {
    bundle.write(
        support::bundle::CONFIG_FILE,
        &format!(r#"{{"mode": "{mode}", "rule_modes": {{}}}}"#),
    );
    bundle.write(
        "rules/nc.rego",
        &support::bundle::NC_RULE.replace("\"block\"", &format!("\"{action}\"")),
    );
}

fn start(bundle: &TempBundle) -> Agent {
    Agent::start_with(&["--policy", bundle.path().to_str().unwrap()])
}

/// Runs the fake `nc` for `seconds` and waits for it; returns its pid and
/// how it ended.
fn run_nc(nc: &std::path::Path, seconds: &str) -> (u32, std::process::ExitStatus) {
    let mut child = Command::new(nc).arg(seconds).spawn().unwrap();
    let pid = child.id();
    (pid, child.wait().unwrap())
}

#[test]
fn enforce_mode_kill_kills_the_process() {
    let bundle = TempBundle::new("run-kill");
    set_config(&bundle, "enforce", "kill");
    let nc = fake_nc(&bundle);
    let mut agent = start(&bundle);
    let started = Instant::now();
    let (pid, status) = run_nc(&nc, "30");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "killed, not exited: {status}");
    assert!(started.elapsed() < Duration::from_secs(20), "killed promptly");

    let e = agent.wait_for("judged exec", is("process_exec", pid, Some(nc.to_str().unwrap())));
    let d = &e["decision"];
    assert_eq!(d["action"], "kill", "{e}");
    assert_eq!(d["matched"][0]["rule"], "T-001");
    assert_eq!(d["enforcement"]["mechanism"], "pidfd-sigkill");
    assert_eq!(d["enforcement"]["result"], "killed");
    assert_eq!(d["bundle"], e["bundle"]);
    assert_eq!(e["bundle"].as_str().unwrap().len(), 12);
}

#[test]
fn audit_mode_reports_would_block_and_stops_nothing() {
    let bundle = TempBundle::new("run-audit");
    set_config(&bundle, "audit", "kill");
    let nc = fake_nc(&bundle);
    let mut agent = start(&bundle);
    let (pid, status) = run_nc(&nc, "0.3");
    assert!(status.success(), "audit mode lets it run");
    let e = agent.wait_for("judged exec", is("process_exec", pid, None));
    assert_eq!(e["decision"]["action"], "alert", "{e}");
    assert_eq!(e["decision"]["would_block"], true);
    assert!(e["decision"]["enforcement"].is_null(), "no enforcement claimed: {e}");
}

#[test]
fn a_block_decision_does_not_claim_a_block_it_cannot_make() {
    let bundle = TempBundle::new("run-block");
    set_config(&bundle, "enforce", "block");
    let nc = fake_nc(&bundle);
    let mut agent = start(&bundle);
    let (pid, status) = run_nc(&nc, "0.1");
    assert!(status.success());
    let e = agent.wait_for("judged exec", is("process_exec", pid, None));
    assert_eq!(e["decision"]["action"], "block");
    assert_eq!(e["decision"]["enforcement"]["mechanism"], "none", "{e}");
    assert_eq!(e["decision"]["enforcement"]["result"], "reported");
}

#[test]
fn an_exception_suppresses_the_match_and_leaves_an_audit_record() {
    let bundle = TempBundle::new("run-exception");
    set_config(&bundle, "enforce", "kill");
    let nc = fake_nc(&bundle);
    bundle.write(
        support::bundle::EXCEPTIONS_FILE,
        &format!(
            r#"[
  {{"id": "EX-PROBE", "rules": ["T-001"], "scope": {{"binary": "{}"}}, "owner": "sre@example.com", "reason": "health probe", "expires": "2099-01-01T00:00:00Z"}},
  {{"id": "EX-OLD", "rules": ["T-001"], "scope": {{"binary": "/nowhere"}}, "owner": "sre@example.com", "reason": "old", "expires": "2020-01-01T00:00:00Z"}}
]"#,
            nc.display()
        ),
    );
    let mut agent = start(&bundle);
    let line = agent.wait_for_log("exception expired");
    assert!(line.contains("EX-OLD"), "{line}");
    let (pid, status) = run_nc(&nc, "0.2");
    assert!(status.success(), "the exception spares it");
    let e = agent.wait_for("judged exec", is("process_exec", pid, None));
    assert_eq!(e["decision"]["action"], "allow", "{e}");
    assert_eq!(e["decision"]["suppressed"][0]["exception"], "EX-PROBE");
    let id = e["id"].as_str().unwrap().to_string();
    let audit = agent.wait_for("exception record", |r: &Value| {
        r["kind"] == "exception_used" && r["event_id"] == id
    });
    assert_eq!(audit["exception"]["owner"], "sre@example.com");
    assert_eq!(audit["process"]["pid"], pid);
}

#[test]
fn a_changed_bundle_is_reloaded_and_a_broken_one_rejected() {
    let bundle = TempBundle::new("run-reload");
    set_config(&bundle, "audit", "kill");
    let nc = fake_nc(&bundle);
    let mut agent = start(&bundle);
    let run = |agent: &mut Agent, seconds: &str| {
        let (pid, status) = run_nc(&nc, seconds);
        (agent.wait_for("judged exec", is("process_exec", pid, None)), status)
    };
    let (first, _) = run(&mut agent, "0.1");
    let first_digest = first["bundle"].as_str().unwrap().to_string();

    // A broken module: rejected with its location; the old bundle stays.
    bundle.write("rules/broken.rego", "package palisade.rules.broken\n\nhits contains x if {{\n");
    let line = agent.wait_for_log("policy bundle rejected");
    assert!(line.contains("rules/broken.rego"), "{line}");
    let (second, status) = run(&mut agent, "0.1");
    assert_eq!(second["bundle"], first_digest.as_str(), "the previous bundle still judges");
    assert!(status.success());

    // Fixed and switched to enforce: swapped in, and it now kills.
    std::fs::remove_file(bundle.path().join("rules/broken.rego")).unwrap();
    set_config(&bundle, "enforce", "kill");
    // Swapped in on the processing thread, not merely validated: an exec
    // read between the two is still judged by the bundle before.
    agent.wait_for_log("policy bundle swapped in");
    let (third, status) = run(&mut agent, "30");
    assert_ne!(third["bundle"], first_digest.as_str());
    assert_eq!(third["decision"]["action"], "kill", "{third}");
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    // Both activations are exported records, the swap naming both bundles
    // and the modes: a bundle edit never changes enforcement silently.
    let start = agent.wait_for("the first bundle's record", |e| {
        e["kind"] == "policy_change" && e["from"].is_null()
    });
    assert_eq!(start["to"]["bundle"], first_digest.as_str(), "{start}");
    let swap = agent.wait_for("the swap's record", |e| {
        e["kind"] == "policy_change" && e["from"]["bundle"] == first_digest.as_str()
    });
    assert_eq!(swap["to"]["bundle"], third["bundle"], "{swap}");
    assert_eq!(
        (swap["from"]["mode"].as_str(), swap["to"]["mode"].as_str()),
        (Some("audit"), Some("enforce"))
    );
    support::assert_schema(&swap);
}

/// `palisade policy build` of `bundle` with `revision`: the tarball's bytes.
fn tarball(bundle: &TempBundle, revision: &str) -> Vec<u8> {
    let out = bundle.path().with_extension(format!("{revision}.tar.gz"));
    let built = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["policy", "build"])
        .arg(bundle.path())
        .arg("-o")
        .arg(&out)
        .args(["--revision", revision])
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    std::fs::read(&out).unwrap()
}

/// A bundle server (OPA's bundle service API, over real HTTP): polled with
/// the live bundle's ETag so an unchanged bundle is a 304, a new revision
/// goes live, an outage keeps the bundle in force, and an agent restarted
/// during the outage enforces the last revision at once from its cache.
#[test]
fn a_bundle_server_is_polled_with_etags_and_its_last_bundle_survives_a_restart() {
    let bundle = TempBundle::new("run-server");
    let nc = fake_nc(&bundle);
    let server = support::bundle_server::BundleServer::start();
    set_config(&bundle, "audit", "kill");
    server.publish(tarball(&bundle, "r1"));
    let cache = bundle.path().with_extension("cache");
    let args = [
        "--policy",
        &server.url,
        "--policy-poll-seconds",
        "1",
        "--policy-cache-dir",
        cache.to_str().unwrap(),
    ];
    let mut agent = Agent::start_with(&args);
    let (pid, status) = run_nc(&nc, "0.1");
    let first = agent.wait_for("judged exec under r1", is("process_exec", pid, None));
    assert_eq!(first["decision"]["revision"], "r1", "{first}");
    assert!(status.success(), "audit mode");

    // Unchanged: each poll sends the live ETag and gets a 304.
    let r1_etag = server.etag();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server
        .requests()
        .iter()
        .any(|(tag, status)| tag.as_ref() == Some(&r1_etag) && *status == 304)
    {
        assert!(Instant::now() < deadline, "no conditional poll: {:?}", server.requests());
        std::thread::sleep(Duration::from_millis(100));
    }

    // A new revision in enforce mode goes live: the kernel-backed kill
    // follows the server, and it is persisted.
    set_config(&bundle, "enforce", "kill");
    server.publish(tarball(&bundle, "r2"));
    // Swapped in on the processing thread, not merely validated: an exec
    // read between the two is still judged by the bundle before.
    agent.wait_for_log("policy bundle swapped in");
    let (pid, status) = run_nc(&nc, "30");
    let second = agent.wait_for("judged exec under r2", is("process_exec", pid, None));
    assert_eq!(second["decision"]["revision"], "r2", "{second}");
    assert_eq!(status.signal(), Some(libc::SIGKILL));

    // The server fails: logged once, counted, and r2 stays in force.
    server.fail_with(Some(503));
    let line = agent.wait_for_log("the bundle server failed");
    assert!(line.contains("the server answered 503"), "{line}");
    let (_, status) = run_nc(&nc, "30");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "r2 holds through the outage");
    drop(agent);

    // Restarted during the outage: the persisted r2, at once.
    let mut restarted = Agent::start_with(&args);
    let line = restarted.wait_for_log("enforcing the bundle persisted by the last run");
    assert!(line.contains("r2"), "{line}");
    let (pid, status) = run_nc(&nc, "30");
    let third = restarted.wait_for("judged exec after the restart", is("process_exec", pid, None));
    assert_eq!(third["decision"]["revision"], "r2", "{third}");
    assert_eq!(status.signal(), Some(libc::SIGKILL));

    // Back up, and SIGHUP (rather than wait out the backoff): the
    // restarted agent asks with the persisted ETag and gets a 304.
    let before = server.requests().len();
    server.fail_with(None);
    // SAFETY: kill(2) on our child's pid.
    assert_eq!(unsafe { libc::kill(restarted.pid() as i32, libc::SIGHUP) }, 0);
    let r2_etag = server.etag();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.requests()[before..]
        .iter()
        .any(|(tag, s)| tag.as_ref() == Some(&r2_etag) && *s == 304)
    {
        assert!(
            Instant::now() < deadline,
            "no conditional poll after the outage: {:?}",
            server.requests()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An OCI registry (a real one, the bundles pushed by ORAS, an independent
/// client): the agent pulls the bundle layer a tag names, follows the tag
/// to a new manifest, and checks the layer against its digest.
#[test]
fn a_bundle_in_an_oci_registry_is_pulled_and_followed_by_tag() {
    let bundle = TempBundle::new("run-oci");
    let nc = fake_nc(&bundle);
    let registry = support::registry::Registry::start(&bundle.path().with_extension("registry"));
    let push = |revision: &str| {
        let tarball = bundle.path().with_extension(format!("{revision}.tar.gz"));
        std::fs::write(&tarball, self::tarball(&bundle, revision)).unwrap();
        registry.push(&tarball, "palisade/bundle", "stable");
    };
    set_config(&bundle, "audit", "kill");
    push("r1");
    let reference = format!("oci://{}/palisade/bundle:stable", registry.host);
    let mut agent = Agent::start_with(&["--policy", &reference, "--policy-poll-seconds", "1"]);
    let (pid, status) = run_nc(&nc, "0.1");
    let first = agent.wait_for("judged exec under r1", is("process_exec", pid, None));
    assert_eq!(first["decision"]["revision"], "r1", "{first}");
    assert!(status.success());

    set_config(&bundle, "enforce", "kill");
    push("r2");
    // Swapped in on the processing thread, not merely validated: an exec
    // read between the two is still judged by the bundle before.
    agent.wait_for_log("policy bundle swapped in");
    let (pid, status) = run_nc(&nc, "30");
    let second = agent.wait_for("judged exec under r2", is("process_exec", pid, None));
    assert_eq!(second["decision"]["revision"], "r2", "{second}");
    assert_eq!(status.signal(), Some(libc::SIGKILL));
}

/// Execs that trigger a rule are judged on the policy workers, the others
/// on the reading thread; the records still leave in the order the
/// processes ran, each with its own decision.
#[test]
fn events_leave_in_order_through_the_policy_workers() {
    let mut agent = Agent::start_with(&["--policy-workers", "2"]);
    let mut pids = Vec::new();
    for i in 0..24 {
        // The baseline's PAL-002 hits a shell script naming /dev/tcp/ (the
        // embedded bundle is in audit mode: reported, not stopped); `true`
        // triggers no rule.
        let mut cmd = if i % 2 == 0 {
            let mut sh = Command::new("/bin/sh");
            sh.args(["-c", ": /dev/tcp/192.0.2.1/9"]);
            sh
        } else {
            Command::new("/bin/true")
        };
        let mut child = cmd.spawn().unwrap();
        pids.push(child.id());
        assert!(child.wait().unwrap().success());
    }
    let last = *pids.last().unwrap();
    agent.wait_for("the last exec", is("process_exec", last, None));
    let execs: Vec<Value> = agent
        .drain()
        .iter()
        .filter(|e| {
            e["kind"] == "process_exec"
                && pids.contains(&(e["process"]["pid"].as_u64().unwrap() as u32))
        })
        .cloned()
        .collect();
    let order: Vec<u32> =
        execs.iter().map(|e| e["process"]["pid"].as_u64().unwrap() as u32).collect();
    assert_eq!(order, pids, "exec records in the order the processes ran");
    for (i, e) in execs.iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!(e["decision"]["matched"][0]["rule"], "PAL-002", "{e}");
            assert_eq!(e["decision"]["would_block"], true, "{e}");
        } else {
            assert!(e.get("decision").is_none(), "`true` triggers nothing: {e}");
        }
    }
}

/// Break-glass: an order for T-001 scoped to one binary lets that binary
/// run while another netcat stays killed; it is exported when it starts and
/// when it ends, and it ends on time. An order beyond the bundle's limits
/// is refused.
#[test]
fn a_break_glass_order_opens_one_scope_for_its_time_and_is_recorded() {
    let bundle = TempBundle::new("run-break-glass");
    bundle.write(
        support::bundle::CONFIG_FILE,
        r#"{"mode": "enforce", "rule_modes": {}, "break_glass": {"max_ttl": "1m", "rules": ["T-001"]}}"#,
    );
    bundle.write("rules/nc.rego", &support::bundle::NC_RULE.replace("\"block\"", "\"kill\""));
    let nc = fake_nc(&bundle);
    let other = std::env::temp_dir().join(format!("palisade-bg-other-{}/nc", std::process::id()));
    std::fs::create_dir_all(other.parent().unwrap()).unwrap();
    std::fs::copy("/usr/bin/sleep", &other).unwrap();
    let orders = std::env::temp_dir().join(format!("palisade-bg-orders-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&orders);
    let orders_arg = orders.to_str().unwrap().to_string();
    let mut agent = Agent::start_with(&[
        "--policy",
        bundle.path().to_str().unwrap(),
        "--break-glass-dir",
        &orders_arg,
    ]);
    let break_glass = |ttl: &str| {
        let scope = format!(r#"{{"binary": "{}"}}"#, nc.display());
        let out = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(["break-glass", "--rule", "T-001", "--scope", &scope, "--ttl", ttl])
            .args(["--reason", "INC-42 netcat needed", "--by", "sre@example.com"])
            .args(["--dir", &orders_arg])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let id = text.split_whitespace().nth(1).unwrap().to_string();
        (id, text)
    };

    // Longer than the bundle allows: refused, and nothing opens.
    let (too_long, _) = break_glass("5m");
    agent.wait_for_log("lasts longer than config.break_glass.max_ttl (1m)");
    let (_, status) = run_nc(&nc, "30");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "a refused order opens nothing");
    std::fs::remove_file(
        orders.join(format!("{}.json", too_long.trim_start_matches("break-glass-"))),
    )
    .unwrap();

    let (id, _) = break_glass("4s");
    let issued = Instant::now();
    let started = agent.wait_for("the order's start", |e| {
        e["kind"] == "break_glass" && e["phase"] == "started" && e["order"]["id"] == id.as_str()
    });
    assert_eq!(started["order"]["by"], "sre@example.com");
    assert_eq!(started["order"]["rules"][0], "T-001");
    assert_eq!(started["order"]["reason"], "break-glass: INC-42 netcat needed");
    let (pid, status) = run_nc(&nc, "0.2");
    assert!(status.success(), "the order's binary runs: {status}");
    let e = agent.wait_for("the excepted exec", is("process_exec", pid, None));
    assert_eq!(e["decision"]["suppressed"][0]["exception"], id.as_str(), "{e}");
    let (_, status) = run_nc(&other, "30");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "another netcat stays killed");

    let ended = agent.wait_for("the order's end", |e| {
        e["kind"] == "break_glass" && e["phase"] == "ended" && e["order"]["id"] == id.as_str()
    });
    let took = issued.elapsed();
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(8),
        "ended after {took:?}"
    );
    assert_eq!(ended["order"]["until"], started["order"]["until"]);
    support::assert_schema(&started);
    support::assert_schema(&ended);
    let (_, status) = run_nc(&nc, "30");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "killed again once the order ended");
    let _ = std::fs::remove_dir_all(&orders);
    let _ = std::fs::remove_dir_all(other.parent().unwrap());
}
