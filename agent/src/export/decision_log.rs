//! OPA decision logs: one event per judged record in OPA's decision-log
//! format (`decision_id`, `path`, `input`, `result`, `timestamp`,
//! `bundles` with the revision, `labels`), so the tools that read OPA's
//! logs read Palisade's. Sent by the webhook transport as OPA sends them: a
//! gzipped JSON array per request, through the spool (at least once).
//!
//! Masking erases fields before anything is spooled: each mask is a JSON
//! pointer under `/input` or `/result`; an erased field is listed in the
//! entry's `erased`, as OPA does.

use serde_json::{Value, json};

use crate::{event::Event, policy::ENTRY_POINT};

/// The decision's path as OPA's logs name it: the entry point's rule, as
/// slashes, without `data.`.
fn decision_path() -> String {
    ENTRY_POINT.trim_start_matches("data.").replace('.', "/")
}

/// A mask's pointer is checked once, when the sink is parsed.
pub fn check_mask(pointer: &str) -> Result<(), String> {
    let under = |root: &str| {
        pointer.strip_prefix(root).is_some_and(|rest| rest.len() > 1 && rest.starts_with('/'))
    };
    if under("/input") || under("/result") {
        Ok(())
    } else {
        Err(format!("mask `{pointer}` must be a JSON pointer under /input/ or /result/"))
    }
}

/// The decision-log entry of `event` (None when no decision was made for
/// it), with `masks` erased.
pub fn entry(event: &Event, origin: &crate::event::Origin, masks: &[String]) -> Option<Value> {
    let decision = event.decision.as_ref()?;
    let mut input = serde_json::to_value(event).ok()?;
    if let Some(fields) = input.as_object_mut() {
        fields.remove("decision");
    }
    let mut labels = json!({
        "app": "palisade",
        "id": origin.node,
        "version": env!("CARGO_PKG_VERSION"),
    });
    if let Some(cluster) = origin.cluster {
        labels["cluster"] = cluster.into();
    }
    let mut entry = json!({
        "labels": labels,
        "decision_id": event.id,
        "path": decision_path(),
        "input": input,
        "result": decision,
        "timestamp": event.time,
    });
    if let Some(revision) = &decision.revision {
        entry["bundles"] = json!({"palisade": {"revision": revision}});
    }
    let erased: Vec<&String> = masks.iter().filter(|m| erase(&mut entry, m)).collect();
    if !erased.is_empty() {
        entry["erased"] = json!(erased);
    }
    Some(entry)
}

/// Removes the field at `pointer`; whether there was one.
fn erase(entry: &mut Value, pointer: &str) -> bool {
    let Some((parent, key)) = pointer.rsplit_once('/') else { return false };
    let key = key.replace("~1", "/").replace("~0", "~");
    match entry.pointer_mut(parent) {
        Some(Value::Object(fields)) => fields.remove(&key).is_some(),
        Some(Value::Array(items)) => match key.parse::<usize>() {
            Ok(i) if i < items.len() => {
                items.remove(i);
                true
            }
            _ => false,
        },
        _ => false,
    }
}

/// A spooled batch (JSON lines) as OPA's request body: one JSON array.
pub fn json_array(lines: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(lines.len() + 2);
    body.push(b'[');
    for (i, line) in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()).enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(line);
    }
    body.push(b']');
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged() -> Event {
        let mut event = crate::test_support::event("process_exec");
        event.decision = Some(crate::policy::decision::Decision {
            revision: Some("r7".into()),
            ..crate::policy::decision::Decision::nothing_matched(
                crate::policy::decision::Mode::Audit,
            )
        });
        event
    }

    #[test]
    fn an_entry_has_opas_fields_and_erases_what_is_masked() {
        let event = judged();
        let origin = crate::test_support::origin();
        let masks = vec!["/input/process/args".to_string(), "/input/absent".to_string()];
        let entry = entry(&event, &origin, &masks).unwrap();
        assert_eq!(entry["path"], "palisade/main/decision");
        assert_eq!(entry["decision_id"], event.id.as_str());
        assert_eq!(entry["timestamp"], event.time.to_string().as_str());
        assert_eq!(entry["bundles"]["palisade"]["revision"], "r7");
        assert_eq!(entry["result"]["mode"], "audit");
        assert!(entry["input"].get("decision").is_none(), "the input is what the policy saw");
        assert_eq!(entry["input"]["kind"], "process_exec");
        assert!(entry["input"]["process"].get("args").is_none(), "{entry:#}");
        assert_eq!(entry["erased"], json!(["/input/process/args"]));
        assert_eq!(entry["labels"]["app"], "palisade");
    }

    #[test]
    fn no_entry_without_a_decision_and_masks_are_checked() {
        let mut event = judged();
        event.decision = None;
        assert!(entry(&event, &crate::test_support::origin(), &[]).is_none());
        assert!(check_mask("/input/process/args").is_ok());
        assert!(check_mask("/result/matched").is_ok());
        for bad in ["/input", "/inputs/x", "input/x", "/labels/id", ""] {
            assert!(check_mask(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_batch_of_lines_becomes_one_array() {
        assert_eq!(json_array(b"{\"a\":1}\n{\"b\":2}\n"), b"[{\"a\":1},{\"b\":2}]");
        assert_eq!(json_array(b""), b"[]");
        let parsed: Value = serde_json::from_slice(&json_array(b"{\"a\":1}\n")).unwrap();
        assert_eq!(parsed, json!([{"a": 1}]));
    }
}
