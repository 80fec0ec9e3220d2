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
    /// Last data change and last inode change, ns since the epoch.
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

/// Reasons by strength: fileless first, then what the kernel saw in the
/// layers, then what the times say.
const MEMFD_REASON: &str = "memfd";
const DELETED_REASON: &str = "deleted";
const UPPER_REASON: &str = "upper_layer";
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
/// container, also the upper layer and, when the container's start is
/// known (ns since the epoch), the times.
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

/// The evidence for a script that `pid` runs: its file, as `filename`
/// (relative to `cwd` unless absolute) names it inside the process's root:
/// its times, and whether it is in the upper layer of the overlayfs that is
/// the process's root. None when the process is gone or the file is the
/// executable itself.
pub fn script_evidence(pid: u32, filename: &[u8], cwd: &[u8], exe_ino: u64) -> Option<Evidence> {
    let inside =
        if filename.starts_with(b"/") { filename.to_vec() } else { [cwd, b"/", filename].concat() };
    let root = format!("/proc/{pid}/root");
    let meta = std::fs::metadata(os_path(&[root.as_bytes(), &inside].concat())).ok()?;
    if meta.ino() == exe_ino || !meta.is_file() {
        return None;
    }
    let mut bits = 0;
    if let Some(upper) = root_upper_dir(pid)
        && std::fs::symlink_metadata(os_path(&[upper.as_slice(), &inside].concat()))
            .is_ok_and(|m| m.is_file())
    {
        bits |= UPPER_LAYER;
    }
    let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
    Some(Evidence {
        bits,
        mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
        ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
    })
}

fn os_path(bytes: &[u8]) -> &Path {
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(bytes))
}

/// The `upperdir` of the overlayfs mounted as `pid`'s root, from its
/// mountinfo (paths there are the mounter's: the host's for containers).
fn root_upper_dir(pid: u32) -> Option<Vec<u8>> {
    let info = std::fs::read(format!("/proc/{pid}/mountinfo")).ok()?;
    upper_dir_of_root(&info)
}

fn upper_dir_of_root(mountinfo: &[u8]) -> Option<Vec<u8>> {
    // "36 35 0:42 / / rw - overlay overlay rw,lowerdir=..,upperdir=..,workdir=..":
    // the last mount on "/" is the one in force.
    let root = mountinfo
        .split(|&b| b == b'\n')
        .rev()
        .find(|line| line.split(|&b| b == b' ').nth(4) == Some(b"/".as_slice()))?;
    let text = String::from_utf8_lossy(root);
    let (_, after) = text.split_once(" - ")?;
    let mut fields = after.split(' ');
    if fields.next()? != "overlay" {
        return None;
    }
    let options = fields.nth(1)?;
    let upper = options.split(',').find_map(|o| o.strip_prefix("upperdir="))?;
    Some(upper.as_bytes().to_vec())
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
    fn the_upper_dir_of_an_overlay_root() {
        let info = b"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
            40 22 0:50 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/var/u,workdir=/w\n\
            41 40 0:5 / /proc rw - proc proc rw\n";
        assert_eq!(upper_dir_of_root(info), Some(b"/var/u".to_vec()));
        assert_eq!(upper_dir_of_root(b"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"), None);
        assert_eq!(upper_dir_of_root(b"garbage"), None);
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
