//! Protobuf encoding of the OTLP messages the sink writes itself, straight
//! into a buffer: a LogRecord's attributes and body borrow the record's
//! fields rather than being copied into the generated types' `String`s
//! (allocating a key and a value per attribute was most of the sink's cost
//! per record). The encoding is prost's (`prost::encoding`); the field
//! numbers are opentelemetry-proto's (`logs.proto`, `common.proto`); unit
//! tests decode what is written here as the generated types.

use std::borrow::Cow;

use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

// ExportLogsServiceRequest, ResourceLogs, ScopeLogs.
pub const REQUEST_RESOURCE_LOGS: u32 = 1;
pub const RESOURCE_LOGS_RESOURCE: u32 = 1;
pub const RESOURCE_LOGS_SCOPE_LOGS: u32 = 2;
pub const SCOPE_LOGS_SCOPE: u32 = 1;
pub const SCOPE_LOGS_LOG_RECORDS: u32 = 2;

// LogRecord.
pub const TIME_UNIX_NANO: u32 = 1;
pub const SEVERITY_NUMBER: u32 = 2;
pub const SEVERITY_TEXT: u32 = 3;
pub const BODY: u32 = 5;
pub const ATTRIBUTES: u32 = 6;
pub const OBSERVED_TIME_UNIX_NANO: u32 = 11;
pub const EVENT_NAME: u32 = 12;

// KeyValue, AnyValue, ArrayValue.
const KEY_VALUE_KEY: u32 = 1;
const KEY_VALUE_VALUE: u32 = 2;
const ANY_STRING: u32 = 1;
const ANY_BOOL: u32 = 2;
const ANY_INT: u32 = 3;
const ANY_ARRAY: u32 = 5;
const ARRAY_VALUES: u32 = 1;

/// An attribute's value (an `AnyValue`), borrowing what it can.
#[derive(Debug, Clone, PartialEq)]
pub enum Any<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Bool(bool),
    Array(Vec<Any<'a>>),
}

impl Any<'_> {
    /// The encoded `AnyValue` message's length.
    fn len(&self) -> usize {
        match self {
            Any::Str(s) => 1 + delimited_len(s.len()),
            Any::Int(i) => 1 + encoded_len_varint(*i as u64),
            Any::Bool(_) => 2,
            Any::Array(values) => 1 + delimited_len(array_len(values)),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Any::Str(s) => bytes_field(out, ANY_STRING, s.as_bytes()),
            Any::Int(i) => {
                encode_key(ANY_INT, WireType::Varint, out);
                encode_varint(*i as u64, out);
            }
            Any::Bool(b) => {
                encode_key(ANY_BOOL, WireType::Varint, out);
                out.push(u8::from(*b));
            }
            Any::Array(values) => {
                header(out, ANY_ARRAY, array_len(values));
                for value in values {
                    header(out, ARRAY_VALUES, value.len());
                    value.write(out);
                }
            }
        }
    }
}

/// The encoded `ArrayValue`'s length.
fn array_len(values: &[Any<'_>]) -> usize {
    values.iter().map(|v| 1 + delimited_len(v.len())).sum()
}

/// A length-delimited field's length after its key: the length's varint
/// and the bytes.
fn delimited_len(len: usize) -> usize {
    encoded_len_varint(len as u64) + len
}

/// A length-delimited field of `len` bytes: its whole encoded length,
/// key included.
pub fn field_len(tag: u32, len: usize) -> usize {
    prost::encoding::key_len(tag) + delimited_len(len)
}

/// A length-delimited field's key and length; its `len` bytes follow.
pub fn header(out: &mut Vec<u8>, tag: u32, len: usize) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
}

/// Field `tag` holding `bytes` (a string, or an encoded message).
pub fn bytes_field(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    header(out, tag, bytes.len());
    out.extend_from_slice(bytes);
}

/// A message's fields, appended to a buffer. Fields holding their default
/// value are left out, as proto3 encoders do.
pub struct Message<'o>(pub &'o mut Vec<u8>);

impl Message<'_> {
    pub fn fixed64(&mut self, tag: u32, value: u64) {
        if value != 0 {
            encode_key(tag, WireType::SixtyFourBit, self.0);
            self.0.extend_from_slice(&value.to_le_bytes());
        }
    }

    pub fn varint(&mut self, tag: u32, value: u64) {
        if value != 0 {
            encode_key(tag, WireType::Varint, self.0);
            encode_varint(value, self.0);
        }
    }

    /// A string field made of `parts` one after the other.
    pub fn string(&mut self, tag: u32, parts: &[&str]) {
        let len = parts.iter().map(|p| p.len()).sum();
        if len > 0 {
            header(self.0, tag, len);
            for part in parts {
                self.0.extend_from_slice(part.as_bytes());
            }
        }
    }

    /// An `AnyValue` field.
    pub fn any(&mut self, tag: u32, value: &Any<'_>) {
        header(self.0, tag, value.len());
        value.write(self.0);
    }

    /// A `KeyValue` field.
    pub fn key_value(&mut self, tag: u32, key: &str, value: &Any<'_>) {
        let value_len = value.len();
        header(self.0, tag, 1 + delimited_len(key.len()) + 1 + delimited_len(value_len));
        bytes_field(self.0, KEY_VALUE_KEY, key.as_bytes());
        header(self.0, KEY_VALUE_VALUE, value_len);
        value.write(self.0);
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::{
        common::v1::{AnyValue, ArrayValue, KeyValue, any_value::Value},
        logs::v1::LogRecord,
    };
    use prost::Message as _;

    use super::*;

    /// Every kind of value, long enough for multi-byte lengths, written
    /// here and by prost, decodes alike.
    #[test]
    fn what_is_written_decodes_as_the_generated_types() {
        let long = "x".repeat(300);
        let values = [
            Any::Str("".into()),
            Any::Str(long.as_str().into()),
            Any::Int(-1),
            Any::Int(1 << 40),
            Any::Bool(true),
            Any::Bool(false),
            Any::Array(vec![]),
            Any::Array(vec![Any::Str("a".into()), Any::Str(long.as_str().into()), Any::Int(7)]),
        ];
        let mut out = Vec::new();
        let mut record = Message(&mut out);
        record.fixed64(TIME_UNIX_NANO, 5);
        record.fixed64(OBSERVED_TIME_UNIX_NANO, 0);
        record.varint(SEVERITY_NUMBER, 17);
        record.string(SEVERITY_TEXT, &["hi", "gh"]);
        record.any(BODY, &Any::Str(long.as_str().into()));
        for (i, value) in values.iter().enumerate() {
            record.key_value(ATTRIBUTES, &format!("k{i}"), value);
        }
        record.string(EVENT_NAME, &["palisade.", "process_exec"]);

        fn generated(value: &Any<'_>) -> AnyValue {
            let value = match value {
                Any::Str(s) => Value::StringValue(s.to_string()),
                Any::Int(i) => Value::IntValue(*i),
                Any::Bool(b) => Value::BoolValue(*b),
                Any::Array(v) => {
                    Value::ArrayValue(ArrayValue { values: v.iter().map(generated).collect() })
                }
            };
            AnyValue { value: Some(value) }
        }
        let expected = LogRecord {
            time_unix_nano: 5,
            severity_number: 17,
            severity_text: "high".into(),
            body: Some(generated(&Any::Str(long.as_str().into()))),
            attributes: (values.iter().enumerate())
                .map(|(i, v)| KeyValue {
                    key: format!("k{i}"),
                    value: Some(generated(v)),
                    ..KeyValue::default()
                })
                .collect(),
            event_name: "palisade.process_exec".into(),
            ..LogRecord::default()
        };
        assert_eq!(LogRecord::decode(&out[..]).unwrap(), expected);
        assert_eq!(out.len(), expected.encoded_len());
    }
}
