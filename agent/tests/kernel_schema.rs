//! Every record the agent emits validates against `schema/event.schema.json`:
//! real output from real processes, sockets, a kernel denial and an
//! exception, checked with a JSON Schema validator (draft 2020-12). The same
//! run's OCSF records (a second sink) validate against the official OCSF
//! 1.1.0 schema (schema/ocsf-1.1.0, support/ocsf.rs).

mod support;

use std::{
    collections::BTreeSet,
    net::{TcpListener, TcpStream, UdpSocket},
    process::Command,
    time::Duration,
};

use serde_json::Value;
use support::{Agent, bundle::TempBundle};

use support::event_schema as validator;

/// Validates every event seen so far; returns the kinds seen.
fn validate_all(agent: &mut Agent, validator: &jsonschema::Validator) -> BTreeSet<String> {
    let mut kinds = BTreeSet::new();
    for event in agent.drain() {
        let errors: Vec<String> =
            validator.iter_errors(event).map(|e| format!("{} at {}", e, e.instance_path)).collect();
        assert!(errors.is_empty(), "event does not match the schema: {errors:#?}\n{event:#}");
        kinds.insert(event["kind"].as_str().unwrap_or("?").to_string());
    }
    kinds
}

const KERNEL_RULE: &str = r#"package palisade.rules.kernel_deny

import rego.v1

meta := {"id": "T-KERNEL", "title": "denied in the kernel", "severity": "high", "mitre": "T1059", "action": "block", "kinds": ["process_exec", "network_connect"]}

kernel := {"connect": [{"cidr": "127.0.0.2/32", "ports": [47011], "protocols": ["tcp"]}]}

hits contains "never" if false
"#;

#[test]
fn every_record_of_real_output_matches_the_schema() {
    let validator = validator();
    let _ = Command::new(env!("CARGO_BIN_EXE_palisade")).arg("unload").output();
    let dir = std::env::temp_dir().join(format!("palisade-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let nc = dir.join("nc");
    std::fs::copy(std::fs::canonicalize("/usr/bin/true").unwrap(), &nc).unwrap();

    // A bundle that blocks nc (enforce), excepts it when run from one path,
    // and denies a destination in the kernel.
    let bundle = TempBundle::new("schema");
    bundle
        .write("rules/kernel_deny.rego", KERNEL_RULE)
        .write(
            support::bundle::CONFIG_FILE,
            r#"{"mode": "enforce", "rule_modes": {}, "env_capture": ["AAA_SCHEMA"]}"#,
        )
        .write(
            support::bundle::EXCEPTIONS_FILE,
            &format!(
                r#"[{{"id": "EX-SCHEMA", "rules": ["T-001"], "scope": {{"binary": "{}"}}, "owner": "sre@example.com", "reason": "schema test", "expires": "2099-01-01T00:00:00Z"}}]"#,
                nc.display()
            ),
        );
    let ocsf = dir.join("ocsf.jsonl");
    let mut agent = Agent::start_with(&[
        "--policy",
        bundle.path().to_str().unwrap(),
        "--sink",
        "stdout",
        "--sink",
        &format!("file,path={},format=ocsf", ocsf.display()),
    ]);

    // Processes: a plain exec (with a captured variable, and an
    // environment longer than the kernel's window), an exec that an
    // exception covers, one it does not (an alert), and exits. Command
    // sorts the environment: AAA_SCHEMA comes first.
    let mut plain = Command::new("/usr/bin/true")
        .env("AAA_SCHEMA", "1")
        .env("ZZZ_SCHEMA_PAD", "x".repeat(5000))
        .spawn()
        .unwrap();
    assert!(plain.wait().unwrap().success());
    let e = agent.wait_for("a plain exec", support::is("process_exec", plain.id(), None));
    assert_eq!(e["process"]["env"]["AAA_SCHEMA"], "1", "{e}");
    assert_eq!(e["process"]["env_truncated"], true, "{e}");
    assert!(Command::new(&nc).status().unwrap().success());
    agent.wait_for("the exception's audit record", |e| e["kind"] == "exception_used");
    let alerting = dir.join("alerting");
    std::fs::create_dir_all(&alerting).unwrap();
    std::fs::copy(&nc, alerting.join("nc")).unwrap();
    assert!(Command::new(alerting.join("nc")).status().unwrap().success());
    agent.wait_for("the alert", |e| {
        e["kind"] == "process_exec" && e["decision"]["matched"][0]["rule"] == "T-001"
    });
    // Network: listen, connect, accept, a UDP send, a denied connect.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap();
    let _client = TcpStream::connect(server).unwrap();
    let _conn = listener.accept().unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(b"x", server).unwrap();
    let denied =
        TcpStream::connect_timeout(&"127.0.0.2:47011".parse().unwrap(), Duration::from_secs(5));
    assert_eq!(denied.unwrap_err().raw_os_error(), Some(libc::EPERM));
    agent.wait_for("the denied connect", |e| {
        e["kind"] == "network_connect"
            && e["decision"]["enforcement"]["mechanism"] == "cgroup-sock-addr"
    });
    agent.wait_for("the accept", |e| {
        e["kind"] == "network_accept" && e["network"]["sport"] == server.port()
    });
    agent.wait_for("the UDP send", |e| {
        e["network"]["protocol"] == "udp" && e["network"]["dport"] == server.port()
    });
    agent.wait_for("an exit", |e| e["kind"] == "process_exit");

    let kinds = validate_all(&mut agent, &validator);
    for kind in [
        "process_exec",
        "process_exit",
        "network_connect",
        "network_listen",
        "network_accept",
        "exception_used",
        "policy_change",
    ] {
        assert!(kinds.contains(kind), "no {kind} event in the output: {kinds:?}");
    }

    // The schema is strict: an unknown field or a wrong type is refused.
    let mut broken = agent.drain()[0].clone();
    broken["surprise"] = Value::Bool(true);
    assert!(!validator.is_valid(&broken));
    let mut broken = agent.drain()[0].clone();
    broken["time"] = Value::from("yesterday");
    assert!(!validator.is_valid(&broken));

    drop(agent);
    let _ = Command::new(env!("CARGO_BIN_EXE_palisade")).arg("unload").output();

    // Every OCSF record of the run is valid, and the run had each kind.
    let records = support::ocsf::assert_valid_file(&ocsf);
    let has = |what: &str, test: &dyn Fn(&Value) -> bool| {
        assert!(records.iter().any(test), "no OCSF record of {what} among {records:#?}");
    };
    let class =
        |r: &Value, uid: u64, activity: u64| r["class_uid"] == uid && r["activity_id"] == activity;
    has("an exec", &|r| class(r, 1007, 1) && r["action_id"].is_null());
    has("an exit", &|r| class(r, 1007, 2));
    has("an exec an exception let through", &|r| class(r, 1007, 1) && r["disposition_id"] == 1);
    has("the exception's use", &|r| {
        r["class_uid"] == 0 && r["metadata"]["log_name"] == "exception_used"
    });
    has("an alert", &|r| class(r, 1007, 1) && r["disposition_id"] == 15);
    has("a connect", &|r| class(r, 4001, 1) && r["metadata"]["log_name"] == "network_connect");
    has("a UDP send", &|r| class(r, 4001, 1) && r["connection_info"]["protocol_num"] == 17);
    has("an accept", &|r| class(r, 4001, 1) && r["metadata"]["log_name"] == "network_accept");
    has("a listen", &|r| class(r, 4001, 99));
    has("a denied connect", &|r| class(r, 4001, 5) && r["action_id"] == 2);
    has("the denied connect's finding", &|r| {
        class(r, 2004, 1) && r["finding_info"]["analytic"]["uid"] == "T-KERNEL"
    });
    has("the alert's finding", &|r| {
        class(r, 2004, 1) && r["finding_info"]["analytic"]["uid"] == "T-001"
    });
    let _ = std::fs::remove_dir_all(&dir);
}
