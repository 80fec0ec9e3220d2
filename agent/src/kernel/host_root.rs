//! Where the policy's executable paths are looked up. The agent reads a
//! file's identity (device, inode) to deny it in the kernel; in a container
//! its own root is the image, not the node, so `--host-root` names a
//! directory that is the node's root (in the DaemonSet `/proc/1/root`: pid 1's
//! root, readable with host PID and CAP_SYS_PTRACE). Paths are resolved under
//! it with `openat2(RESOLVE_IN_ROOT)`, so absolute symlinks on the node (such
//! as Debian's `/etc/alternatives` links) stay on the node.

use std::{
    ffi::CString,
    os::{
        fd::{AsRawFd, FromRawFd, OwnedFd},
        unix::ffi::OsStrExt,
    },
    path::{Path, PathBuf},
    sync::OnceLock,
};

use thiserror::Error;

static HOST_ROOT: OnceLock<OwnedFd> = OnceLock::new();

#[derive(Debug, Error)]
pub enum HostRootError {
    #[error(
        "--host-root {path} (in a container it must be the node's root, e.g. /proc/1/root, which needs host PID and CAP_SYS_PTRACE): cannot open it as a directory"
    )]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Resolves the policy's paths under `dir` from now on.
pub fn set(dir: &Path) -> Result<(), HostRootError> {
    let fd = open(None, dir, libc::O_DIRECTORY, 0)
        .map_err(|source| HostRootError::Open { path: dir.to_path_buf(), source })?;
    let _ = HOST_ROOT.set(fd);
    Ok(())
}

/// An `O_PATH` descriptor of `path`, taken on the node when a host root was
/// set. Follows symlinks.
pub fn open_path(path: &Path) -> std::io::Result<OwnedFd> {
    match HOST_ROOT.get() {
        None => open(None, path, 0, 0),
        Some(root) => open(Some(root), path, 0, libc::RESOLVE_IN_ROOT),
    }
}

/// `openat2(root or AT_FDCWD, path, O_PATH | flags, resolve)`.
fn open(root: Option<&OwnedFd>, path: &Path, flags: i32, resolve: u64) -> std::io::Result<OwnedFd> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: open_how is plain data; zeroed is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC | flags) as u64;
    how.resolve = resolve;
    let dirfd = root.map_or(libc::AT_FDCWD, AsRawFd::as_raw_fd);
    // SAFETY: valid dirfd, NUL-terminated path, and open_how with its size.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd,
            c_path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: openat2 returned a new file descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, symlink};

    use super::*;

    #[test]
    fn absolute_links_resolve_inside_the_root() {
        let root = std::env::temp_dir().join(format!("palisade-hostroot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("etc/alternatives")).unwrap();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("usr/bin/nc.real"), b"x").unwrap();
        // An absolute link, as the node would have it: /usr/bin/nc.real.
        symlink("/usr/bin/nc.real", root.join("etc/alternatives/nc")).unwrap();
        symlink("/etc/alternatives/nc", root.join("usr/bin/nc")).unwrap();
        let fd = open(None, &root, libc::O_DIRECTORY, 0).unwrap();
        let meta = |p: &str| {
            let fd = open(Some(&fd), Path::new(p), 0, libc::RESOLVE_IN_ROOT)?;
            std::fs::File::from(fd).metadata()
        };
        let real = std::fs::metadata(root.join("usr/bin/nc.real")).unwrap();
        assert_eq!(meta("/usr/bin/nc").unwrap().ino(), real.ino());
        // `..` cannot climb out of the root either.
        assert_eq!(meta("/../../usr/bin/nc").unwrap().ino(), real.ino());
        // Not on the "node": not found, although this machine has it.
        assert!(meta("/bin/sh").is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
