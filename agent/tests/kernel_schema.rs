//! Every record the agent emits validates against `schema/event.schema.json`:
//! real output from real processes, sockets, a kernel denial and an
//! exception, checked with a JSON Schema validator (draft 2020-12).

mod support;

use std::{
    collections::BTreeSet,
    net::{TcpListener, TcpStream, UdpSocket},
    process::Command,
    time::Duration,
};

use serde_json::Value;
use support::{Agent, bundle::TempBundle};

fn validator() -> jsonschema::Validator {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/event.schema.json");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the schema file"))
            .expect("the schema is JSON");
    jsonschema::draft202012::new(&schema).expect("a valid JSON Schema")
}

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
        .write("config.json", r#"{"palisade": {"config": {"mode": "enforce", "rule_modes": {}}}}"#)
        .write(
            "exceptions.json",
            &format!(
                r#"{{"palisade": {{"exceptions": [{{"id": "EX-SCHEMA", "rules": ["T-001"], "scope": {{"binary": "{}"}}, "owner": "sre@example.com", "reason": "schema test", "expires": "2099-01-01T00:00:00Z"}}]}}}}"#,
                nc.display()
            ),
        );
    let mut agent = Agent::start_with(&["--policy", bundle.path().to_str().unwrap()]);

    // Processes: an exec that an exception covers, and exits.
    assert!(Command::new(&nc).status().unwrap().success());
    agent.wait_for("the exception's audit record", |e| e["kind"] == "exception_used");
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
    let _ = std::fs::remove_dir_all(&dir);
}
