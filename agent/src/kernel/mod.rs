//! Everything that talks to the kernel: BTF, pseudo file systems, probing,
//! loading, pinning and the enforcement maps.

pub use palisade_btf as btf;
pub mod bpf_sys;
pub mod cli;
pub mod files;
pub mod fs;
pub mod host_root;
pub mod identity;
pub mod loader;
pub mod log;
pub mod offsets;
pub mod pin_guard;
pub mod pins;
pub mod probe;
pub mod rules;
pub mod sock_diag;
