//! Drift: whether the program a process runs came from its container's
//! image.
//!
//! Two sources, with different powers:
//! - The exec hooks decide from the executable's own `struct file`, before
//!   it runs (bits of [`palisade_common::drift`]): it lives in an overlayfs
//!   upper layer, it is a memfd, or it has no link left on disk. A kernel
//!   rule (`kernel.exec.drift`) can deny these.
//! - Once the event is attributed to a container, the agent compares
//!   the file's times with the container's start: data written
//!   (`written_after_start`, mtime) or the inode changed (`chmod_after_start`,
//!   ctime: chmod, chown, a rename or link into place) after the container
//!   started. The hooks do not know when containers started, so these are
//!   reported, never blocked.
//!
//! A script is run by its interpreter: the exec tracepoint sees the
//! interpreter's file, not the script's. The BPF-LSM hook checks the script
//! itself (it runs for each), and blocks it; for the report, the script's
//! file is looked at through `/proc/<pid>/root` while the process runs.
//!
//! This module only judges evidence: reading `/proc` and setting the
//! event's drift is the enrichment step's (`enrich::drift`).

use palisade_common::drift::{DELETED, MEMFD, OTHER_MOUNT, UPPER_LAYER};
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
    /// Last data change and last inode change, ns since the epoch.
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

/// Reasons by strength: fileless first, then what the kernel saw in the
/// layers, then what the times say.
const MEMFD_REASON: &str = "memfd";
const DELETED_REASON: &str = "deleted";
const UPPER_REASON: &str = "upper_layer";
const VOLUME_REASON: &str = "volume";
const WRITTEN_REASON: &str = "written_after_start";
const CHMOD_REASON: &str = "chmod_after_start";
const BOOT_REASON: &str = "written_after_boot";

/// Where a node's own programs live: its image or its package manager put
/// them there, not a running workload.
const SYSTEM_DIRS: &[&[u8]] = &[
    b"/usr/bin/",
    b"/usr/sbin/",
    b"/usr/local/bin/",
    b"/usr/local/sbin/",
    b"/usr/lib/",
    b"/usr/libexec/",
    b"/bin/",
    b"/sbin/",
    b"/lib/",
];

/// Node drift: a host program under a system directory whose data was
/// written after the node booted (`boot_ns`, ns since the epoch): a binary
/// replaced or added on a running node. The data change time only: an
/// inode change (ctime) also comes from unpacking an initramfs at boot.
pub fn on_node(e: &Evidence, binary: &[u8], boot_ns: i64) -> Option<Drift> {
    let system = SYSTEM_DIRS.iter().any(|dir| binary.starts_with(dir));
    (system && e.mtime_ns > boot_ns).then(|| Drift {
        reason: BOOT_REASON,
        reasons: vec![BOOT_REASON],
        file: "executable",
    })
}

/// The drift of an executable. A host process (`container_start` None and
/// not in a container) only has fileless drift: memfd or deleted. In a
/// container, also the upper layer, a volume (another mount than the
/// container's root) and, when the container's start is known (ns since
/// the epoch), the times.
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
        // A memfd lives on the kernel's internal mount: it is a memfd.
        if e.bits & OTHER_MOUNT != 0 && e.bits & MEMFD == 0 {
            reasons.push(VOLUME_REASON);
        }
        if let Some(start) = container_start {
            if e.mtime_ns > start {
                reasons.push(WRITTEN_REASON);
            } else if e.ctime_ns > start {
                reasons.push(CHMOD_REASON);
            }
        }
    }
    let reason = *reasons.first()?;
    Some(Drift { reason, reasons, file })
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: i64 = 1_000;

    #[test]
    fn node_drift_is_a_system_binary_written_after_boot() {
        let new = Evidence { bits: 0, mtime_ns: 2_000, ctime_ns: 2_000 };
        assert_eq!(on_node(&new, b"/usr/bin/sshd", 1_000).unwrap().reason, "written_after_boot");
        assert_eq!(on_node(&new, b"/home/me/tool", 1_000), None, "not a system directory");
        let old = Evidence { bits: 0, mtime_ns: 10, ctime_ns: 2_000 };
        assert_eq!(on_node(&old, b"/usr/bin/sshd", 1_000), None, "ctime alone is not a write");
    }

    #[test]
    fn a_host_process_only_has_fileless_drift() {
        let upper = Evidence { bits: UPPER_LAYER, mtime_ns: 2_000, ctime_ns: 2_000 };
        assert_eq!(judge(&upper, false, None, "executable"), None);
        let memfd = Evidence { bits: MEMFD | DELETED, ..Evidence::default() };
        let d = judge(&memfd, false, None, "executable").unwrap();
        assert_eq!((d.reason, d.reasons), ("memfd", vec!["memfd"]));
        let deleted = Evidence { bits: DELETED, ..Evidence::default() };
        assert_eq!(judge(&deleted, false, None, "executable").unwrap().reason, "deleted");
    }

    #[test]
    fn a_program_on_a_volume_is_drift_in_a_container_only() {
        let volume = Evidence { bits: OTHER_MOUNT, mtime_ns: 10, ctime_ns: 10 };
        let d = judge(&volume, true, Some(START), "executable").unwrap();
        assert_eq!((d.reason, d.reasons), ("volume", vec!["volume"]));
        assert_eq!(judge(&volume, false, None, "executable"), None, "the host has many mounts");
        let memfd = Evidence { bits: MEMFD | DELETED | OTHER_MOUNT, ..Evidence::default() };
        assert_eq!(judge(&memfd, true, None, "executable").unwrap().reasons, ["memfd"]);
    }

    #[test]
    fn container_drift_by_layer_and_by_times() {
        let image = Evidence { bits: 0, mtime_ns: 10, ctime_ns: 10 };
        assert_eq!(judge(&image, true, Some(START), "executable"), None);
        let copied = Evidence { bits: UPPER_LAYER, mtime_ns: 2_000, ctime_ns: 2_000 };
        let d = judge(&copied, true, Some(START), "executable").unwrap();
        assert_eq!(d.reasons, ["upper_layer", "written_after_start"]);
        let chmod = Evidence { bits: 0, mtime_ns: 10, ctime_ns: 2_000 };
        assert_eq!(judge(&chmod, true, Some(START), "script").unwrap().reason, "chmod_after_start");
        let written = Evidence { bits: 0, mtime_ns: 2_000, ctime_ns: 2_000 };
        assert_eq!(judge(&written, true, None, "script"), None, "no start, no times");
        assert_eq!(
            judge(&written, true, Some(START), "script").unwrap().reason,
            "written_after_start"
        );
    }
}
