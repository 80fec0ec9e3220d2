//! Reads a typed value (the decision) straight out of regorus's `Value`,
//! as serde_json reads one out of its own: without building a JSON tree
//! of the result first and reading that (issue 20: "a typed decision
//! instead of JSON round-trips").

use std::fmt::Display;

use regorus::Value;
use serde::de::{
    self, Deserializer, IntoDeserializer, Visitor,
    value::{MapDeserializer, SeqDeserializer},
};

/// A deserializer over a borrowed regorus value. `null` and undefined read
/// as unit (and as `None`), a set as a sequence, like its JSON form.
#[derive(Clone, Copy)]
pub struct ValueDeserializer<'a>(pub &'a Value);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Error(String);

impl de::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

impl<'de> Deserializer<'de> for ValueDeserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null | Value::Undefined => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => visitor.visit_u64(u),
                (None, Some(i), _) => visitor.visit_i64(i),
                (None, None, Some(f)) => visitor.visit_f64(f),
                _ => Err(de::Error::custom(format!("number {n:?} out of range"))),
            },
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => seq(items.iter(), visitor),
            Value::Set(items) => seq(items.iter(), visitor),
            Value::Object(fields) => {
                let mut map = MapDeserializer::new(fields.iter().map(|(k, v)| (Self(k), Self(v))));
                let value = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(value)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null | Value::Undefined => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::String(s) => visitor.visit_enum(s.as_ref().into_deserializer()),
            other => Err(de::Error::custom(format!("expected a string, found {other}"))),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple tuple_struct
        map struct identifier ignored_any
    }
}

fn seq<'de, V: Visitor<'de>>(
    items: impl Iterator<Item = &'de Value>,
    visitor: V,
) -> Result<V::Value, Error> {
    let mut seq = SeqDeserializer::new(items.map(ValueDeserializer));
    let value = visitor.visit_seq(&mut seq)?;
    seq.end()?;
    Ok(value)
}

impl<'de> IntoDeserializer<'de, Error> for ValueDeserializer<'de> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::policy::decision::Decision;

    /// Read from regorus's value, a decision is what serde_json reads from
    /// the same JSON: every field, nested records, options absent and null.
    #[test]
    fn a_decision_reads_as_from_json() {
        let texts = [
            r#"{"action": "allow", "matched": [], "mode": "audit", "suppressed": [],
                "would_block": false, "actor": "human"}"#,
            r#"{"action": "kill", "actor": null, "bundle": "b", "revision": "r1",
                "enforcement": {"mechanism": "bpf-lsm", "result": "denied", "rule": "PAL-001",
                                "detail": "d"},
                "error": "e", "mode": "enforce", "would_block": true,
                "matched": [{"action": "block", "message": "m", "mitre": "T1059", "mode": "enforce",
                             "rule": "PAL-001", "severity": "high", "title": "t"},
                            {"action": "alert", "message": "m2", "mode": "audit", "rule": "PAL-002"}],
                "suppressed": [{"exception": "EXC-1", "expires": "2027-01-01T00:00:00Z",
                                "owner": "o", "reason": "why", "rule": "PAL-003"}],
                "unknown": {"ignored": [1, -2, 0.5, {"x": null}]}}"#,
        ];
        for text in texts {
            let from_json: Decision = serde_json::from_str(text).unwrap();
            let value = Value::from_json_str(text).unwrap();
            let from_value = Decision::deserialize(ValueDeserializer(&value)).unwrap();
            assert_eq!(from_value, from_json, "{text}");
        }
    }

    #[test]
    fn what_is_not_a_decision_is_refused_with_the_reason() {
        for (text, reason) in
            [(r#"{"action": "maybe"}"#, "maybe"), (r#"{"action": "allow", "matched": 3}"#, "3")]
        {
            let value = Value::from_json_str(text).unwrap();
            let err = Decision::deserialize(ValueDeserializer(&value)).unwrap_err();
            assert!(err.to_string().contains(reason), "{text}: {err}");
        }
    }
}
