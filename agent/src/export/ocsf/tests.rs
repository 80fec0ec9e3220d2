//! Every kind of native record, on the host and in a container, converted
//! and checked against the official OCSF 1.1.0 schema files; then what the
//! mapping says, field by field.

use serde_json::{Value, json};

use super::*;

// The validator the integration tests use, over schema/ocsf-1.1.0.
#[allow(dead_code)]
#[path = "../../../tests/support/ocsf.rs"]
mod validator;

/// Converts `record` (its decision read from it, as the exporter gets it)
/// and asserts every OCSF event validates with neither error nor warning.
fn ocsf(record: &Value) -> Vec<Value> {
    let decision: Option<Decision> =
        record.get("decision").map(|d| serde_json::from_value(d.clone()).expect("a decision"));
    let schema = validator::Schema::vendored();
    convert(record, decision.as_ref())
        .iter()
        .map(|event| {
            let event = serde_json::to_value(event).unwrap();
            let report = schema.validate(&event, false);
            assert!(
                report.is_clean(),
                "{} ({}) does not validate:\n{:#?}\n{event:#}",
                record["kind"],
                record["id"],
                report
            );
            event
        })
        .collect()
}

fn only(record: &Value) -> Value {
    let mut events = ocsf(record);
    assert_eq!(events.len(), 1, "{events:#?}");
    events.remove(0)
}

const ANCESTORS: &str = r#"[{"pid": 31840, "binary": "/usr/bin/bash"}, {"pid": 31499, "binary": "/usr/bin/flock"}, {"pid": 12969, "binary": "/memfd:sealed-91173221a7ea (deleted)"}, {"pid": 1, "binary": ""}]"#;

/// A host process as the agent describes it, with `extra` merged over.
fn record(kind: &str, extra: Value) -> Value {
    let mut r = json!({
        "schema": "palisade.event/v1", "id": format!("426d6a03-0000182a6fdbe9af-7c66-{kind}"),
        "time": "2026-12-03T02:11:26.760168519Z", "node": "node-1", "kind": kind,
        "process": {
            "pid": 31846, "ppid": 31840, "uid": 1000, "gid": 1000, "euid": 1000, "egid": 1000,
            "binary": "/usr/bin/grep", "filename": "/usr/bin/grep",
            "args": ["grep", "-q", "ready", "/tmp/agent.err"], "cwd": "/tmp", "cgroup_id": 1,
            "comm": "grep", "exe": {"inode": 247264, "dev": 65024},
            "start_time": "2026-12-03T02:11:26.754619217Z",
            "ancestors": serde_json::from_str::<Value>(ANCESTORS).unwrap(),
        },
        "host": true, "bundle": "30a45ea2f097",
    });
    merge(&mut r, extra);
    r
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                if v.is_null() {
                    a.remove(&k);
                } else {
                    merge(a.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// The same process in a Kubernetes pod's container (containerd).
fn in_pod(mut r: Value) -> Value {
    merge(
        &mut r,
        json!({
            "host": null,
            "container": {
                "id": "9c2d1e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d",
                "runtime": "containerd", "name": "app", "image": "registry.example:5000/team/app:1.2",
                "cgroup": "kubepods.slice/kubepods-pod1.slice/cri-containerd-9c2d.scope",
            },
            "pod": {"uid": "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", "name": "web-0",
                    "namespace": "payments", "labels_available": false},
        }),
    );
    r
}

fn alert(action: &str, enforcement: Value) -> Value {
    json!({
        "action": action, "bundle": "30a45ea2f097", "enforcement": enforcement,
        "matched": [
            {"rule": "PAL-004", "title": "Network tool", "severity": "medium", "mitre": "T1095",
             "action": "alert", "mode": "audit", "message": "nc executed"},
            {"rule": "PAL-011", "title": "Metadata service", "severity": "high", "mitre": "T1552.005",
             "action": "block", "mode": "enforce", "message": "metadata service reached"},
        ],
        "mode": "enforce", "suppressed": [], "would_block": false,
    })
}

fn connect(extra: Value) -> Value {
    let mut r = record(
        "network_connect",
        json!({"network": {"family": "ipv4", "protocol": "tcp", "direction": "outbound",
                           "daddr": "10.0.0.7", "dport": 443, "saddr": "10.0.0.5", "sport": 52966,
                           "hook": "tcp_state", "result": "established"}}),
    );
    merge(&mut r, extra);
    r
}

#[test]
fn an_exec_is_a_launch_by_its_parent() {
    let o = only(&record("process_exec", json!({})));
    assert_eq!((o["class_uid"].clone(), o["type_uid"].clone()), (json!(1007), json!(100701)));
    assert_eq!(o["activity_name"], "Launch");
    assert_eq!(o["time"], 1_796_263_886_760i64);
    assert_eq!(o["severity_id"], 1);
    let p = &o["process"];
    assert_eq!(p["pid"], 31846);
    assert_eq!(p["cmd_line"], "grep -q ready /tmp/agent.err");
    assert_eq!(p["file"], json!({"name": "grep", "path": "/usr/bin/grep", "type_id": 1}));
    assert_eq!(p["user"]["uid"], "1000");
    assert_eq!(p["parent_process"]["file"]["name"], "bash");
    assert_eq!(p["lineage"][2], "/memfd:sealed-91173221a7ea (deleted)");
    assert_eq!(o["actor"]["process"]["pid"], 31840);
    assert_eq!(o["device"]["hostname"], "node-1");
    // No decision, no container: no profile.
    assert_eq!(o["metadata"]["profiles"], json!([]));
    assert!(o.get("action_id").is_none());
    let palisade = &o["unmapped"]["palisade"];
    assert_eq!(palisade["process"]["cwd"], "/tmp");
    assert_eq!(
        (palisade["kind"].clone(), palisade["host"].clone()),
        (json!("process_exec"), json!(true))
    );
    assert!(palisade["process"].get("env").is_none(), "none captured, none written");
}

#[test]
fn captured_environment_variables_go_under_unmapped() {
    // OCSF 1.1's process object has no environment variables.
    let env = json!({"process": {"env": {"LD_PRELOAD": "/tmp/x.so",
                                          "https_proxy": {"base64": "aHR0cDovL3A6MzEyOP8=", "text": "http://p:3128\u{fffd}"}},
                                 "env_truncated": true}});
    let o = only(&record("process_exec", env));
    let process = &o["unmapped"]["palisade"]["process"];
    assert_eq!(process["env"]["LD_PRELOAD"], "/tmp/x.so");
    assert_eq!(process["env"]["https_proxy"], "http://p:3128\u{fffd}");
    assert_eq!(process["env_truncated"], true);
    assert!(o["process"].get("env").is_none());
}

#[test]
fn exits_are_terminations_with_the_code_or_the_signal() {
    let o = only(&record("process_exit", json!({"exit": {"code": 3, "duration_ns": 1003531338}})));
    assert_eq!((o["type_uid"].clone(), o["exit_code"].clone()), (json!(100702), json!(3)));
    assert_eq!(o["process"]["terminated_time"], o["time"]);
    assert_eq!(o["actor"]["process"]["pid"], 31846);
    let o = only(&record(
        "process_exit",
        json!({"exit": {"signal": 9, "core_dumped": false, "duration_ns": 5}}),
    ));
    assert!(o.get("exit_code").is_none());
    assert_eq!(o["unmapped"]["palisade"]["exit"]["signal"], 9);
    // A process the agent never saw start: no path, no parent, only its pid and user.
    let unknown = record(
        "process_exit",
        json!({"process": {"ppid": 0, "binary": "", "args": [], "cwd": "", "ancestors": [],
                           "gid": null, "euid": null, "egid": null, "comm": null, "exe": null},
               "exit": {"code": 0, "duration_ns": 1}}),
    );
    let o = only(&unknown);
    assert!(o["process"].get("file").is_none() && o["process"].get("parent_process").is_none());
}

#[test]
fn an_alert_is_an_activity_and_a_detection_finding() {
    let r = record(
        "process_exec",
        json!({"decision": alert("alert", json!({"mechanism": "none", "result": "reported"}))}),
    );
    let events = ocsf(&r);
    assert_eq!(events.len(), 2);
    let (activity, finding) = (&events[0], &events[1]);
    assert_eq!(activity["metadata"]["profiles"], json!(["security_control"]));
    assert_eq!(
        (activity["action_id"].clone(), activity["disposition_id"].clone()),
        (json!(1), json!(15))
    );
    assert_eq!(activity["severity_id"], 4, "the most severe rule's: high");
    assert_eq!(finding["class_uid"], 2004);
    assert_eq!(finding["type_uid"], 200401);
    assert_eq!(finding["metadata"]["profiles"], json!(["host", "security_control"]));
    let info = &finding["finding_info"];
    assert_eq!(info["title"], "Metadata service");
    assert_eq!(
        info["analytic"],
        json!({"uid": "PAL-011", "name": "Metadata service", "type_id": 1, "type": "Rule"})
    );
    assert_eq!(info["related_analytics"][0]["uid"], "PAL-004");
    assert_eq!(info["related_events"][0], json!({"uid": r["id"], "type_uid": 100701}));
    assert_eq!(info["attacks"][0]["technique"]["uid"], "T1095");
    assert_eq!(info["attacks"][1]["sub_technique"]["uid"], "T1552.005");
    assert_eq!(info["attacks"][1]["technique"]["uid"], "T1552");
    assert_eq!(finding["attacks"], info["attacks"]);
    assert_eq!(finding["evidences"][0]["process"]["pid"], 31846);
    assert_eq!(finding["message"], "metadata service reached");
    assert_ne!(finding["metadata"]["uid"], activity["metadata"]["uid"]);
}

#[test]
fn a_denied_exec_is_a_denied_launch_by_the_caller() {
    // As the BPF-LSM hook reports it: the caller's pid, the file it tried,
    // the caller's own image first among the ancestors.
    let denied = record(
        "process_exec",
        json!({"process": {"pid": 4242, "binary": "/tmp/x/nc", "args": [], "ancestors": [{"pid": 4242, "binary": "/usr/bin/bash"}, {"pid": 1, "binary": "/sbin/init"}],
                           "gid": null, "euid": null, "egid": null, "comm": null},
               "decision": alert("block", json!({"mechanism": "bpf-lsm", "result": "denied", "rule": "PAL-004"}))}),
    );
    let events = ocsf(&denied);
    let activity = &events[0];
    assert_eq!(
        (activity["action_id"].clone(), activity["disposition_id"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(activity["actor"]["process"]["file"]["path"], "/usr/bin/bash");
    assert_eq!(activity["process"]["file"]["path"], "/tmp/x/nc");
    assert!(activity["process"].get("cmd_line").is_none());
    assert_eq!(events[1]["disposition"], "Blocked");
}

#[test]
fn connects_accepts_and_listens_put_the_initiator_first() {
    let o = only(&connect(json!({})));
    assert_eq!((o["class_uid"].clone(), o["type_uid"].clone()), (json!(4001), json!(400101)));
    assert_eq!(o["src_endpoint"], json!({"ip": "10.0.0.5", "port": 52966}));
    assert_eq!(o["dst_endpoint"], json!({"ip": "10.0.0.7", "port": 443}));
    assert_eq!(o["connection_info"]["direction_id"], 2);
    assert_eq!(o["connection_info"]["protocol_num"], 6);
    assert_eq!(o["connection_info"]["protocol_ver_id"], 4);
    assert_eq!(o["actor"]["process"]["pid"], 31846);
    assert_eq!(o["metadata"]["profiles"], json!(["host"]));
    assert_eq!(o["unmapped"]["palisade"]["network"]["hook"], "tcp_state");

    let failed = only(&connect(json!({"network": {"result": "failed"}})));
    assert_eq!(failed["activity_name"], "Fail");

    let accept = only(&record(
        "network_accept",
        json!({"network": {"family": "ipv6", "protocol": "tcp", "direction": "inbound",
                           "daddr": "fd00::7", "dport": 40000, "saddr": "fd00::5", "sport": 8443, "hook": "tcp_state"}}),
    ));
    assert_eq!(accept["src_endpoint"], json!({"ip": "fd00::7", "port": 40000}));
    assert_eq!(accept["dst_endpoint"], json!({"ip": "fd00::5", "port": 8443}));
    assert_eq!(accept["connection_info"]["direction_id"], 1);
    assert_eq!(accept["connection_info"]["protocol_ver_id"], 6);

    // As the kernel reports a listen: the peer is the wildcard, port 0.
    let listen = only(&record(
        "network_listen",
        json!({"network": {"family": "ipv4", "protocol": "tcp", "direction": "listen",
                           "daddr": "0.0.0.0", "dport": 0, "saddr": "127.0.0.1", "sport": 46935, "hook": "tcp_state"}}),
    ));
    assert_eq!(
        (listen["activity_id"].clone(), listen["activity_name"].clone()),
        (json!(99), json!("Listen"))
    );
    assert!(listen.get("type_name").is_none());
    assert_eq!(listen["src_endpoint"], json!({"ip": "0.0.0.0"}));
    assert_eq!(listen["dst_endpoint"], json!({"ip": "127.0.0.1", "port": 46935}));
}

/// A node without a proper host name (a VM says `(none)`) is named, not
/// given an invalid `hostname`.
#[test]
fn a_node_name_that_is_no_hostname_goes_to_name() {
    let o = only(&record("process_exec", json!({"node": "(none)"})));
    assert_eq!(o["device"], json!({"name": "(none)", "type_id": 0}));
}

#[test]
fn an_unbound_udp_send_has_the_node_as_its_source() {
    let o = only(&connect(json!({"network": {"protocol": "udp", "saddr": null, "sport": null,
                                             "hook": "sendmsg", "result": null, "repeats": 4}})));
    assert_eq!(o["src_endpoint"], json!({"hostname": "node-1"}));
    assert_eq!(o["connection_info"]["protocol_num"], 17);
    assert_eq!(o["count"], 4);
}

#[test]
fn a_denied_connect_is_refused_and_found() {
    let r = connect(
        json!({"network": {"daddr": "169.254.169.254", "dport": 80, "hook": "connect", "result": null, "saddr": null, "sport": null},
                           "decision": alert("block", json!({"mechanism": "cgroup-sock-addr", "result": "denied", "rule": "PAL-011"}))}),
    );
    let events = ocsf(&r);
    let (activity, finding) = (&events[0], &events[1]);
    assert_eq!(activity["type_uid"], 400105);
    assert_eq!(activity["activity_name"], "Refuse");
    assert_eq!(
        (activity["action"].clone(), activity["disposition"].clone()),
        (json!("Denied"), json!("Blocked"))
    );
    assert_eq!(activity["metadata"]["profiles"], json!(["host", "security_control"]));
    assert_eq!(finding["evidences"][0]["dst_endpoint"]["ip"], "169.254.169.254");
    assert_eq!(finding["evidences"][0]["connection_info"]["protocol_name"], "tcp");
    assert_eq!(finding["actor"]["process"]["pid"], 31846);
    assert_eq!(finding["finding_info"]["related_events"][0]["type_uid"], 400105);
}

#[test]
fn a_packet_socket_refused_or_its_caller_killed_is_a_refused_network_activity() {
    let socket = |mechanism: &str, result: &str| {
        record(
            "network_socket",
            json!({"socket": {"family": "packet", "type": "raw", "protocol": 768, "ethertype": "0x0003"},
                   "decision": alert("block", json!({"mechanism": mechanism, "result": result, "rule": "PAL-011"}))}),
        )
    };
    for (mechanism, result, activity_id) in
        [("bpf-lsm", "denied", 5), ("sigkill-at-syscall", "killed", 5), ("none", "reported", 1)]
    {
        for r in [socket(mechanism, result), in_pod(socket(mechanism, result))] {
            let events = ocsf(&r);
            let activity = &events[0];
            assert_eq!(activity["class_uid"], 4001, "{activity:#}");
            assert_eq!(activity["activity_id"], activity_id, "{mechanism}");
            assert_eq!(activity["connection_info"]["protocol_name"], "packet");
            assert!(activity["connection_info"].get("protocol_num").is_none());
            assert_eq!(activity["src_endpoint"]["hostname"], "node-1");
            assert_eq!(activity["unmapped"]["palisade"]["socket"]["ethertype"], "0x0003");
            assert_eq!(activity["actor"]["process"]["pid"], 31846);
            assert_eq!(events[1]["class_uid"], 2004, "an alert has its finding");
        }
    }
    let killed = ocsf(&socket("sigkill-at-syscall", "killed")).remove(0);
    assert_eq!(
        (killed["action"].clone(), killed["disposition"].clone()),
        (json!("Denied"), json!("Blocked"))
    );
}

#[test]
fn an_exception_use_is_a_base_event_and_the_excepted_exec_allowed() {
    let exception = json!({"exception": "EX-1", "rule": "PAL-004", "owner": "sre@example.com",
                           "reason": "probe", "expires": "2099-01-01T00:00:00Z"});
    let audit = json!({
        "schema": "palisade.event/v1", "id": "426d6a03-0000182a6fdbe9af-7c66-1-exception-EX-1",
        "time": "2026-12-03T02:11:26.770000000Z", "node": "node-1", "kind": "exception_used",
        "event_id": "426d6a03-0000182a6fdbe9af-7c66-1", "bundle": "30a45ea2f097",
        "exception": exception, "process": {"pid": 31846, "binary": "/usr/bin/nc"},
    });
    let o = only(&audit);
    assert_eq!((o["class_uid"].clone(), o["type_uid"].clone()), (json!(0), json!(99)));
    assert_eq!(o["activity_name"], "Exception Used");
    assert_eq!(o["message"], "exception EX-1 suppressed rule PAL-004 for pid 31846 (/usr/bin/nc)");
    assert_eq!(o["unmapped"]["palisade"]["exception"], exception);
    assert_eq!(o["unmapped"]["palisade"]["event_id"], audit["event_id"]);

    // The exec it let through: allowed, no finding.
    let excepted = record(
        "process_exec",
        json!({"decision": {"action": "allow", "matched": [], "mode": "enforce",
                            "suppressed": [{"exception": "EX-1", "owner": "sre@example.com", "rule": "PAL-004"}],
                            "would_block": false, "bundle": "30a45ea2f097"}}),
    );
    let o = only(&excepted);
    assert_eq!((o["action_id"].clone(), o["disposition_id"].clone()), (json!(1), json!(1)));
    assert_eq!(o["unmapped"]["palisade"]["decision"]["suppressed"][0]["exception"], "EX-1");
}

#[test]
fn a_containers_records_carry_the_container_under_the_process() {
    let exec = in_pod(record("process_exec", json!({})));
    let o = only(&exec);
    assert_eq!(o["metadata"]["profiles"], json!(["container"]));
    assert!(o.get("container").is_none(), "in 1.x the container is the process's");
    let c = &o["process"]["container"];
    assert_eq!(c["uid"], exec["container"]["id"]);
    assert_eq!((c["name"].clone(), c["runtime"].clone()), (json!("app"), json!("containerd")));
    assert_eq!(
        c["image"],
        json!({"uid": "registry.example:5000/team/app:1.2", "name": "registry.example:5000/team/app", "tag": "1.2"})
    );
    assert_eq!(
        (c["orchestrator"].clone(), c["pod_uuid"].clone()),
        (json!("Kubernetes"), exec["pod"]["uid"].clone())
    );
    assert_eq!(o["unmapped"]["palisade"]["pod"]["namespace"], "payments");

    // A connect and its alert in the container; a plain runc container
    // (no pod, no image).
    let r = in_pod(connect(
        json!({"decision": alert("block", json!({"mechanism": "cgroup-sock-addr", "result": "denied"}))}),
    ));
    let events = ocsf(&r);
    assert_eq!(events[0]["metadata"]["profiles"], json!(["host", "container", "security_control"]));
    assert_eq!(events[1]["evidences"][0]["process"]["container"]["uid"], r["container"]["id"]);
    let mut runc = in_pod(record("process_exit", json!({"exit": {"code": 0, "duration_ns": 1}})));
    merge(
        &mut runc,
        json!({"pod": null, "container": {"runtime": "runc", "name": null, "image": null}}),
    );
    let o = only(&runc);
    assert_eq!(
        o["process"]["container"],
        json!({"uid": runc["container"]["id"], "runtime": "runc"})
    );
}

#[test]
fn digests_are_image_uids_and_bytes_that_are_not_text_are_read_as_text() {
    assert_eq!(image("quay.io/acme/api@sha256:abc").uid, "sha256:abc");
    assert_eq!(image("busybox").tag, None);
    let r = record(
        "process_exec",
        json!({"process": {"args": ["cat", {"base64": "/w==", "text": "\u{fffd}"}]}}),
    );
    assert_eq!(only(&r)["process"]["cmd_line"], "cat \u{fffd}");
}

#[test]
fn a_record_that_does_not_read_is_exported_whole() {
    let broken = json!({"id": "x", "time": "2026-12-03T02:11:26Z", "node": "n", "kind": "process_exec", "process": {"pid": "seven"}});
    let o = only(&broken);
    assert_eq!(o["class_uid"], 0);
    assert_eq!(o["unmapped"]["palisade"]["record"], broken);
}

#[test]
fn file_events_are_file_system_activity_by_the_caller() {
    let read = only(&record(
        "file_open",
        json!({"file": {"path": "/etc/shadow", "access": "read", "syscall": "openat", "result": "failed", "errno": 13}}),
    ));
    assert_eq!((read["class_uid"].clone(), read["activity_id"].clone()), (json!(1001), json!(14)));
    assert_eq!(read["file"], json!({"name": "shadow", "path": "/etc/shadow", "type_id": 0}));
    assert_eq!(read["actor"]["process"]["pid"], 31846);
    assert_eq!(read["unmapped"]["palisade"]["file"]["errno"], 13);

    let rename = only(&record(
        "file_rename",
        json!({"file": {"path": "/tmp/k", "new_path": "/root/.ssh/authorized_keys", "syscall": "renameat2", "result": "ok"}}),
    ));
    assert_eq!(rename["activity_id"], 5);
    assert_eq!(rename["file_result"]["path"], "/root/.ssh/authorized_keys");

    let mut chmod = record(
        "file_chmod",
        json!({"file": {"path": "/etc/cron.d/job", "mode": "0755", "syscall": "fchmodat", "result": "ok"}}),
    );
    chmod["decision"] = alert("alert", json!({"mechanism": "none", "result": "reported"}));
    let events = ocsf(&chmod);
    assert_eq!(
        (
            events[0]["class_uid"].clone(),
            events[0]["activity_id"].clone(),
            events[1]["class_uid"].clone()
        ),
        (json!(1001), json!(7), json!(2004))
    );
    let unlink = only(&in_pod(record(
        "file_unlink",
        json!({"file": {"path": "/etc/ld.so.preload", "syscall": "unlinkat", "result": "ok"}}),
    )));
    assert_eq!(unlink["activity_id"], 4);
}

#[test]
fn a_kind_without_a_class_is_a_base_event_even_with_a_decision() {
    let mut r = record("process_fork", json!({}));
    r["decision"] = alert("alert", json!({"mechanism": "none", "result": "reported"}));
    let events = ocsf(&r);
    assert_eq!(
        (events[0]["class_uid"].clone(), events[1]["class_uid"].clone()),
        (json!(0), json!(2004))
    );
    assert!(events[0].get("action_id").is_none());
    assert_eq!(events[0]["unmapped"]["palisade"]["decision"]["matched"][0]["rule"], "PAL-004");
}

/// Through the exporter: an alert in a cluster is two lines of the OCSF
/// file, both valid, the finding after its activity.
#[test]
fn the_exporter_writes_an_alert_as_its_activity_then_its_finding() {
    let dir = crate::test_support::scratch("ocsf-exporter");
    let path = dir.join("ocsf.jsonl");
    let spec = format!("file,path={},format=ocsf", path.display());
    let specs = [crate::export::spec::parse(&spec).unwrap()];
    let origin = crate::event::Origin {
        node: "node-1".into(),
        cluster: Some("prod-eu"),
        boot_id: "b".into(),
        clock: crate::event::Clock::new(),
    };
    let redactor = crate::redact::Redactor::new(&[], &[], false).unwrap();
    let mut exporter = crate::export::Exporter::start(&specs, &origin, redactor).unwrap();
    let mut event = crate::test_support::event("process_exec");
    event.cluster = Some("prod-eu");
    event.process.pid = 7;
    event.process.binary = crate::model::bytes::Bytes(b"/usr/bin/nc".to_vec());
    let decision = alert("alert", json!({"mechanism": "none", "result": "reported"}));
    event.decision = Some(serde_json::from_value(decision).unwrap());
    exporter.export_event(event, &[]);
    exporter.stop();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{text}");
    let schema = validator::Schema::vendored();
    for line in &lines {
        let report = schema.validate(line, false);
        assert!(report.is_clean(), "{report:#?}\n{line:#}");
        assert_eq!(line["unmapped"]["palisade"]["cluster"], "prod-eu");
    }
    assert_eq!(
        (lines[0]["class_uid"].clone(), lines[1]["class_uid"].clone()),
        (json!(1007), json!(2004))
    );
    assert_eq!(lines[1]["metadata"]["uid"], "test-1-finding");
    let _ = std::fs::remove_dir_all(&dir);
}
