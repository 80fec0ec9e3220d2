//! Byte strings in JSON: file names and arguments can hold any bytes.
//!
//! Valid UTF-8 is written as a plain JSON string. Anything else is written as
//! an object `{"base64": "<exact bytes>", "text": "<lossy rendering>"}`: the
//! bytes survive exactly, the object itself marks that the value was not text,
//! and `text` is there for humans.

use std::{borrow::Cow, sync::Arc};

use serde::{Serialize, Serializer, ser::SerializeMap};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    /// As text (the `text` of the JSON form): see [`text`].
    pub fn text(&self) -> Cow<'_, str> {
        text(&self.0)
    }
}

/// `bytes` as text: borrowed when UTF-8, else a copy with U+FFFD for what
/// is not. Checked by `from_utf8` first, much quicker than
/// `from_utf8_lossy` on what is almost always valid.
pub fn text(bytes: &[u8]) -> Cow<'_, str> {
    std::str::from_utf8(bytes).map_or_else(|_| String::from_utf8_lossy(bytes), Cow::Borrowed)
}

/// A byte string shared rather than copied: a process's binary, which the
/// events of each of its descendants name among their ancestors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedBytes(pub Arc<[u8]>);

impl SharedBytes {
    /// As text (the `text` of the JSON form): see [`text`].
    pub fn text(&self) -> Cow<'_, str> {
        text(&self.0)
    }
}

impl Default for SharedBytes {
    fn default() -> Self {
        Self(Arc::from(&[][..]))
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_bytes(&self.0, serializer)
    }
}

impl Serialize for SharedBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_bytes(&self.0, serializer)
    }
}

/// The JSON form of a byte string (see the module's comment).
fn serialize_bytes<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serializer.serialize_str(text),
        Err(_) => {
            let mut map = serializer.serialize_map(Some(2))?;
            map.serialize_entry("base64", &base64(bytes))?;
            map.serialize_entry("text", &text(bytes))?;
            map.end()
        }
    }
}

/// Standard base64 (RFC 4648, with padding).
pub fn base64(data: &[u8]) -> String {
    use base64::{Engine, engine::general_purpose::STANDARD};
    STANDARD.encode(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn text_stays_a_string_and_other_bytes_are_marked() {
        assert_eq!(serde_json::to_string(&Bytes(b"a\nb".to_vec())).unwrap(), r#""a\nb""#);
        assert_eq!(
            serde_json::to_string(&Bytes(b"x\xffy".to_vec())).unwrap(),
            r#"{"base64":"eP95","text":"x�y"}"#
        );
    }
}
