//! Export under real faults: a real HTTP receiver started, stopped and
//! restarted by the test, a real OTLP receiver decoding the official
//! protobuf messages and answering 429 and partial successes, the agent
//! SIGKILLed mid-spool, a spool filled past its bound, a file rotated. Every record comes from real execs seen by the
//! real sensor; the agent's stdout is the reference for what was emitted.
//!
//! Host only (see xtask's HOST_ONLY_TESTS): delivery is userspace, and each
//! test restarts the agent, which under the VM's software emulation costs
//! minutes per start.

mod support;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;
use support::{
    Agent, WAIT,
    bundle::TempBundle,
    otlp::{OtlpReceiver, attribute, requests},
    receiver::Receiver,
    scrape::{free_port, scrape, value},
};

/// A scratch directory with a copy of `true` under a name no other process
/// has, so its execs are this test's.
struct Scratch {
    dir: PathBuf,
    marker: PathBuf,
}

impl Scratch {
    fn new(test: &str, binary_name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("palisade-export-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let marker = dir.join(binary_name);
        std::fs::copy(std::fs::canonicalize("/usr/bin/true").unwrap(), &marker).unwrap();
        Scratch { dir, marker }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_string()
    }

    /// Runs the marker `n` times and returns the ids of their exec events,
    /// as the agent printed them on stdout.
    fn run(&self, agent: &mut Agent, n: usize) -> Vec<String> {
        let tag = format!("{:?}", Instant::now());
        for i in 0..n {
            let status = Command::new(&self.marker).arg(&tag).arg(i.to_string()).status().unwrap();
            assert!(status.success());
        }
        (0..n)
            .map(|i| {
                let (tag, i) = (tag.clone(), i.to_string());
                let event = agent.wait_for("a marker exec", move |e| {
                    e["kind"] == "process_exec"
                        && e["process"]["args"][1] == tag.as_str()
                        && e["process"]["args"][2] == i.as_str()
                });
                event["id"].as_str().unwrap().to_string()
            })
            .collect()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn webhook(port: u16, spool: &str, extra: &str) -> String {
    format!("webhook,url=http://127.0.0.1:{port}/ingest,spool_dir={spool},batch=20{extra}")
}

/// The agent with two sinks, stdout (what the tests watch) and a webhook,
/// serving metrics on `metrics`.
fn with_webhook(port: u16, spool: &str, extra: &str, metrics: u16) -> Agent {
    Agent::start_with(&[
        "--sink",
        "stdout",
        "--sink",
        &webhook(port, spool, extra),
        "--metrics-addr",
        &format!("127.0.0.1:{metrics}"),
    ])
}

/// Polls the metrics until `done` holds for them; panics with `what`.
fn wait_metrics(
    port: u16,
    what: &str,
    done: impl Fn(&prometheus_parse::Scrape) -> bool,
) -> prometheus_parse::Scrape {
    let deadline = Instant::now() + WAIT;
    loop {
        let s = scrape(port);
        if done(&s) {
            return s;
        }
        if Instant::now() >= deadline {
            let export: Vec<String> = s
                .samples
                .iter()
                .filter(|x| x.metric.starts_with("palisade_export_"))
                .map(|x| format!("{} {:?} {:?}", x.metric, x.labels, x.value))
                .collect();
            panic!("metrics never showed {what}; last export metrics:\n{}", export.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sink_metric(s: &prometheus_parse::Scrape, result: &str) -> f64 {
    value(s, "palisade_export_records_total", &[("sink", "webhook"), ("result", result)])
        .unwrap_or(-1.0)
}

#[test]
fn every_record_arrives_at_least_once_across_a_receiver_outage() {
    let scratch = Scratch::new("outage", "palisade-export-outage");
    let mut receiver = Receiver::start(0);
    let port = receiver.port;
    let metrics = free_port();
    let mut agent = with_webhook(port, &scratch.path("spool"), "", metrics);
    let before = scratch.run(&mut agent, 30);
    receiver.wait_for_ids(&before, WAIT);

    // Mid-stream: the receiver goes away, events keep coming.
    receiver.stop();
    let mut ids = scratch.run(&mut agent, 30);
    let down = wait_metrics(metrics, "failed sends and a non-empty spool", |s| {
        value(s, "palisade_export_send_failures_total", &[("sink", "webhook")]).unwrap_or(0.0) > 0.0
            && value(s, "palisade_export_spool_records", &[("sink", "webhook")]).unwrap_or(0.0)
                > 0.0
    });
    assert_eq!(sink_metric(&down, "dropped"), 0.0);
    // The receiver's outage does not make the agent unready: the spool takes the records.
    assert_eq!(support::scrape::get(metrics, "/readyz").0, 200);

    receiver = Receiver::start(port);
    ids.extend(scratch.run(&mut agent, 30));
    receiver.wait_for_ids(&ids, WAIT);
    let after = wait_metrics(metrics, "an empty spool", |s| {
        value(s, "palisade_export_spool_records", &[("sink", "webhook")]) == Some(0.0)
    });
    assert!(sink_metric(&after, "delivered") >= (before.len() + ids.len()) as f64);
    drop(agent);
}

/// Runs a shell script the baseline's PAL-002 matches (it names
/// `/dev/tcp/`; audit mode: reported only) and returns its event's id.
fn run_matched_shell(agent: &mut Agent, tag: &str) -> String {
    let mut child = Command::new("/bin/sh")
        .args(["-c", &format!(": /dev/tcp/192.0.2.1/9 {tag}")])
        .spawn()
        .unwrap();
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    let event = agent.wait_for("the matched shell", support::is("process_exec", pid, None));
    assert!(!event["decision"]["matched"].as_array().unwrap().is_empty(), "{event}");
    event["id"].as_str().unwrap().to_string()
}

/// OPA decision logs: each judged event a rule matched reaches a real
/// receiver as OPA sends them (gzipped JSON arrays, `application/json`),
/// in OPA's event format with the masked field erased, at least once
/// across an outage; events that matched nothing are not logged.
#[test]
fn opa_decision_logs_arrive_as_gzipped_arrays_masked_through_an_outage() {
    let scratch = Scratch::new("decisions", "palisade-export-decisions");
    let mut receiver = Receiver::start(0);
    let port = receiver.port;
    let sink = format!(
        "decision_log,url=http://127.0.0.1:{port}/logs,spool_dir={},batch=5,mask=/input/process/args",
        scratch.path("spool")
    );
    let mut agent = Agent::start_with(&["--sink", "stdout", "--sink", &sink]);
    let before: Vec<String> =
        (0..3).map(|i| run_matched_shell(&mut agent, &format!("a{i}"))).collect();
    // Nothing matched (no rule triggered, or none matched): not logged.
    let unmatched: Vec<String> = (0..3)
        .map(|i| {
            let mut child = Command::new("/usr/bin/true").arg(format!("u{i}")).spawn().unwrap();
            let pid = child.id();
            child.wait().unwrap();
            let event = agent.wait_for("an unmatched exec", support::is("process_exec", pid, None));
            let matched = event["decision"]["matched"].as_array().map_or(0, Vec::len);
            assert_eq!(matched, 0, "{event}");
            event["id"].as_str().unwrap().to_string()
        })
        .collect();
    receiver.wait_for_ids_in("decision_id", &before, WAIT);
    let mut entries = receiver.records();
    let mut headers = receiver.headers();

    receiver.stop();
    let during: Vec<String> =
        (0..3).map(|i| run_matched_shell(&mut agent, &format!("b{i}"))).collect();
    std::thread::sleep(Duration::from_millis(700));
    receiver = Receiver::start(port);
    receiver.wait_for_ids_in("decision_id", &during, WAIT);
    entries.extend(receiver.records());
    headers.extend(receiver.headers());

    for entry in &entries {
        let id = entry["decision_id"].as_str().unwrap();
        assert!(!unmatched.iter().any(|u| u == id), "an unmatched event was logged: {entry:#}");
        assert_eq!(entry["path"], "palisade/main/decision", "{entry:#}");
        assert_eq!(entry["labels"]["app"], "palisade", "{entry:#}");
        assert!(entry["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{entry:#}");
        assert_eq!(entry["input"]["kind"], "process_exec", "{entry:#}");
        assert!(entry["input"].get("decision").is_none(), "{entry:#}");
        assert!(entry["input"]["process"].get("args").is_none(), "masked: {entry:#}");
        assert!(entry["input"]["process"]["binary"].is_string(), "{entry:#}");
        assert_eq!(entry["erased"], serde_json::json!(["/input/process/args"]), "{entry:#}");
        assert!(entry["result"]["matched"].as_array().is_some_and(|m| !m.is_empty()), "{entry:#}");
    }
    assert!(!headers.is_empty());
    assert!(headers.iter().all(|(t, e)| t == "application/json" && e == "gzip"), "{headers:?}");
}

/// OTLP: every record reaches a receiver that decodes the official
/// protobuf messages, with its id and attributes, through a 429 with
/// `Retry-After`, a partial success and an outage; a secret a rule matched
/// on never reaches it.
/// With `spill_after`, records wait in memory only while the receiver
/// keeps up; those it has not taken within that time are written, so an
/// agent killed during the outage loses none of them.
#[test]
fn otlp_delivers_every_record_through_429_partial_success_an_outage_and_a_kill_redacted() {
    let scratch = Scratch::new("otlp", "palisade-otlp-marker");
    let (port, metrics) = (free_port(), free_port());
    let out = PathBuf::from(scratch.path("received.jsonl"));
    let headers = scratch.path("headers");
    std::fs::write(&headers, "# the collector's key\nX-Api-Key: k-123\n").unwrap();
    let receiver = OtlpReceiver::start(port, &out, &["429:3", "partial:1"]);
    let sink = format!(
        "otlp,endpoint=http://127.0.0.1:{port},spool_dir={},batch=20,headers_file={headers},spill_after=1s",
        scratch.path("spool")
    );
    let metrics_addr = format!("127.0.0.1:{metrics}");
    let args = [
        "--sink",
        "stdout",
        "--sink",
        &sink,
        "--cluster",
        "test-cluster",
        "--metrics-addr",
        &metrics_addr,
    ];
    let mut agent = Agent::start_with(&args);
    // Through a 429 and a partial success first.
    let mut ids = scratch.run(&mut agent, 10);
    wait_otlp(&out, &ids);
    // The partial success's rejected record is counted, not sent again.
    wait_metrics(metrics, "the rejected record counted", |s| {
        value(s, "palisade_export_records_total", &[("sink", "otlp"), ("result", "rejected")])
            == Some(1.0)
    });

    // The receiver goes away; records wait in the spool.
    drop(receiver);
    ids.extend(scratch.run(&mut agent, 10));
    // A miner-like exec whose pool URL carries a password: PAL-010 matches
    // on that very argument, and the password must not leave the agent.
    let pool = "stratum+tcp://worker:hunter2-otlp@pool.example.com:3333";
    assert!(Command::new(&scratch.marker).arg(pool).status().unwrap().success());
    let secret = agent.wait_for("the exec with a pool URL", |e| {
        e["kind"] == "process_exec"
            && e["process"]["args"][1].as_str().is_some_and(|a| a.contains("@pool.example.com"))
    });
    assert_eq!(
        secret["process"]["args"][1], "stratum+tcp://worker:[REDACTED]@pool.example.com:3333",
        "{secret:#}"
    );
    let matched = &secret["decision"]["matched"];
    assert!(
        matched.as_array().unwrap().iter().any(|m| m["rule"] == "PAL-010"),
        "the policy judged the unredacted argument: {secret:#}"
    );
    assert!(!secret.to_string().contains("hunter2"), "{secret:#}");
    ids.push(secret["id"].as_str().unwrap().to_string());
    let s = wait_metrics(metrics, "failed sends while the receiver is down", |s| {
        value(s, "palisade_export_send_failures_total", &[("sink", "otlp")]).unwrap_or(0.0) > 0.0
    });
    assert!(value(&s, "palisade_redacted_values_total", &[]).unwrap() >= 1.0);
    // Past `spill_after`, the waiting records are on disk: a kill loses none.
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(agent.pid() as i32, libc::SIGKILL) };
    drop(agent);
    let _receiver = OtlpReceiver::start(port, &out, &[]);
    let agent = Agent::start_with(&args);
    let (kept, rejected) = wait_otlp(&out, &ids);
    let requests = requests(&out);

    // Retry-After was honoured: the request after the 429 came 3 s later
    // (the backoff would have retried after about 100 ms).
    let at = requests.iter().position(|r| r["answer"] == "429:3").expect("a 429 was answered");
    let gap = requests[at + 1]["time"].as_f64().unwrap() - requests[at]["time"].as_f64().unwrap();
    assert!((2.9..10.0).contains(&gap), "retried {gap:.2} s after a 429 with Retry-After: 3");
    assert_eq!(rejected.len(), 1);
    let resent = kept
        .iter()
        .filter(|r| attribute(r, "log.record.uid") == Some(&Value::from(rejected[0].as_str())));
    assert_eq!(resent.count(), 0, "a rejected record was sent again");

    // Every request: the logs path, gzip, the headers file, the resource.
    for request in &requests {
        assert_eq!(request["path"], "/v1/logs");
        assert_eq!(request["headers"]["content-encoding"], "gzip");
        assert_eq!(request["headers"]["content-type"], "application/x-protobuf");
        assert_eq!(request["headers"]["x-api-key"], "k-123");
        let resource = &request["resources"][0];
        assert_eq!(attribute(resource, "service.name"), Some(&Value::from("palisade")));
        assert_eq!(attribute(resource, "k8s.cluster.name"), Some(&Value::from("test-cluster")));
        assert!(attribute(resource, "host.name").is_some());
        assert_eq!(request["scopes"][0]["name"], "palisade");
        assert!(!request["raw"].as_str().unwrap().contains("hunter2"), "the secret left the agent");
    }
    // Each of this test's records, with the attributes of the conventions.
    let marker = scratch.marker.to_str().unwrap();
    for record in kept.iter().filter(|r| {
        attribute(r, "log.record.uid")
            .and_then(Value::as_str)
            .is_some_and(|id| ids.iter().any(|i| i == id))
    }) {
        assert_eq!(record["event_name"], "palisade.process_exec", "{record:#}");
        assert_eq!(attribute(record, "process.executable.path"), Some(&Value::from(marker)));
        assert!(attribute(record, "process.pid").is_some(), "{record:#}");
        assert!(attribute(record, "process.command_args").is_some(), "{record:#}");
        assert!(record["time_unix_nano"].as_str().unwrap().parse::<u64>().unwrap() > 0);
        let body: Value =
            serde_json::from_str(record["body"]["string_value"].as_str().unwrap()).unwrap();
        assert_eq!(body["cluster"], "test-cluster");
        assert_eq!(Some(&body["id"]), attribute(record, "log.record.uid"));
        if body["id"] == secret["id"] {
            assert_eq!(attribute(record, "security_rule.uuid"), Some(&Value::from("PAL-010")));
            assert_eq!(record["severity_text"], "critical");
            assert_eq!(record["severity_number"], "SEVERITY_NUMBER_FATAL");
        }
    }
    drop(agent);
}

/// Waits until each of `ids` was kept or rejected by the OTLP receiver
/// writing to `out`; returns the records kept and the ids rejected.
fn wait_otlp(out: &PathBuf, ids: &[String]) -> (Vec<Value>, Vec<String>) {
    let deadline = Instant::now() + WAIT;
    loop {
        let requests = requests(out);
        let kept: Vec<Value> =
            requests.iter().flat_map(|r| r["records"].as_array().unwrap().clone()).collect();
        let rejected: Vec<String> = requests
            .iter()
            .flat_map(|r| r["rejected"].as_array().unwrap().clone())
            .map(|id| id.as_str().unwrap().to_string())
            .collect();
        let arrived = |id: &String| {
            rejected.contains(id)
                || kept
                    .iter()
                    .any(|r| attribute(r, "log.record.uid") == Some(&Value::from(id.as_str())))
        };
        if ids.iter().all(arrived) {
            return (kept, rejected);
        }
        assert!(Instant::now() < deadline, "not every record reached the OTLP receiver");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn records_spooled_when_the_agent_is_killed_are_delivered_by_the_next_agent() {
    let scratch = Scratch::new("killed", "palisade-export-killed");
    let port = free_port();
    let spool = scratch.path("spool");
    let mut first = Agent::start_with(&["--sink", "stdout", "--sink", &webhook(port, &spool, "")]);
    let ids = scratch.run(&mut first, 20);
    // stdout is flushed before the spool in each batch: let the spool catch up.
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(first.pid() as i32, libc::SIGKILL) };
    drop(first);
    assert!(
        Path::new(&spool).join("cursor").exists() || std::fs::read_dir(&spool).unwrap().count() > 0
    );

    let receiver = Receiver::start(port);
    let _second = Agent::start_with(&["--sink", "stdout", "--sink", &webhook(port, &spool, "")]);
    receiver.wait_for_ids(&ids, WAIT);
}

#[test]
fn a_full_spool_drops_the_oldest_records_and_counts_them() {
    let scratch = Scratch::new("bound", "palisade-export-bound");
    let port = free_port();
    let metrics = free_port();
    let mut agent = with_webhook(port, &scratch.path("spool"), ",spool_max=64KiB", metrics);
    // Far more than 64 KiB of exec records while nothing receives them.
    let ids = scratch.run(&mut agent, 300);
    let full = wait_metrics(metrics, "dropped records", |s| sink_metric(s, "dropped") > 0.0);
    let bytes = value(&full, "palisade_export_spool_bytes", &[("sink", "webhook")]).unwrap();
    assert!(bytes <= 65536.0, "the spool holds {bytes} bytes, past its 64 KiB bound");

    let receiver = Receiver::start(port);
    // Nothing unaccounted for: once the spool is empty, every record put in
    // it was delivered or dropped. (The counters move at different moments
    // while the node keeps producing events: wait for one scrape that
    // balances; a lost record would never let it.)
    let balanced = |s: &prometheus_parse::Scrape| {
        value(s, "palisade_export_spool_records", &[("sink", "webhook")]) == Some(0.0)
            && sink_metric(s, "written") == sink_metric(s, "delivered") + sink_metric(s, "dropped")
    };
    let done = wait_metrics(metrics, "written = delivered + dropped with an empty spool", balanced);
    assert!(sink_metric(&done, "delivered") > 0.0 && sink_metric(&done, "dropped") > 0.0);
    // The oldest went, the newest stayed.
    let got = receiver.ids();
    assert!(!got.contains(&ids[0]), "the oldest record survived a full spool");
    assert!(got.contains(ids.last().unwrap()), "the newest record was dropped");
    drop(agent);
}

#[test]
fn a_refused_batch_is_counted_and_skipped_and_filters_choose_what_goes_where() {
    let scratch = Scratch::new("filters", "nc");
    let bundle = TempBundle::new("export-filters");
    // Matches that name their severity and technique, as the baseline's do.
    let main = support::bundle::MAIN.replace(
        r#"c := {"rule": rule.meta.id,"#,
        r#"c := {"rule": rule.meta.id, "severity": rule.meta.severity, "mitre": rule.meta.mitre,"#,
    );
    assert_ne!(main, support::bundle::MAIN);
    bundle.write("main.rego", &main);
    let receiver = Receiver::start(0);
    let metrics = free_port();
    let all = scratch.path("all.jsonl");
    let alerts = scratch.path("alerts.ocsf.jsonl");
    let mut agent = Agent::start_with(&[
        "--policy",
        bundle.path().to_str().unwrap(),
        "--sink",
        "stdout",
        "--sink",
        &format!("file,path={all},max_size=16KiB,keep=2"),
        "--sink",
        &format!("file,name=alerts,path={alerts},format=ocsf,filter=alerts"),
        "--sink",
        &webhook(receiver.port, &scratch.path("spool"), ",filter=alerts"),
        "--metrics-addr",
        &format!("127.0.0.1:{metrics}"),
    ]);
    // A receiver that refuses for good: the batch is skipped, not retried forever.
    receiver.answer(400);
    let refused = scratch.run(&mut agent, 5);
    wait_metrics(metrics, "rejected records", |s| sink_metric(s, "rejected") >= 5.0);
    receiver.answer(200);
    let ids = scratch.run(&mut agent, 60);
    receiver.wait_for_ids(&ids, WAIT);
    // Only alerts reach the webhook, and the refused ones are not resent.
    let records = receiver.records();
    assert!(
        records.iter().all(|r| r["decision"]["matched"][0]["rule"] == "T-001"),
        "a record that is not an alert reached the webhook"
    );
    assert!(refused.iter().all(|id| !receiver.ids().contains(id)));

    // Rotation kept two old files beside the active one, each within the bound.
    agent.drain();
    drop(agent);
    let mut files: Vec<String> = std::fs::read_dir(&scratch.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("all.jsonl"))
        .collect();
    files.sort();
    assert_eq!(files, ["all.jsonl", "all.jsonl.1", "all.jsonl.2"]);
    for name in &files {
        let text = std::fs::read_to_string(scratch.dir.join(name)).unwrap();
        assert!(text.len() <= 16384, "{name} holds {} bytes", text.len());
        for line in text.lines() {
            serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{name}: {e}: {line}"));
        }
    }
    // The OCSF file holds the alerts only, each a Process Activity launch
    // and its Detection Finding, every one valid OCSF.
    let ocsf = support::ocsf::assert_valid_file(Path::new(&alerts));
    let launches: Vec<&Value> = ocsf.iter().filter(|o| o["class_uid"] == 1007).collect();
    let findings: Vec<&Value> = ocsf.iter().filter(|o| o["class_uid"] == 2004).collect();
    assert!(launches.len() >= 65, "{} OCSF alerts", launches.len());
    assert_eq!(launches.len() + findings.len(), ocsf.len(), "only launches and findings");
    for o in &launches {
        assert_eq!(o["type_uid"], 100701);
        assert_eq!(o["attacks"][0]["technique"]["uid"], "T1059");
        assert_eq!(o["severity_id"], 4);
        assert!(o["process"]["file"]["path"].as_str().unwrap().ends_with("/nc"));
        assert!(o["metadata"]["uid"].is_string() && o["time"].is_u64());
        // Its finding follows it.
        let finding = findings
            .iter()
            .find(|f| f["finding_info"]["related_events"][0]["uid"] == o["metadata"]["uid"])
            .unwrap_or_else(|| panic!("no Detection Finding for {o}"));
        assert_eq!(finding["finding_info"]["analytic"]["uid"], "T-001");
        assert_eq!(finding["severity_id"], 4);
    }
}

#[test]
fn events_rebuilds_a_process_tree_and_timeline_from_rotated_files_alone() {
    let scratch = Scratch::new("forensics", "nc");
    let bundle = TempBundle::new("export-forensics");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let files = scratch.dir.join("export");
    std::fs::create_dir_all(&files).unwrap();
    let sink = format!("file,path={}/events.jsonl,max_size=4KiB,keep=50", files.display());
    let mut agent = Agent::start_with(&[
        "--policy",
        bundle.path().to_str().unwrap(),
        "--sink",
        "stdout",
        "--sink",
        &sink,
    ]);
    // A shell that runs an alerting binary, connects from a forked subshell
    // (no exec of its own), and exits with 3.
    let script =
        format!("{} x; (exec 3<>/dev/tcp/127.0.0.1/{port}); exit 3", scratch.marker.display());
    let mut shell = Command::new("bash").arg("-c").arg(&script).spawn().unwrap();
    let root = shell.id();
    assert_eq!(shell.wait().unwrap().code(), Some(3));
    agent.wait_for("the shell's exit", support::is("process_exit", root, None));
    agent.wait_for("the connect", |e| {
        e["kind"] == "network_connect" && e["network"]["dport"] == port
    });
    drop(agent);
    drop(listener);
    let rotated = std::fs::read_dir(&files).unwrap().count();
    assert!(rotated > 1, "expected rotated files, found {rotated}");

    let events = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .arg("events")
            .arg(&files)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let story: Value =
        serde_json::from_str(&events(&["--pid", &root.to_string(), "--json"])).unwrap();
    let roots = story["processes"].as_array().unwrap();
    assert_eq!(roots.len(), 1, "{story:#}");
    let shell = &roots[0];
    assert_eq!(shell["pid"], root);
    assert_eq!(shell["exit"]["code"], 3);
    let children = shell["children"].as_array().unwrap();
    let nc = children
        .iter()
        .find(|c| c["binary"].as_str().unwrap().ends_with("/nc"))
        .expect("nc under the shell");
    let alert = nc["activity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["what"] == "alert")
        .expect("nc's alert");
    assert!(alert["detail"].as_str().unwrap().contains("T-001"), "{alert}");
    let wanted = format!("127.0.0.1:{port}");
    let connect = children
        .iter()
        .flat_map(|c| c["activity"].as_array().unwrap())
        .find(|a| a["what"] == "connect")
        .expect("the subshell's connect, under the shell");
    assert!(connect["detail"].as_str().unwrap().contains(&wanted), "{connect}");
    let times: Vec<&str> =
        story["timeline"].as_array().unwrap().iter().map(|e| e["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "timeline out of order");
    assert!(times.len() >= 6, "{times:?}");

    let text = events(&["--pid", &root.to_string()]);
    assert!(
        text.contains("TIMELINE") && text.contains("T-001") && text.contains("exit code 3"),
        "{text}"
    );
    assert!(events(&["--container", "no-such-container"]).contains("no process matches"));
    let bad = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["events", "/nonexistent"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("cannot read /nonexistent"));
}

/// An HTTPS receiver: Python's own HTTP server behind its `ssl` module,
/// appending every request body to a file.
const HTTPS_RECEIVER: &str = r#"
import http.server, ssl, sys
port, cert, key, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
class Ingest(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(out, "ab") as f:
            f.write(body)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Ingest)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
"#;

#[test]
fn https_delivery_trusts_the_given_ca_and_nothing_else() {
    let scratch = Scratch::new("https", "palisade-export-https");
    let (ca, cert, key, received) = (
        scratch.path("ca.pem"),
        scratch.path("cert.pem"),
        scratch.path("key.pem"),
        scratch.path("received"),
    );
    make_certificates(&scratch);
    let port = free_port();
    let mut server = Command::new("python3")
        .args(["-c", HTTPS_RECEIVER, &port.to_string(), &cert, &key, &received])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut ready,
    )
    .unwrap();
    let _server = KillOnDrop(server);
    assert_eq!(ready.trim(), "ready");

    let metrics = free_port();
    let url = format!("https://127.0.0.1:{port}/ingest");
    let mut agent = Agent::start_with(&[
        "--sink",
        "stdout",
        "--sink",
        &format!(
            "webhook,name=trusted,url={url},ca_file={ca},spool_dir={}",
            scratch.path("spool-t")
        ),
        "--sink",
        &format!("webhook,name=untrusted,url={url},spool_dir={}", scratch.path("spool-u")),
        "--metrics-addr",
        &format!("127.0.0.1:{metrics}"),
    ]);
    let ids = scratch.run(&mut agent, 10);
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(&received).unwrap_or_default();
        let got: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        if ids.iter().all(|id| got.iter().any(|r| r["id"] == id.as_str())) {
            break;
        }
        assert!(Instant::now() < deadline, "the HTTPS receiver did not get every record");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The receiver's certificate is not signed by a public CA: without the
    // CA file, the other sink refuses the connection and delivers nothing.
    let s = wait_metrics(metrics, "failed sends of the untrusted sink", |s| {
        value(s, "palisade_export_send_failures_total", &[("sink", "untrusted")]).unwrap_or(0.0)
            > 0.0
    });
    assert_eq!(
        value(
            &s,
            "palisade_export_records_total",
            &[("sink", "untrusted"), ("result", "delivered")]
        ),
        Some(0.0)
    );
    drop(agent);
}

/// A CA, and the receiver's certificate for 127.0.0.1 signed by it (rustls
/// refuses a self-signed CA certificate used as the server's own).
fn make_certificates(scratch: &Scratch) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(&scratch.dir)
            .args(args)
            .output()
            .expect("openssl (installed by cargo xtask setup)");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let rsa = ["-newkey", "rsa:2048", "-nodes"];
    openssl(
        &[
            &["req", "-x509", "-days", "1", "-subj", "/CN=palisade-test-ca"][..],
            &rsa,
            &["-keyout", "ca.key", "-out", "ca.pem"],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req", "-subj", "/CN=127.0.0.1"][..],
            &rsa,
            &["-keyout", "key.pem", "-out", "leaf.csr"],
        ]
        .concat(),
    );
    std::fs::write(
        scratch.dir.join("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-days",
        "1",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-extfile",
        "leaf.ext",
        "-out",
        "cert.pem",
    ]);
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_full_disk_costs_counted_records_and_readiness_and_nothing_else() {
    let scratch = Scratch::new("full", "palisade-export-full");
    let disk = scratch.dir.join("disk");
    std::fs::create_dir_all(&disk).unwrap();
    let mount = |opts: &str| {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(&disk)
            .status()
            .unwrap();
        assert!(ok.success(), "mount -o {opts}");
    };
    mount("size=64k");
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(disk.clone());
    let metrics = free_port();
    let mut agent = Agent::start_with(&[
        "--sink",
        "stdout",
        "--sink",
        &format!("file,name=small,path={}/events.jsonl,max_size=1MiB", disk.display()),
        "--metrics-addr",
        &format!("127.0.0.1:{metrics}"),
    ]);
    let failed = |s: &prometheus_parse::Scrape| {
        value(s, "palisade_export_records_total", &[("sink", "small"), ("result", "failed")])
            .unwrap_or(0.0)
    };
    let deadline = Instant::now() + WAIT;
    while failed(&scrape(metrics)) == 0.0 {
        assert!(Instant::now() < deadline, "a full disk never failed a write");
        scratch.run(&mut agent, 20);
    }
    let (status, body) = support::scrape::get(metrics, "/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("sink `small` does not accept records") && body.contains("No space left"),
        "{body}"
    );
    // The other sink and the agent carry on.
    scratch.run(&mut agent, 5);
    assert!(agent.is_alive());

    // Room again: the sink takes records, the file is whole lines, ready again.
    mount("remount,size=4m");
    agent.drain();
    let ids = scratch.run(&mut agent, 5);
    let deadline = Instant::now() + WAIT;
    while support::scrape::get(metrics, "/readyz").0 != 200 {
        assert!(Instant::now() < deadline, "never ready again after the disk had room");
        scratch.run(&mut agent, 1);
        std::thread::sleep(Duration::from_millis(100));
    }
    // Each batch reaches stdout before the file: poll the file.
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(disk.join("events.jsonl")).unwrap();
        let lines: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        assert!(
            text.lines().count() - lines.len() <= 1,
            "more than the one torn line at the point of failure"
        );
        if ids.iter().all(|id| lines.iter().any(|r| r["id"] == id.as_str())) {
            break;
        }
        assert!(Instant::now() < deadline, "records written after the disk had room are missing");
        std::thread::sleep(Duration::from_millis(100));
    }
}
