//! Types shared by Palisade's eBPF programs and its userspace agent.
//!
//! Every type that crosses the kernel boundary is `#[repr(C)]`, has no hidden
//! padding (explicit `_pad` fields, integer flags instead of `bool`) and a
//! compile-time size assertion, so both sides agree on the layout byte for byte.
//! Userspace never casts ring-buffer bytes to these types blindly: it checks the
//! length and the kind first (see the agent's `decode` module).
#![no_std]

pub mod enforce;
pub mod names;
pub mod offsets;
pub mod record;

pub use offsets::{CgroupMkdirFormat, KernelOffsets, SockCommonHead, SockV6Addrs};
pub use record::*;
