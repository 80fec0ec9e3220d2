//! `palisade policy report` through the real binary, over exported files
//! written by this test: every record follows schema/event.schema.json
//! exactly (each is validated against it before use), in the shapes the
//! agent writes (kernel_policy_report.rs checks the same numbers on files a
//! real agent wrote). The numbers, the JSON, the text and the HTML page,
//! opened in a real headless Chromium: screenshot taken, script ran, no
//! script errors.

mod support;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::{Value, json};
use support::{
    bundle::TempBundle,
    records::{
        BUNDLE_DIGEST, DAY, MINUTE, Place, decision, exception_used, exec, matched, now_ns,
        rfc3339, suppression, write,
    },
};

/// The test bundle: T-001 (block), T-002 (alert), T-003 (block, mostly
/// excepted), T-004 (never fires); four exceptions.
fn bundle(now: i128) -> TempBundle {
    let b = TempBundle::new("report");
    let rule = |id: &str, action: &str, binary: &str| {
        format!(
            "package palisade.rules.r{n}\n\nimport rego.v1\n\nmeta := {{\"id\": \"{id}\", \"title\": \"title of {id}\", \"severity\": \"high\", \"mitre\": \"T1059\", \"action\": \"{action}\", \"kinds\": [\"process_exec\"]}}\n\nhits contains \"m\" if input.process.binary == \"{binary}\"\n",
            n = &id[2..]
        )
    };
    b.write("rules/nc.rego", &rule("T-001", "block", "/usr/bin/nc"));
    b.write(
        "rules/nc_test.rego",
        "package palisade.rules.nc_test\n\nimport rego.v1\n\ntest_nothing if true\n",
    );
    b.write("rules/r002.rego", &rule("T-002", "alert", "/usr/bin/curl"));
    b.write("rules/r003.rego", &rule("T-003", "block", "/usr/bin/gdb"));
    b.write("rules/r004.rego", &rule("T-004", "block", "/usr/bin/xmrig"));
    let expires = |days: i128| rfc3339(now + days * DAY);
    b.write(
        support::bundle::EXCEPTIONS_FILE,
        &json!([
            {"id": "EX-BUILD", "rules": ["T-001"], "scope": {"binary": "/usr/bin/apt-get"},
             "owner": "platform@example.com", "reason": "build deps", "expires": expires(100)},
            {"id": "EX-DEBUG", "rules": ["T-003"], "scope": {"binary": "/usr/bin/gdb"},
             "owner": "sre@example.com", "reason": "debugging", "expires": expires(5)},
            {"id": "EX-IDLE", "rules": ["T-002"], "scope": {"binary": "/nowhere"},
             "owner": "sre@example.com", "reason": "unused", "expires": expires(60)},
            {"id": "EX-OLD", "rules": ["T-002"], "scope": {"binary": "/nowhere"},
             "owner": "sre@example.com", "reason": "expired", "expires": expires(-3)}
        ])
        .to_string(),
    );
    b
}

struct Files {
    dir: PathBuf,
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The exported files: `events.jsonl` with two rotated predecessors, and a
/// second file from another node's copy; with a duplicate, a line that is
/// not a record, records with no decision and two that are three days old.
fn files(now: i128) -> Files {
    let dir = std::env::temp_dir().join(format!("palisade-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let t = |minutes_ago: i128| now - minutes_ago * MINUTE;
    let pay = Place::Pod { namespace: "payments", image: "registry.example/pay:1.4" };
    let shop = Place::Pod { namespace: "shop", image: "registry.example/shop:2.0" };
    let ci = Place::Pod { namespace: "ci-builds", image: "registry.example/ci-builder:2026.10" };
    let nc = ["nc", "-l", "4444"];

    // Oldest rotated file: T-002 alerts three days ago (outside --since 2d),
    // and 4 in ci-builds within the window.
    let mut oldest = Vec::new();
    for i in 0..2 {
        let d = decision("ci", "alert", "audit", vec![matched("T-002", "alert", "audit")], vec![]);
        oldest.push(exec(
            &format!("old-{i}"),
            now - 3 * DAY,
            ci,
            "/usr/bin/curl",
            &["curl", "x"],
            d,
        ));
    }
    for i in 0..4 {
        let d = decision("ci", "alert", "audit", vec![matched("T-002", "alert", "audit")], vec![]);
        oldest.push(exec(
            &format!("curl-{i}"),
            t(170 - i),
            ci,
            "/usr/bin/curl",
            &["curl", "-sS", "https://pkg"],
            d,
        ));
    }
    write(&dir.join("events.jsonl.2"), &oldest, "");

    // T-001 in audit: would block, three times, in payments.
    let mut rotated = Vec::new();
    for i in 0..3 {
        let d = decision(
            "workload",
            "alert",
            "audit",
            vec![matched("T-001", "block", "audit")],
            vec![],
        );
        rotated.push(exec(&format!("wb-{i}"), t(120 - i), pay, "/usr/bin/nc", &nc, d));
    }
    // A record with no decision (no rule matched).
    let mut exit = exec("exit-1", t(119), pay, "/usr/bin/nc", &nc, json!(null));
    exit.as_object_mut().unwrap().remove("decision");
    rotated.push(exit);
    write(&dir.join("events.jsonl.1"), &rotated, "this line is not JSON\n");

    // Enforce: two denied by the kernel in shop, one kill that came too late
    // on the host; T-001 spared twice by EX-BUILD in ci-builds (with the
    // audit records); T-003 once matched and three times spared.
    let mut current = Vec::new();
    for i in 0..2 {
        let mut d = decision(
            "human",
            "block",
            "enforce",
            vec![matched("T-001", "block", "enforce")],
            vec![],
        );
        d["enforcement"] = json!({"mechanism": "bpf-lsm", "result": "denied", "rule": "T-001"});
        current.push(exec(&format!("deny-{i}"), t(60 - i), shop, "/usr/bin/nc", &nc, d));
    }
    let mut d =
        decision("ai_agent", "kill", "enforce", vec![matched("T-001", "kill", "enforce")], vec![]);
    d["enforcement"] = json!({"mechanism": "pidfd-sigkill", "result": "exited"});
    current.push(exec("late-kill", t(50), Place::Host, "/usr/bin/nc", &nc, d));
    for i in 0..2 {
        let id = format!("spared-{i}");
        let d = decision("ci", "allow", "enforce", vec![], vec![suppression("T-001", "EX-BUILD")]);
        current.push(exec(
            &id,
            t(40 - i),
            ci,
            "/usr/bin/apt-get",
            &["apt-get", "install", "-y", "gcc"],
            d,
        ));
        current.push(exception_used(&id, t(40 - i), "T-001", "EX-BUILD"));
    }
    let d = decision("human", "alert", "audit", vec![matched("T-003", "block", "audit")], vec![]);
    current.push(exec("gdb-0", t(30), shop, "/usr/bin/gdb", &["gdb", "-p", "1"], d));
    for i in 0..3 {
        let d = decision("human", "allow", "audit", vec![], vec![suppression("T-003", "EX-DEBUG")]);
        current.push(exec(
            &format!("gdb-spared-{i}"),
            t(20 - i),
            shop,
            "/usr/bin/gdb",
            &["gdb", "-p", "2"],
            d,
        ));
    }
    // `</script>` in a command line must not break the HTML page.
    let d =
        decision("workload", "alert", "audit", vec![matched("T-001", "block", "audit")], vec![]);
    current.push(exec("wb-3", t(10), pay, "/usr/bin/nc", &["nc", "</script><b>x"], d));
    write(&dir.join("events.jsonl"), &current, "");

    // Another copy: one record already read (a duplicate), and the audit
    // record of an event that sink filtered out (it counts).
    // And a match a break-glass override (`palisade break-glass`) spared.
    let dup = current[0].clone();
    let audit = exception_used("unseen", t(5), "T-001", "EX-BUILD");
    let d =
        decision("human", "allow", "enforce", vec![], vec![suppression("T-002", "break-glass-42")]);
    let glass = exec("glass-0", t(4), shop, "/usr/bin/curl", &["curl", "https://hotfix"], d);
    write(&dir.join("other.jsonl"), &[dup, audit, glass], "");
    Files { dir }
}

fn palisade(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_palisade")).args(args).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

fn rule<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == id)
        .unwrap_or_else(|| panic!("no rule {id} in {report:#}"))
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v.as_str().map(str::to_string).unwrap_or_else(|| v["name"].as_str().unwrap().into())
        })
        .collect()
}

#[test]
fn the_report_counts_rules_exceptions_and_friction() {
    let now = now_ns();
    let b = bundle(now);
    let f = files(now);
    let html = f.dir.join("report.html");
    let events = f.dir.join("events.jsonl");
    let (ok, stdout, stderr) = palisade(&[
        "policy",
        "report",
        "--policy",
        b.path().to_str().unwrap(),
        "--events",
        events.to_str().unwrap(),
        "--events",
        f.dir.join("other.jsonl").to_str().unwrap(),
        "--since",
        "2d",
        "--expiring-within",
        "14d",
        "--json",
        "--html",
        html.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let r: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));

    // Input: 3 rotated files + the other, each record once.
    assert_eq!(r["input"]["files"].as_array().unwrap().len(), 4, "{:#}", r["input"]);
    assert_eq!(r["input"]["skipped"], 1);
    assert_eq!(r["input"]["duplicates"], 1);
    assert_eq!(r["input"]["outside_window"], 2, "the two three-day-old alerts");
    assert_eq!(r["input"]["records"], 24);
    assert_eq!(r["input"]["decided"], 18, "records in the window with a decision");
    assert_eq!(r["input"]["bundles_seen"], json!([{"name": BUNDLE_DIGEST, "count": 18}]));

    let t1 = rule(&r, "T-001");
    assert_eq!(
        (
            &t1["matches"],
            &t1["enforced"],
            &t1["not_enforced"],
            &t1["would_block"],
            &t1["alerts"],
            &t1["suppressed"]
        ),
        (&json!(7), &json!(2), &json!(1), &json!(4), &json!(0), &json!(3)),
        "{t1:#}"
    );
    assert_eq!(t1["in_bundle"], true);
    assert_eq!(t1["workloads"], 4, "payments, shop, the host, ci-builds: {t1:#}");
    assert_eq!(
        t1["actors"],
        json!([{"name": "workload", "count": 4}, {"name": "ci", "count": 2},
               {"name": "human", "count": 2}, {"name": "ai_agent", "count": 1}])
    );
    assert_eq!(t1["exceptions"], json!([{"name": "EX-BUILD", "count": 3}]));
    assert_eq!(t1["binaries"][0], json!({"name": "/usr/bin/nc", "count": 7}));
    assert_eq!(t1["commands"][0], json!({"name": "nc -l 4444", "count": 6}));
    assert_eq!(
        t1["top_workloads"][0],
        json!({"namespace": "payments", "image": "registry.example/pay:1.4", "count": 4})
    );
    let t2 = rule(&r, "T-002");
    assert_eq!(
        (&t2["matches"], &t2["alerts"], &t2["would_block"], &t2["suppressed"]),
        (&json!(4), &json!(4), &json!(0), &json!(1))
    );
    assert_eq!(t2["exceptions"], json!([{"name": "break-glass-42", "count": 1}]));
    assert_eq!(r["break_glass_uses"], json!([{"name": "break-glass-42", "count": 1}]));
    assert_eq!(
        r["unknown_exceptions"],
        json!([]),
        "a break-glass override is not an unknown exception"
    );
    let t3 = rule(&r, "T-003");
    assert_eq!(
        (&t3["matches"], &t3["would_block"], &t3["suppressed"]),
        (&json!(1), &json!(1), &json!(3))
    );
    assert_eq!(t3["suppressed_share"], 0.75);
    assert_eq!(r["rules"][0]["rule"], "T-001", "most matches first");
    assert_eq!(
        r["totals"],
        json!({"matches": 12, "enforced": 2, "not_enforced": 1, "would_block": 5, "alerts": 4, "suppressed": 7})
    );

    assert_eq!(
        r["never_fired"],
        json!([{"rule": "T-004", "title": "title of T-004", "severity": "high", "action": "block"}])
    );
    let candidates: Vec<&Value> = r["mostly_suppressed"].as_array().unwrap().iter().collect();
    assert_eq!(candidates.len(), 1, "{candidates:?}");
    assert_eq!(
        (&candidates[0]["rule"], &candidates[0]["suppressed"], &candidates[0]["hits"]),
        (&json!("T-003"), &json!(3), &json!(4))
    );

    let exceptions: Vec<(String, String, u64)> = r["exceptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().into(),
                e["status"].as_str().unwrap().into(),
                e["uses"].as_u64().unwrap(),
            )
        })
        .collect();
    let owned = |id: &str, status: &str, uses| (id.to_string(), status.to_string(), uses);
    assert_eq!(
        exceptions,
        [
            owned("EX-OLD", "expired", 0),
            owned("EX-DEBUG", "expiring", 3),
            owned("EX-IDLE", "active", 0),
            owned("EX-BUILD", "active", 3)
        ],
        "soonest expiry first"
    );
    assert_eq!(names(&r["exceptions_never_used"]), ["EX-OLD", "EX-IDLE"]);
    assert_eq!(names(&r["exceptions_expiring"]), ["EX-OLD", "EX-DEBUG"]);
    let debug = &r["exceptions"][1];
    assert!((debug["days_left"].as_f64().unwrap() - 5.0).abs() < 0.01, "{debug}");

    let namespaces: Vec<(String, u64)> = r["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["namespace"].as_str().unwrap().into(),
                n["matches"].as_u64().unwrap() + n["suppressed"].as_u64().unwrap(),
            )
        })
        .collect();
    let owned = |ns: &str, n| (ns.to_string(), n);
    assert_eq!(
        namespaces,
        [
            owned("shop", 7),
            owned("ci-builds", 6),
            owned("payments", 4),
            owned("(host)", 1),
            owned("(unknown)", 1)
        ]
    );
    let series: Vec<String> = r["timeline"]["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rule"].as_str().unwrap().into())
        .collect();
    assert_eq!(series, ["T-001", "T-002", "T-003"]);
    let sum: u64 = r["timeline"]["series"][0]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(sum, 7, "every T-001 match in some bucket");

    // The same report as text.
    let (ok, text, stderr) = palisade(&[
        "policy",
        "report",
        "--policy",
        b.path().to_str().unwrap(),
        "--events",
        f.dir.to_str().unwrap(),
        "--since",
        "2d",
    ]);
    assert!(ok, "{stderr}");
    for needle in [
        "Rules that never fired (1):",
        "T-004",
        "T-003        3 of 4 hits suppressed (75%) by EX-DEBUG (3)",
        "never used: EX-OLD, EX-IDLE",
        "expired or expiring within 14 days: EX-OLD, EX-DEBUG",
        "actors: workload (4), ci (2), human (2), ai_agent (1)",
        "break-glass overrides used: break-glass-42 (1)",
    ] {
        assert!(text.contains(needle), "`{needle}` not in:\n{text}");
    }

    check_in_browser(&html, &f.dir);
}

/// Opens the page in headless Chromium: a screenshot as a person would
/// see it, and the DOM after the script ran.
fn check_in_browser(html: &Path, scratch: &Path) {
    let page = std::fs::read_to_string(html).unwrap();
    for needle in ["<script src", "<link", "<img", "@import", "url("] {
        assert!(!page.contains(needle), "the page loads nothing from elsewhere: {needle}");
    }
    assert!(page.contains("content=\"default-src 'none'"), "its policy forbids loading anything");
    assert!(!page.contains("</script><b>x"), "a command line cannot close the page's script");
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new("which").arg(c).output().is_ok_and(|o| o.status.success()))
        .expect("chromium is not installed: run `cargo xtask setup` (it installs the Debian package `chromium`), needed to check the HTML report in a real browser");
    let url = format!("file://{}", html.display());
    let browser = |mode: &str, profile: &str| {
        let out = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", scratch.join(profile).display()))
            .arg("--window-size=1200,900")
            .arg(mode)
            .arg(&url)
            .output()
            .unwrap();
        assert!(out.status.success(), "chromium {mode}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let png = scratch.join("report.png");
    browser(&format!("--screenshot={}", png.display()), "profile-shot");
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let (width, height) = (
        u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
        u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
    );
    assert_eq!((width, height), (1200, 900));
    // A blank 1200x900 page compresses to a few KB; charts and tables do not.
    assert!(bytes.len() > 30_000, "the screenshot is nearly empty: {} bytes", bytes.len());

    let dom = browser("--dump-dom", "profile-dom");
    let root = dom.find("<html").map(|at| &dom[at..]).unwrap_or_default();
    let root = &root[..root.find('>').unwrap_or(root.len())];
    assert!(root.contains(r#"data-rendered="true""#), "the page's script did not finish: {root}");
    assert!(!root.contains("data-errors"), "script errors: {root}");
    assert!(dom.contains(r#"id="timeline" data-series="3""#), "three rules drawn over time");
    assert_eq!(dom.matches("<polyline").count(), 3);
    assert!(dom.contains(r#"id="namespaces" data-bars="5""#), "five namespaces drawn");
    assert!(dom.contains("&lt;/script&gt;&lt;b&gt;x"), "the command line shown as text");
}
