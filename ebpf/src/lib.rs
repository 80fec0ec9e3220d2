#![no_std]
// Exists so agent/build.rs can name this crate as a build-dependency (cargo then
// rebuilds the agent when the eBPF sources change). The programs are in main.rs.
