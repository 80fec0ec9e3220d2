//! Leaf types the rest of the agent shares: byte strings as JSON and RFC 3339
//! timestamps. Nothing here depends on another module of the crate.

pub mod bytes;
pub mod time;
