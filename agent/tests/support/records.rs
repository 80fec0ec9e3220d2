//! Exported records as the agent writes them, built by tests that need
//! files of records without running the agent: each follows
//! schema/event.schema.json exactly, and [`write`] validates every record
//! against it before writing, so a record that drifts from the schema fails
//! the test that wrote it.

use std::{
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

use serde_json::{Value, json};

pub const NS: i128 = 1_000_000_000;
pub const MINUTE: i128 = 60 * NS;
pub const DAY: i128 = 86_400 * NS;

pub fn now_ns() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i128
}

/// RFC 3339 with nanoseconds, UTC, as the agent writes `time`.
pub fn rfc3339(ns: i128) -> String {
    let (secs, nanos) = (ns.div_euclid(NS), ns.rem_euclid(NS));
    let (days, sod) = (secs.div_euclid(86_400) as i64, secs.rem_euclid(86_400));
    let (year, month, day) = super::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

pub const BUNDLE_DIGEST: &str = "0123456789ab";

/// Where a process ran.
#[derive(Clone, Copy)]
pub enum Place {
    Host,
    Pod { namespace: &'static str, image: &'static str },
}

/// An exec record as the agent exports it, with `decision`.
pub fn exec(
    id: &str,
    ns: i128,
    place: Place,
    binary: &str,
    args: &[&str],
    decision: Value,
) -> Value {
    let mut e = json!({
        "schema": "palisade.event/v1",
        "id": id,
        "time": rfc3339(ns),
        "node": "node-a",
        "kind": "process_exec",
        "process": {
            "pid": 4242, "ppid": 1, "uid": 0, "gid": 0,
            "binary": binary, "args": args, "cwd": "/",
            "cgroup_id": 77, "start_time": rfc3339(ns - NS),
            "ancestors": [{"pid": 1, "binary": "/sbin/init"}]
        },
        "bundle": BUNDLE_DIGEST,
        "decision": decision,
    });
    match place {
        Place::Host => e["host"] = json!(true),
        Place::Pod { namespace, image } => {
            e["container"] = json!({
                "id": format!("{:0>64}", namespace.len()),
                "runtime": "containerd",
                "name": "app",
                "image": image,
                "cgroup": "/kubepods.slice/kubepods-pod1.slice/cri-containerd-1.scope"
            });
            e["pod"] = json!({
                "uid": format!("uid-{namespace}"), "name": format!("{namespace}-0"),
                "namespace": namespace, "labels": {"app": namespace}, "labels_available": true
            });
        }
    }
    e
}

pub fn matched(rule: &str, action: &str, mode: &str) -> Value {
    json!({"rule": rule, "title": format!("title of {rule}"), "severity": "high", "mitre": "T1059",
           "action": action, "mode": mode, "message": format!("{rule} matched")})
}

pub fn decision(
    actor: &str,
    action: &str,
    mode: &str,
    matches: Vec<Value>,
    suppressed: Vec<Value>,
) -> Value {
    let would_block =
        mode == "audit" && matches.iter().any(|m| m["action"] == "block" || m["action"] == "kill");
    json!({"action": action, "actor": actor, "bundle": BUNDLE_DIGEST, "matched": matches,
           "mode": mode, "suppressed": suppressed, "would_block": would_block})
}

pub fn suppression(rule: &str, exception: &str) -> Value {
    json!({"rule": rule, "exception": exception, "owner": "platform@example.com",
           "reason": "build deps", "expires": "2099-01-01T00:00:00Z"})
}

/// The audit record the agent writes beside an event an exception spared.
pub fn exception_used(event_id: &str, ns: i128, rule: &str, exception: &str) -> Value {
    json!({
        "schema": "palisade.event/v1", "id": format!("{event_id}-exception-{exception}"),
        "time": rfc3339(ns), "node": "node-a", "kind": "exception_used",
        "event_id": event_id, "bundle": BUNDLE_DIGEST,
        "exception": suppression(rule, exception),
        "process": {"pid": 4242, "binary": "/usr/bin/apt-get"}
    })
}

/// The native event schema, compiled.
pub fn validator() -> jsonschema::Validator {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/event.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

/// Writes `records` as JSON lines, each checked against the event schema,
/// then `extra` as it is.
pub fn write(path: &Path, records: &[Value], extra: &str) {
    let validator = validator();
    let mut text = String::new();
    for r in records {
        let errors: Vec<String> = validator.iter_errors(r).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "test record breaks the schema: {errors:?}\n{r}");
        text += &r.to_string();
        text.push('\n');
    }
    text += extra;
    std::fs::write(path, text).unwrap();
}
