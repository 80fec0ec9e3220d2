//! `palisade report kubernetes` through the real binary: exported records
//! (written by the test, each validated against the event schema; see
//! support/records.rs) become `wgpolicyk8s.io/v1alpha2` PolicyReports that
//! pass the published CRD's schema (vendored in deploy/crds/wgpolicyk8s.io),
//! written to a stand-in API server that answers as the real one does
//! (support/report_api.rs): created, replaced with the resourceVersion read,
//! a conflict retried, stale reports deleted; and fed live by the agents'
//! webhook sink, reports read back after a restart.

mod support;

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use support::{
    records::{MINUTE, Place, decision, exec, matched, now_ns, suppression, write},
    report_api::{PREFIX, ReportApi, crd_schema},
};

const PAY: Place = Place::Pod { namespace: "payments", image: "registry.example/pay:1.4" };
const SHOP: Place = Place::Pod { namespace: "shop", image: "registry.example/shop:2.0" };
const CI: Place = Place::Pod { namespace: "ci-builds", image: "registry.example/ci:1" };

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("palisade-polr-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("token"), "test-token\n").unwrap();
        std::fs::write(dir.join("receiver-token"), "agents-token\n").unwrap();
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// T-001 would block three times in payments.
fn payments(now: i128) -> Vec<Value> {
    (0..3)
        .map(|i| {
            let d = decision(
                "workload",
                "alert",
                "audit",
                vec![matched("T-001", "block", "audit")],
                vec![],
            );
            exec(
                &format!("pay-{i}"),
                now - (10 - i) * MINUTE,
                PAY,
                "/usr/bin/nc",
                &["nc", "-l", "4444"],
                d,
            )
        })
        .collect()
}

/// In shop: T-001 denied, T-002 an alert.
fn shop(now: i128) -> Vec<Value> {
    let mut d =
        decision("human", "block", "enforce", vec![matched("T-001", "block", "enforce")], vec![]);
    d["enforcement"] = json!({"mechanism": "bpf-lsm", "result": "denied", "rule": "T-001"});
    let alert =
        decision("human", "alert", "enforce", vec![matched("T-002", "alert", "enforce")], vec![]);
    vec![
        exec("shop-deny", now - 9 * MINUTE, SHOP, "/usr/bin/nc", &["nc", "evil", "80"], d),
        exec("shop-curl", now - 8 * MINUTE, SHOP, "/usr/bin/curl", &["curl", "-s", "x"], alert),
    ]
}

/// Everything: payments, shop, two suppressed in ci-builds, a kill on the
/// host that came too late.
fn everything(now: i128) -> Vec<Value> {
    let mut all = payments(now);
    all.extend(shop(now));
    for i in 0..2 {
        let d = decision("ci", "allow", "enforce", vec![], vec![suppression("T-001", "EX-BUILD")]);
        all.push(exec(
            &format!("ci-{i}"),
            now - (7 - i) * MINUTE,
            CI,
            "/usr/bin/apt-get",
            &["apt-get", "install", "gcc"],
            d,
        ));
    }
    let mut d =
        decision("ai_agent", "kill", "enforce", vec![matched("T-001", "kill", "enforce")], vec![]);
    d["enforcement"] = json!({"mechanism": "pidfd-sigkill", "result": "exited"});
    all.push(exec("host-kill", now - 5 * MINUTE, Place::Host, "/usr/bin/nc", &["nc"], d));
    all
}

fn palisade(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_palisade")).args(args).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// Every report passes the CRD schema of its kind.
fn assert_valid(report: &Value) {
    let file = match report["kind"].as_str() {
        Some("PolicyReport") => "wgpolicyk8s.io_policyreports.yaml",
        Some("ClusterPolicyReport") => "wgpolicyk8s.io_clusterpolicyreports.yaml",
        other => panic!("not a report kind: {other:?}"),
    };
    let schema = crd_schema(file);
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> =
        validator.iter_errors(report).map(|e| format!("{} at {}", e, e.instance_path)).collect();
    assert!(errors.is_empty(), "{file}: {errors:#?}\n{report:#}");
    assert_eq!(report["apiVersion"], "wgpolicyk8s.io/v1alpha2");
}

fn results(report: &Value) -> &Vec<Value> {
    report["results"].as_array().unwrap()
}

#[test]
fn reports_follow_the_crd_and_say_fail_warn_and_skip() {
    let now = now_ns();
    let dir = Scratch::new("print");
    let events = dir.path("events.jsonl");
    write(&events, &everything(now), "");
    let (ok, stdout, stderr) = palisade(&[
        "report",
        "kubernetes",
        "--once",
        "--print",
        "--events",
        events.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let list: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let items = list["items"].as_array().unwrap();
    for report in items {
        assert_valid(report);
        assert_eq!(report["metadata"]["name"], "palisade");
        assert_eq!(report["metadata"]["labels"]["app.kubernetes.io/managed-by"], "palisade");
        for r in results(report) {
            assert_eq!(r["source"], "palisade");
        }
    }
    let scopes: Vec<(&str, &str)> = items
        .iter()
        .map(|r| (r["kind"].as_str().unwrap(), r["metadata"]["namespace"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        scopes,
        [
            ("PolicyReport", "ci-builds"),
            ("PolicyReport", "payments"),
            ("PolicyReport", "shop"),
            ("ClusterPolicyReport", "")
        ]
    );

    // The schema is not vacuous: what the API server would refuse or prune
    // fails it.
    let schema = crd_schema("wgpolicyk8s.io_policyreports.yaml");
    let validator = jsonschema::validator_for(&schema).unwrap();
    for (pointer, bad) in [
        ("/results/0/severity", json!("severe")),
        ("/results/0/result", json!("denied")),
        ("/results/0/properties/count", json!(3)),
        ("/results/0/timestamp", json!("2026-01-01T00:00:00Z")),
        ("/results/0/verdict", json!("x")),
        ("/summary/fail", json!("1")),
    ] {
        let mut broken = items[1].clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        broken.pointer_mut(parent).unwrap()[key] = bad;
        assert!(!validator.is_valid(&broken), "{pointer} passed the CRD schema");
    }

    // payments: one fail (would block), three times, the pod named.
    let pay = &results(&items[1])[0];
    assert_eq!(
        (&pay["policy"], &pay["result"], &pay["severity"]),
        (&json!("T-001"), &json!("fail"), &json!("high"))
    );
    assert_eq!(pay["rule"], "title of T-001");
    assert_eq!(pay["properties"]["count"], "3");
    assert_eq!(pay["properties"]["outcome"], "would_block");
    assert_eq!(pay["properties"]["mode"], "audit");
    assert_eq!(pay["properties"]["image"], "registry.example/pay:1.4");
    assert_eq!(
        pay["resources"],
        json!([{"apiVersion": "v1", "kind": "Pod", "name": "payments-0", "namespace": "payments", "uid": "uid-payments"}])
    );
    let last = (now - 8 * MINUTE) as i64;
    assert_eq!(
        pay["timestamp"],
        json!({"seconds": last / 1_000_000_000, "nanos": last % 1_000_000_000})
    );
    assert_eq!(
        items[1]["summary"],
        json!({"pass": 0, "fail": 1, "warn": 0, "error": 0, "skip": 0})
    );

    // shop: the denial fails, the alert warns.
    assert_eq!(
        items[2]["summary"],
        json!({"pass": 0, "fail": 1, "warn": 1, "error": 0, "skip": 0})
    );
    let shop: Vec<(&str, &str, &str)> = results(&items[2])
        .iter()
        .map(|r| {
            (
                r["policy"].as_str().unwrap(),
                r["result"].as_str().unwrap(),
                r["properties"]["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(shop, [("T-001", "fail", "enforced"), ("T-002", "warn", "alert")]);
    assert_eq!(results(&items[2])[0]["properties"]["enforcement"], "denied by bpf-lsm");

    // ci-builds: skipped, naming the exception and its owner.
    let skip = &results(&items[0])[0];
    assert_eq!(
        (&skip["result"], &skip["properties"]["exception"]),
        (&json!("skip"), &json!("EX-BUILD"))
    );
    assert_eq!(skip["properties"]["owner"], "platform@example.com");
    assert_eq!(skip["properties"]["count"], "2");
    assert!(
        skip["message"].as_str().unwrap().contains("exception EX-BUILD suppressed it"),
        "{skip}"
    );

    // The host: the cluster report, under the node.
    let host = &results(&items[3])[0];
    assert_eq!(
        (&host["result"], &host["properties"]["outcome"]),
        (&json!("fail"), &json!("not_enforced"))
    );
    assert_eq!(host["resources"], json!([{"apiVersion": "v1", "kind": "Node", "name": "node-a"}]));
}

fn method_paths(api: &ReportApi) -> Vec<String> {
    api.requests().iter().map(|r| format!("{} {}", r.method, r.target)).collect()
}

#[test]
fn reports_are_created_then_replaced_with_the_version_read() {
    let now = now_ns();
    let dir = Scratch::new("writes");
    let api = ReportApi::start();
    let first = dir.path("first.jsonl");
    write(&first, &everything(now), "");
    let url = api.url();
    let token = dir.path("token");
    let once = |events: &Path| {
        palisade(&[
            "report",
            "kubernetes",
            "--once",
            "--events",
            events.to_str().unwrap(),
            "--api-server",
            &url,
            "--token-file",
            token.to_str().unwrap(),
        ])
    };
    let (ok, _, stderr) = once(&first);
    assert!(ok, "{stderr}");
    let ns = |n: &str| format!("{PREFIX}/namespaces/{n}/policyreports");
    let cluster = format!("{PREFIX}/clusterpolicyreports");
    let list = "labelSelector=app.kubernetes.io/managed-by%3Dpalisade";
    let mut expected = vec![
        format!("GET {PREFIX}/policyreports?{list}"),
        format!("GET {PREFIX}/clusterpolicyreports?{list}"),
    ];
    for collection in [ns("ci-builds"), ns("payments"), ns("shop"), cluster.clone()] {
        expected.push(format!("GET {collection}/palisade"));
        expected.push(format!("POST {collection}"));
    }
    assert_eq!(method_paths(&api), expected);
    for r in api.requests() {
        assert_eq!(r.authorization, "Bearer test-token", "{} {}", r.method, r.target);
        if r.method == "POST" {
            assert_valid(&r.body);
            assert!(
                r.body["metadata"].get("resourceVersion").is_none(),
                "a create carries no version"
            );
        }
    }
    assert_eq!(api.objects().len(), 4);

    // Later: payments saw one more, shop nothing new, the rest aged out.
    // Someone else updates payments between our read and our write.
    api.clear_requests();
    let mut second = payments(now);
    second.extend(shop(now));
    let d =
        decision("workload", "alert", "audit", vec![matched("T-001", "block", "audit")], vec![]);
    second.push(exec("pay-3", now - 2 * MINUTE, PAY, "/usr/bin/nc", &["nc", "-l", "4444"], d));
    let second_file = dir.path("second.jsonl");
    write(&second_file, &second, "");
    let pay = format!("{}/palisade", ns("payments"));
    api.race_next_update(&pay);
    let (ok, _, stderr) = once(&second_file);
    assert!(ok, "{stderr}");
    assert_eq!(
        method_paths(&api)[2..],
        [
            format!("GET {pay}"),
            format!("PUT {pay}"),
            format!("GET {pay}"),
            format!("PUT {pay}"),
            format!("GET {}/palisade", ns("shop")),
            format!("DELETE {}/palisade", ns("ci-builds")),
            format!("DELETE {cluster}/palisade"),
        ],
        "conflict read again and retried; shop unchanged, not written; the rest deleted"
    );
    let requests = api.requests();
    let (read_again, retried) = (&requests[4], &requests[5]);
    assert_eq!(retried.method, "PUT");
    assert_valid(&retried.body);
    let objects = api.objects();
    let held = &objects[&pay];
    assert_eq!(held["metadata"]["generation"], 2, "replaced once");
    assert!(read_again.body.is_null());
    assert_ne!(
        retried.body["metadata"]["resourceVersion"],
        requests[3].body["metadata"]["resourceVersion"]
    );
    assert_eq!(results(held)[0]["properties"]["count"], "4");
    assert_eq!(objects.len(), 2, "payments and shop remain: {:?}", objects.keys());
}

/// A running `palisade report kubernetes --listen`, stopped on drop (also
/// when the test fails).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the receiver; it and the address it listens on.
fn serve(args: &[&str]) -> (Server, String) {
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(["report", "kubernetes", "--listen", "127.0.0.1:0", "--log-json"])
            .args(args)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = server.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("[reports] {line}");
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the receiver says where it listens");
        let Ok(log) = serde_json::from_str::<Value>(&line) else { continue };
        if log["fields"]["message"] == "receiving records for PolicyReports" {
            return (server, log["fields"]["addr"].as_str().unwrap().to_string());
        }
    }
}

/// One HTTP request; the status and body.
fn http(addr: &str, head: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "{head}Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()).unwrap();
    s.write_all(body).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, answer.split("\r\n\r\n").nth(1).unwrap_or_default().to_string())
}

#[test]
fn the_webhook_feeds_the_reports_and_a_restart_keeps_them() {
    let now = now_ns();
    let dir = Scratch::new("serve");
    let api = ReportApi::start();
    let first = dir.path("first.jsonl");
    write(&first, &everything(now), "");
    let url = api.url();
    let (ok, _, stderr) = palisade(&[
        "report",
        "kubernetes",
        "--once",
        "--events",
        first.to_str().unwrap(),
        "--api-server",
        &url,
    ]);
    assert!(ok, "{stderr}");

    // A fresh reporter: it reads back what was written, then takes records
    // from the agents' webhook sink.
    let (server, addr) = serve(&[
        "--interval",
        "1s",
        "--window",
        "1h",
        "--api-server",
        &url,
        "--receiver-token-file",
        dir.path("receiver-token").to_str().unwrap(),
    ]);
    let post = "POST /v1/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n";
    assert_eq!(http(&addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n", b"").0, 200);
    assert_eq!(http(&addr, post, b"{}\n").0, 401, "no token, no records");

    let d =
        decision("workload", "alert", "audit", vec![matched("T-001", "block", "audit")], vec![]);
    let fresh = exec("pay-live", now_ns(), PAY, "/usr/bin/nc", &["nc", "-l", "4444"], d);
    let batch_file = dir.path("batch.jsonl");
    write(&batch_file, &[fresh], "not a record\n");
    let batch = std::fs::read(&batch_file).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&batch).unwrap();
    let gzipped = gz.finish().unwrap();
    let head = format!("{post}Authorization: Bearer agents-token\r\nContent-Encoding: gzip\r\n");
    let (status, body) = http(&addr, &head, &gzipped);
    assert_eq!((status, body.trim()), (200, r#"{"records":1,"ignored":1}"#));

    // The payments report: the three read back and the one received.
    let pay = format!("{PREFIX}/namespaces/payments/policyreports/palisade");
    let deadline = Instant::now() + Duration::from_secs(30);
    let held = loop {
        let objects = api.objects();
        let count = objects.get(&pay).map(|o| o["results"][0]["properties"]["count"].clone());
        if count == Some(json!("4")) {
            break objects;
        }
        assert!(Instant::now() < deadline, "payments never reached 4: {count:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    drop(server);
    assert_valid(&held[&pay]);
    assert_eq!(held.len(), 4, "the reports read back stay: {:?}", held.keys());
    let updates: Vec<String> =
        method_paths(&api).into_iter().filter(|r| r.starts_with("PUT")).collect();
    assert_eq!(updates, [format!("PUT {pay}")], "only payments changed");
}
