//! The native record as an OCSF 1.1 event, for data lakes that take OCSF:
//! execs and exits as Process Activity (1007), connects, accepts and listens
//! as Network Activity (4001), anything else as a Base Event (0). The
//! policy's decision maps to the Security Control profile (`action_id`,
//! `disposition_id`, `attacks`); what OCSF has no place for (pod, bundle,
//! the full decision, drift) goes under `unmapped.palisade`.

use serde_json::{Map, Value, json};

use super::filter::severity_index;
use crate::policy::{decision::Decision, enforce::Effect};

pub const VERSION: &str = "1.1.0";

const PROCESS_ACTIVITY: u64 = 1007;
const NETWORK_ACTIVITY: u64 = 4001;

/// Converts one native record, whose decision is `decision`.
pub fn convert(record: &Value, decision: Option<&Decision>) -> Value {
    let kind = record["kind"].as_str().unwrap_or("");
    let (class_uid, class_name, category_uid, category_name, activity_id, activity_name) =
        match kind {
            "process_exec" => {
                (PROCESS_ACTIVITY, "Process Activity", 1, "System Activity", 1, "Launch")
            }
            "process_exit" => {
                (PROCESS_ACTIVITY, "Process Activity", 1, "System Activity", 2, "Terminate")
            }
            "network_connect" | "network_accept" | "network_listen" => {
                let (id, name) = network_activity(record, decision);
                (NETWORK_ACTIVITY, "Network Activity", 4, "Network Activity", id, name)
            }
            _ => (0, "Base Event", 0, "Uncategorized", 99, "Other"),
        };
    let mut out = Map::new();
    out.insert("class_uid".into(), json!(class_uid));
    out.insert("class_name".into(), json!(class_name));
    out.insert("category_uid".into(), json!(category_uid));
    out.insert("category_name".into(), json!(category_name));
    out.insert("activity_id".into(), json!(activity_id));
    out.insert("activity_name".into(), json!(activity_name));
    out.insert("type_uid".into(), json!(class_uid * 100 + activity_id));
    out.insert("time".into(), json!(epoch_ms(&record["time"])));
    out.insert(
        "metadata".into(),
        json!({
            "version": VERSION,
            "uid": record["id"],
            "original_time": record["time"],
            "log_name": kind,
            "product": {"name": "Palisade", "vendor_name": "Palisade", "version": env!("CARGO_PKG_VERSION")},
            "profiles": ["security_control", "container"],
        }),
    );
    out.insert("device".into(), json!({"hostname": record["node"], "type_id": 0}));
    let process = process(&record["process"], record);
    let severity = decision.and_then(highest_severity);
    out.insert("severity_id".into(), json!(severity.map_or(1, |s| u64::from(s) + 2)));
    match class_uid {
        PROCESS_ACTIVITY => {
            if let Some(code) = record.pointer("/exit/code") {
                out.insert("exit_code".into(), code.clone());
            }
            out.insert("process".into(), process.clone());
            out.insert("actor".into(), json!({"process": parent(&record["process"])}));
        }
        NETWORK_ACTIVITY => {
            let net = &record["network"];
            let local = endpoint(&net["saddr"], &net["sport"]);
            let remote = endpoint(&net["daddr"], &net["dport"]);
            let inbound = net["direction"] == "inbound" || net["direction"] == "listen";
            let (src, dst) = if inbound { (remote, local) } else { (local, remote) };
            out.insert("src_endpoint".into(), src);
            out.insert("dst_endpoint".into(), dst);
            out.insert(
                "connection_info".into(),
                json!({
                    "protocol_name": net["protocol"],
                    "protocol_num": match net["protocol"].as_str() { Some("tcp") => 6, Some("udp") => 17, _ => 0 },
                    "protocol_ver_id": match net["family"].as_str() { Some("ipv4") => 4, Some("ipv6") => 6, _ => 0 },
                    "direction_id": match net["direction"].as_str() { Some("inbound") => 1, Some("outbound") => 2, _ => 0 },
                }),
            );
            if let Some(n) = net["repeats"].as_u64() {
                out.insert("count".into(), json!(n));
            }
            out.insert("actor".into(), json!({"process": process}));
        }
        _ => {
            out.insert("actor".into(), json!({"process": process}));
        }
    }
    if let Some(container) = container(record) {
        out.insert("container".into(), container);
    }
    if let Some(decision) = decision {
        security_control(&mut out, decision);
    }
    let mut unmapped = Map::new();
    for key in ["pod", "bundle", "decision", "host", "exception", "event_id"] {
        if !record[key].is_null() {
            unmapped.insert(key.into(), record[key].clone());
        }
    }
    if let Some(drift) = record.pointer("/process/exe/drift") {
        unmapped.insert("drift".into(), drift.clone());
    }
    unmapped.insert("kind".into(), json!(kind));
    out.insert("unmapped".into(), json!({"palisade": unmapped}));
    Value::Object(out)
}

fn network_activity(record: &Value, decision: Option<&Decision>) -> (u64, &'static str) {
    let denied =
        decision.and_then(|d| d.enforcement.as_ref()).is_some_and(|e| e.result == Effect::Denied);
    match (record["kind"].as_str(), record.pointer("/network/result").and_then(Value::as_str)) {
        _ if denied => (5, "Refuse"),
        (Some("network_listen"), _) => (99, "Listen"),
        (_, Some("failed")) => (4, "Fail"),
        _ => (1, "Open"),
    }
}

fn process(p: &Value, record: &Value) -> Value {
    let binary = p["binary"].as_str().unwrap_or("");
    let name = binary.rsplit('/').next().unwrap_or(binary);
    let cmd_line = p["args"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "));
    let mut out = json!({
        "pid": p["pid"],
        "name": if name.is_empty() { p["comm"].clone() } else { json!(name) },
        "file": {"path": binary, "name": name, "type_id": 1},
        "user": {"uid": p["uid"].as_u64().map(|u| u.to_string())},
        "parent_process": parent(p),
    });
    let obj = out.as_object_mut().expect("built as an object");
    if let Some(cmd) = cmd_line {
        obj.insert("cmd_line".into(), json!(cmd));
    }
    if let Some(cwd) = p["cwd"].as_str() {
        obj.insert("working_directory".into(), json!(cwd));
    }
    if let Some(ms) = epoch_ms(&p["start_time"]) {
        obj.insert("created_time".into(), json!(ms));
    }
    if let Some(c) = container(record) {
        obj.insert("container".into(), c);
    }
    out
}

fn parent(p: &Value) -> Value {
    let parent = p.pointer("/ancestors/0");
    json!({
        "pid": p["ppid"],
        "file": parent.map(|a| json!({"path": a["binary"], "type_id": 1})),
    })
}

fn container(record: &Value) -> Option<Value> {
    let c = record.get("container")?;
    Some(json!({
        "uid": c["id"],
        "name": c["name"],
        "image": {"name": c["image"]},
        "runtime": c["runtime"],
    }))
}

fn endpoint(ip: &Value, port: &Value) -> Value {
    let mut out = Map::new();
    if !ip.is_null() {
        out.insert("ip".into(), ip.clone());
    }
    if !port.is_null() {
        out.insert("port".into(), port.clone());
    }
    Value::Object(out)
}

/// The Security Control profile: what was done, and the ATT&CK techniques.
fn security_control(out: &mut Map<String, Value>, decision: &Decision) {
    let enforced = decision.enforcement.as_ref().map(|e| e.result);
    let (action_id, disposition_id) = match enforced {
        Some(Effect::Denied | Effect::Killed) => (2, 2),
        _ if !decision.matched.is_empty() => (1, 15),
        _ => (1, 1),
    };
    out.insert("action_id".into(), json!(action_id));
    out.insert("disposition_id".into(), json!(disposition_id));
    let attacks: Vec<Value> = (decision.matched.iter())
        .filter_map(|m| m.mitre.as_deref())
        .map(|t| json!({"technique": {"uid": t}, "version": "14"}))
        .collect();
    if !attacks.is_empty() {
        out.insert("attacks".into(), json!(attacks));
    }
}

/// The most severe matched rule's severity index.
pub fn highest_severity(decision: &Decision) -> Option<u8> {
    decision.matched.iter().filter_map(|m| severity_index(m.severity.as_deref()?)).max()
}

/// RFC 3339 → milliseconds since the epoch.
fn epoch_ms(time: &Value) -> Option<u64> {
    let ns = crate::model::time::parse_rfc3339_ns(time.as_str()?)?;
    u64::try_from(ns / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_denied_connect_is_a_refused_network_activity_with_its_technique() {
        let decision = json!({
            "matched": [{"rule": "PAL-011", "severity": "high", "mitre": "T1552.005",
                         "action": "block", "mode": "enforce", "message": "metadata service"}],
            "action": "block", "enforcement": {"mechanism": "cgroup-sock-addr", "result": "denied"},
        });
        let record = json!({
            "schema": "palisade.event/v1", "id": "ab-1", "time": "2026-11-24T13:22:32.910797240Z",
            "node": "n1", "kind": "network_connect",
            "process": {"pid": 7, "ppid": 1, "uid": 0, "binary": "/usr/bin/curl",
                        "args": ["curl", "http://169.254.169.254/"], "start_time": "2026-11-24T13:22:32Z",
                        "ancestors": [{"pid": 1, "binary": "/sbin/init"}]},
            "network": {"family": "ipv4", "protocol": "tcp", "direction": "outbound",
                        "daddr": "169.254.169.254", "dport": 80},
            "decision": decision,
        });
        let decision: Decision = serde_json::from_value(decision).unwrap();
        let o = convert(&record, Some(&decision));
        assert_eq!(o["class_uid"], 4001);
        assert_eq!(o["type_uid"], 400105);
        assert_eq!(o["activity_name"], "Refuse");
        assert_eq!(o["time"], 1_795_526_552_910u64);
        assert_eq!(o["dst_endpoint"]["ip"], "169.254.169.254");
        assert_eq!(o["actor"]["process"]["cmd_line"], "curl http://169.254.169.254/");
        assert_eq!(o["severity_id"], 4);
        assert_eq!(o["disposition_id"], 2);
        assert_eq!(o["attacks"][0]["technique"]["uid"], "T1552.005");
        assert_eq!(o["metadata"]["uid"], "ab-1");
    }
}
