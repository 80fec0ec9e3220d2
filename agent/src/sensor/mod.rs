//! From the kernel's ring buffer to decoded records.

pub mod decode;
pub mod drops;
pub mod reader;
