//! Drift: whether the program a process runs came from its container's
//! image.
//!
//! Two sources, with different powers:
//! - The exec hooks decide from the executable's own `struct file`, before
//!   it runs (bits of [`palisade_common::drift`]): it lives in an overlayfs
//!   upper layer, it is a memfd, or it has no link left on disk. A kernel
//!   rule (`kernel.exec.drift`) can deny these.
//! - Here, once the event is attributed to a container, the agent compares
//!   the file's times with the container's start: data written
//!   (`written_after_start`, mtime) or the inode changed (`chmod_after_start`,
//!   ctime: chmod, chown, a rename or link into place) after the container
//!   started. The hooks do not know when containers started, so these are
//!   reported, never blocked.
//!
//! A script is run by its interpreter: the exec tracepoint sees the
//! interpreter's file, not the script's. The BPF-LSM hook checks the script
//! itself (it runs for each), and blocks it; for the report, the script's
//! file is looked at here through `/proc/<pid>/root` while the process runs.

use std::{os::unix::fs::MetadataExt, path::Path};

use palisade_common::drift::{DELETED, MEMFD, UPPER_LAYER};
use serde::Serialize;

/// `process.exe.drift`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// The strongest of `reasons`.
    pub reason: &'static str,
    /// Every reason that holds, strongest first.
    pub reasons: Vec<&'static str>,
    /// `executable` (the file the kernel mapped) or `script` (the file
    /// given to execve, run by its interpreter).
    pub file: &'static str,
}

/// What the kernel recorded about the executable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Bits of [`palisade_common::drift`].
    pub bits: u32,
    /// Last data change and last inode change, seconds since the epoch.
    pub mtime: i64,
    pub ctime: i64,
}

/// Reasons by strength: fileless first, then what the kernel saw in the
/// layers, then what the times say.
const MEMFD_REASON: &str = "memfd";
const DELETED_REASON: &str = "deleted";
const UPPER_REASON: &str = "upper_layer";
const WRITTEN_REASON: &str = "written_after_start";
const CHMOD_REASON: &str = "chmod_after_start";

/// The drift of an executable. A host process (`container_start` None and
/// not in a container) only has fileless drift: memfd or deleted. In a
/// container, also the upper layer and, when the container's start is
/// known (seconds since the epoch), the times.
pub fn judge(
    e: &Evidence,
    in_container: bool,
    container_start: Option<i64>,
    file: &'static str,
) -> Option<Drift> {
    let mut reasons = Vec::new();
    if e.bits & MEMFD != 0 {
        reasons.push(MEMFD_REASON);
    } else if e.bits & DELETED != 0 {
        // A memfd has no link either: it is reported as a memfd.
        reasons.push(DELETED_REASON);
    }
    if in_container {
        if e.bits & UPPER_LAYER != 0 {
            reasons.push(UPPER_REASON);
        }
        if let Some(start) = container_start {
            if e.mtime > start {
                reasons.push(WRITTEN_REASON);
            } else if e.ctime > start {
                reasons.push(CHMOD_REASON);
            }
        }
    }
    let reason = *reasons.first()?;
    Some(Drift { reason, reasons, file })
}

/// The evidence for a script that `pid` runs: its file, as `filename`
/// (relative to `cwd` unless absolute) names it inside the process's root.
/// None when the process is gone or the file is the executable itself.
pub fn script_evidence(pid: u32, filename: &[u8], cwd: &[u8], exe_ino: u64) -> Option<Evidence> {
    use std::os::unix::ffi::OsStrExt;
    let root = format!("/proc/{pid}/root");
    let path = if filename.starts_with(b"/") {
        [root.as_bytes(), filename].concat()
    } else {
        [root.as_bytes(), cwd, b"/", filename].concat()
    };
    let meta = std::fs::metadata(Path::new(std::ffi::OsStr::from_bytes(&path))).ok()?;
    if meta.ino() == exe_ino || !meta.is_file() {
        return None;
    }
    Some(Evidence { bits: 0, mtime: meta.mtime(), ctime: meta.ctime() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: i64 = 1_000;

    #[test]
    fn a_host_process_only_has_fileless_drift() {
        let upper = Evidence { bits: UPPER_LAYER, mtime: 2_000, ctime: 2_000 };
        assert_eq!(judge(&upper, false, None, "executable"), None);
        let memfd = Evidence { bits: MEMFD | DELETED, ..Evidence::default() };
        let d = judge(&memfd, false, None, "executable").unwrap();
        assert_eq!((d.reason, d.reasons), ("memfd", vec!["memfd"]));
        let deleted = Evidence { bits: DELETED, ..Evidence::default() };
        assert_eq!(judge(&deleted, false, None, "executable").unwrap().reason, "deleted");
    }

    #[test]
    fn container_drift_by_layer_and_by_times() {
        let image = Evidence { bits: 0, mtime: 10, ctime: 10 };
        assert_eq!(judge(&image, true, Some(START), "executable"), None);
        let copied = Evidence { bits: UPPER_LAYER, mtime: 2_000, ctime: 2_000 };
        let d = judge(&copied, true, Some(START), "executable").unwrap();
        assert_eq!(d.reasons, ["upper_layer", "written_after_start"]);
        let chmod = Evidence { bits: 0, mtime: 10, ctime: 2_000 };
        assert_eq!(judge(&chmod, true, Some(START), "script").unwrap().reason, "chmod_after_start");
        let written = Evidence { bits: 0, mtime: 2_000, ctime: 2_000 };
        assert_eq!(judge(&written, true, None, "script"), None, "no start, no times");
        assert_eq!(
            judge(&written, true, Some(START), "script").unwrap().reason,
            "written_after_start"
        );
    }
}
