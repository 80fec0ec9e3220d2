//! An event as the policy's input: a JSON value read into regorus's
//! `Value`, directly. `Value::deserialize` goes through serde's visitor,
//! which copies every string twice (to a `String`, then to the shared
//! `str`) and checks a memory limit per entry; this runs once per judged
//! event, on the agent's hot path.

use std::collections::BTreeMap;

use regorus::Value;
use serde::Deserialize as _;
use serde_json::Value as Json;

/// The same value `Value::deserialize(json)` makes.
pub fn from_json(json: &Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Value::from(u),
            (None, Some(i), _) => Value::from(i),
            (None, None, Some(f)) => Value::from(f),
            // Not reachable without serde_json's arbitrary precision.
            _ => Value::deserialize(json).unwrap_or(Value::Undefined),
        },
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => Value::from(items.iter().map(from_json).collect::<Vec<_>>()),
        Json::Object(fields) => Value::from(
            fields
                .iter()
                .map(|(k, v)| (Value::from(k.as_str()), from_json(v)))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{bundle::Bundle, load::compile};

    fn same_as_serde(json: &Json) {
        let expected = Value::deserialize(json).unwrap();
        assert_eq!(from_json(json), expected, "{json}");
    }

    #[test]
    fn reads_every_sample_event_as_serde_does() {
        let policy = compile(&Bundle::embedded()).unwrap();
        assert!(!policy.sources.samples.is_empty());
        for sample in &policy.sources.samples {
            same_as_serde(sample);
        }
    }

    #[test]
    fn reads_numbers_strings_and_empty_containers_as_serde_does() {
        let json = serde_json::json!({
            "u": u64::MAX, "i": i64::MIN, "f": 0.25, "neg": -3, "zero": 0,
            "s": "é\u{0}\"", "empty_object": {}, "empty_array": [],
            "nested": [[{"a": null, "b": true}], {"": false}],
        });
        same_as_serde(&json);
    }
}
