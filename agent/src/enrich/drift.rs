//! The drift step: sets `process.exe.drift` once the event is attributed,
//! from the kernel's evidence and, for a script, the script's own file read
//! through `/proc/<pid>/root` (the judging itself is [`crate::drift`]'s).

use std::{os::unix::fs::MetadataExt, path::Path};

use palisade_common::drift::UPPER_LAYER;

use crate::{
    drift::{self, Evidence},
    event::Event,
};

/// Sets `process.exe.drift` from the kernel's evidence (which it takes),
/// the container the event was attributed to and, for a script, the
/// script's file; for a host process, node drift against the boot
/// (`boot_ns`, ns since the epoch).
pub fn judge(event: &mut Event, boot_ns: i64) {
    let Some(evidence) = event.drift_evidence.take() else { return };
    let start = event.container.as_ref().and_then(|c| c.started_ns);
    let in_container = event.container.is_some();
    let p = &event.process;
    let Some(exe) = &p.exe else { return };
    let mut found = drift::judge(&evidence, in_container, start, "executable");
    // A script (or a link) names another file than the executable: look
    // at it too. The plain case, the file named is the binary, costs
    // nothing.
    if found.is_none()
        && in_container
        && let Some(filename) = &p.filename
        && filename.0 != p.binary.0
        && let Some(script) = script_evidence(p.pid, &filename.0, &p.cwd.0, exe.inode)
    {
        found = drift::judge(&script, true, start, "script");
    }
    if found.is_none() && event.host {
        found = drift::on_node(&evidence, &p.binary.0, boot_ns);
    }
    if let Some(exe) = &mut event.process.exe {
        exe.drift = found;
    }
}

/// The evidence for a script that `pid` runs: its file, as `filename`
/// (relative to `cwd` unless absolute) names it inside the process's root:
/// its times, and whether it is in the upper layer of the overlayfs that is
/// the process's root. None when the process is gone or the file is the
/// executable itself.
fn script_evidence(pid: u32, filename: &[u8], cwd: &[u8], exe_ino: u64) -> Option<Evidence> {
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

    #[test]
    fn the_upper_dir_of_an_overlay_root() {
        let info = b"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
            40 22 0:50 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/var/u,workdir=/w\n\
            41 40 0:5 / /proc rw - proc proc rw\n";
        assert_eq!(upper_dir_of_root(info), Some(b"/var/u".to_vec()));
        assert_eq!(upper_dir_of_root(b"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"), None);
        assert_eq!(upper_dir_of_root(b"garbage"), None);
    }
}
