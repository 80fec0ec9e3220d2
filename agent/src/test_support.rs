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
