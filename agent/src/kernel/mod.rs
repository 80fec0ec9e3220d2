//! Everything that talks to the kernel: BTF, pseudo file systems, loading.

pub mod btf;
pub mod fs;
pub mod loader;
pub mod offsets;
