//! Facts about the test machine and fresh names, shared by the tests that
//! build containers (cgroups, ids).

use std::{
    path::PathBuf,
    sync::atomic::{AtomicU64, Ordering::Relaxed},
    time::{SystemTime, UNIX_EPOCH},
};

/// Every cgroup hierarchy mounted (v1 controllers and v2): (mount point, type).
pub fn cgroup_mounts() -> Vec<(PathBuf, String)> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").expect("read /proc/self/mounts");
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace().skip(1);
            let (target, fstype) = (fields.next()?, fields.next()?);
            fstype.starts_with("cgroup").then(|| (PathBuf::from(target), fstype.to_string()))
        })
        .collect()
}

/// The cgroup v2 mount point.
pub fn cgroup2_mount() -> Option<PathBuf> {
    cgroup_mounts().into_iter().find(|(_, fstype)| fstype == "cgroup2").map(|(path, _)| path)
}

/// Distinct hex for each call: 64 digits for a container id.
pub fn fresh_hex(len: usize) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    let seed =
        format!("{:08x}{:016x}{:04x}", std::process::id(), nanos, COUNTER.fetch_add(1, Relaxed));
    seed.chars().cycle().take(len).collect()
}

/// Removes whatever an earlier test left pinned, before and after each test.
pub struct CleanKernel;

impl CleanKernel {
    pub fn new() -> Self {
        let out = unload();
        assert!(out.status.success(), "unload: {}", String::from_utf8_lossy(&out.stderr));
        CleanKernel
    }
}

impl Drop for CleanKernel {
    fn drop(&mut self) {
        let _ = unload();
    }
}

fn unload() -> std::process::Output {
    let started = std::time::Instant::now();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
        .arg("unload")
        .output()
        .expect("palisade runs");
    super::trace("palisade unload", started);
    out
}
