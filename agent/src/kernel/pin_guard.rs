//! Keeps the agent's pins where it put them.
//!
//! Enforcement outlives the agent through its pins under
//! `/sys/fs/bpf/palisade`: a link stays attached, and a map keeps its rules,
//! only while something holds it. Another root process removing a pin (or
//! putting another object of its own under the same name) would leave the
//! hooks running while the agent lives, and gone once it stops. The guard
//! holds a descriptor of every object the agent pinned, with its kernel id,
//! and on each check puts back a pin that is missing or names another
//! object.

use std::{
    ffi::CString,
    os::{
        fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
        unix::ffi::OsStrExt,
    },
    path::{Path, PathBuf},
};

use serde::Serialize;
use tracing::{info, warn};

use super::{bpf_sys::sys_bpf, pins};

const BPF_OBJ_PIN: libc::c_long = 6;
const BPF_OBJ_GET: libc::c_long = 7;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;

/// A pin found changed, and put back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinTampering {
    pub pin: String,
    /// `missing` (removed) or `replaced` (another object under its name).
    pub found: &'static str,
}

struct Held {
    path: PathBuf,
    fd: OwnedFd,
    id: u32,
}

/// See the module documentation.
#[derive(Default)]
pub struct PinGuard {
    held: Vec<Held>,
}

impl PinGuard {
    /// Holds every object pinned now under the agent's map and link
    /// directories (call it once they are all pinned).
    pub fn collect() -> Self {
        let mut held = Vec::new();
        for dir in [pins::maps_dir(), pins::links_dir()] {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                match obj_get(&path).and_then(|fd| Ok((obj_id(fd_ref(&fd))?, fd))) {
                    Ok((id, fd)) => held.push(Held { path, fd, id }),
                    Err(err) => {
                        warn!(pin = %path.display(), %err, "cannot hold a pin to keep it in place")
                    }
                }
            }
        }
        info!(
            pins = held.len(),
            "holding every pin: one removed or replaced is put back at the next check"
        );
        PinGuard { held }
    }

    /// Puts back every pin that is gone or names another object.
    pub fn check(&self) -> Vec<PinTampering> {
        let mut found = Vec::new();
        for h in &self.held {
            let state = match obj_get(&h.path) {
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => "missing",
                Err(err) => {
                    warn!(pin = %h.path.display(), %err, "cannot check a pin");
                    continue;
                }
                Ok(fd) if obj_id(fd_ref(&fd)).is_ok_and(|id| id == h.id) => continue,
                Ok(_) => "replaced",
            };
            if state == "replaced"
                && let Err(err) = std::fs::remove_file(&h.path)
            {
                warn!(pin = %h.path.display(), %err, "cannot remove a pin put in place of the agent's");
                continue;
            }
            match obj_pin(fd_ref(&h.fd), &h.path) {
                Ok(()) => {
                    found.push(PinTampering { pin: h.path.display().to_string(), found: state })
                }
                Err(err) => warn!(pin = %h.path.display(), %err, "cannot put a pin back"),
            }
        }
        found
    }
}

fn fd_ref(fd: &OwnedFd) -> BorrowedFd<'_> {
    use std::os::fd::AsFd;
    fd.as_fd()
}

fn c_path(path: &Path) -> std::io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
}

/// `BPF_OBJ_GET`: a descriptor of the object pinned at `path`.
fn obj_get(path: &Path) -> std::io::Result<OwnedFd> {
    let path = c_path(path)?;
    // { pathname, bpf_fd, file_flags }
    let mut attr = [path.as_ptr() as u64, 0, 0, 0];
    let fd = sys_bpf(BPF_OBJ_GET, &mut attr)?;
    // SAFETY: the kernel returned a new descriptor, now ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `BPF_OBJ_PIN`: pins the object behind `fd` at `path`.
fn obj_pin(fd: BorrowedFd<'_>, path: &Path) -> std::io::Result<()> {
    let path = c_path(path)?;
    let mut attr = [path.as_ptr() as u64, fd.as_raw_fd() as u32 as u64, 0, 0];
    sys_bpf(BPF_OBJ_PIN, &mut attr).map(drop)
}

/// The kernel id of a map or link (both info structs start with type, id).
fn obj_id(fd: BorrowedFd<'_>) -> std::io::Result<u32> {
    let mut info = [0u32; 32];
    // { bpf_fd, info_len } then info.
    let head = u64::from(fd.as_raw_fd() as u32) | (size_of_val(&info) as u64) << 32;
    let mut attr = [head, info.as_mut_ptr() as u64, 0, 0];
    sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    Ok(info[1])
}
