//! What the unit tests of several modules share.

use std::path::PathBuf;

/// A fresh, empty scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("palisade-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The origin of a test node (`node-1`, cluster `prod`).
pub fn origin() -> crate::event::Origin {
    crate::event::Origin {
        node: "node-1".into(),
        cluster: Some("prod"),
        boot_id: "b".into(),
        clock: crate::event::Clock::new(),
    }
}

/// The exec record of `binary` (its only argument) by `pid`, child of
/// `ppid`, in `/`; everything else zero.
pub fn exec_record(pid: u32, ppid: u32, binary: &[u8]) -> crate::sensor::decode::Exec {
    crate::sensor::decode::Exec {
        header: palisade_common::RecordHeader { pid, ..Default::default() },
        ppid,
        uid: 0,
        gid: 0,
        euid: 0,
        egid: 0,
        flags: 0,
        exe_dev: 0,
        exe_ino: 0,
        drift: 0,
        exe_mtime_ns: 0,
        exe_ctime_ns: 0,
        start_ns: 0,
        args_total: 0,
        comm: Vec::new(),
        filename: binary.to_vec(),
        binary: binary.to_vec(),
        cwd: b"/".to_vec(),
        args: vec![binary.to_vec()],
        env: Vec::new(),
        env_total: 0,
        verdict: None,
    }
}

/// An event of `kind` with nothing else set, for tests of what is done to
/// events after they are built.
pub fn event(kind: &'static str) -> crate::event::Event {
    crate::event::Event {
        schema: crate::event::SCHEMA,
        id: "test-1".into(),
        // 2026-12-03T10:00:00.000000001Z
        time: crate::model::time::WallTime(1_796_292_000_000_000_001),
        node: "node-1".into(),
        cluster: None,
        kind,
        process: crate::event::Process::default(),
        container: None,
        pod: None,
        host: true,
        exit: None,
        network: None,
        file: None,
        socket: None,
        verdict: None,
        drift_evidence: None,
        bundle: None,
        decision: None,
    }
}
