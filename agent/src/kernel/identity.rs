//! A file's identity as the exec hook reads it: the device of the file's
//! super block (`inode->i_sb->s_dev`, in the kernel's encoding) and its
//! inode number.
//!
//! `stat(2)`'s `st_dev` is not always that device: btrfs reports each
//! subvolume's own anonymous device, so a rule keyed on `st_dev` would never
//! match there. The mount table (`/proc/<pid>/mountinfo`) shows the super
//! block's device for every mount, so the device is taken from the mount the
//! file is on (`statx`'s mount id), and `st_dev` only when the mount is not
//! found.
//!
//! Known limit: btrfs inode numbers are per subvolume, so one identity can
//! name a file in each subvolume of a file system; a rule then also denies
//! the others (more is denied, never less).

use std::{
    cell::OnceCell,
    os::fd::{AsRawFd, OwnedFd},
    path::Path,
};

use super::host_root;

/// (device in the kernel's encoding, inode).
pub type Identity = (u32, u64);

/// Resolves paths to identities; the mount tables are read once, when a
/// file is first found.
#[derive(Default)]
pub struct Resolver {
    mount_tables: OnceCell<Vec<String>>,
}

impl Resolver {
    /// The identity of the file at `path` (following symlinks; on the
    /// node, see `host_root`), as the kernel's exec hook sees it.
    pub fn of_path(&self, path: &Path) -> std::io::Result<Identity> {
        let fd = host_root::open_path(path)?;
        let stx = statx(&fd)?;
        let dev =
            self.mount_device(stx.stx_mnt_id).unwrap_or((stx.stx_dev_major, stx.stx_dev_minor));
        Ok((kernel_dev(dev.0, dev.1), stx.stx_ino))
    }

    /// The super block device of the mount `mnt_id`. Mount ids are unique
    /// across mount namespaces, so the agent's own table and then the
    /// node's (pid 1's, when the agent runs in a container) are searched.
    fn mount_device(&self, mnt_id: u64) -> Option<(u32, u32)> {
        let tables = self.mount_tables.get_or_init(|| {
            ["/proc/self/mountinfo", "/proc/1/mountinfo"]
                .into_iter()
                .filter_map(|t| std::fs::read_to_string(t).ok())
                .collect()
        });
        tables.iter().find_map(|text| device_in(text, mnt_id))
    }
}

/// `MKDEV` as the kernel encodes `dev_t` internally (20 bits of minor).
fn kernel_dev(major: u32, minor: u32) -> u32 {
    (major << 20) | minor
}

fn statx(fd: &OwnedFd) -> std::io::Result<libc::statx> {
    // SAFETY: statx is plain data; zeroed is a valid value.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor, an empty NUL-terminated path with
    // AT_EMPTY_PATH, and a buffer of the right type.
    let rc = unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            libc::STATX_INO | libc::STATX_MNT_ID,
            &mut stx,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(stx)
}

/// The `major:minor` of the line for `mnt_id` in a mountinfo table.
fn device_in(mountinfo: &str, mnt_id: u64) -> Option<(u32, u32)> {
    mountinfo.lines().find_map(|line| {
        let mut fields = line.split(' ');
        let id: u64 = fields.next()?.parse().ok()?;
        if id != mnt_id {
            return None;
        }
        let (major, minor) = fields.nth(1)?.split_once(':')?;
        Some((major.parse().ok()?, minor.parse().ok()?))
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn reads_the_device_of_a_mount_from_its_line() {
        let table = "22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
                     95 29 0:47 /@home /home rw,relatime - btrfs /dev/vdb rw,subvol=/@home\n";
        assert_eq!(device_in(table, 95), Some((0, 47)));
        assert_eq!(device_in(table, 22), Some((0, 21)));
        assert_eq!(device_in(table, 7), None);
    }

    #[test]
    fn on_a_plain_file_system_it_is_what_stat_says() {
        let exe = std::env::current_exe().unwrap();
        let meta = std::fs::metadata(&exe).unwrap();
        let (major, minor) = (libc::major(meta.dev()), libc::minor(meta.dev()));
        let ids = Resolver::default();
        assert_eq!(ids.of_path(&exe).unwrap(), (kernel_dev(major, minor), meta.ino()));
        // Through a symlink: the same file.
        assert_eq!(ids.of_path(Path::new("/proc/self/exe")).unwrap(), ids.of_path(&exe).unwrap());
    }
}
