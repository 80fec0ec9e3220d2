//! Drift: whether an executable came from the container's image, decided
//! from its `struct file` in the hook, before the program runs.
//!
//! Cheap for the common case: five reads (the file system's magic, the
//! link count, the file's mount and the root's) and nothing more unless the
//! file is on overlayfs (one more read: the upper-layer dentry) or on
//! tmpfs/hugetlbfs (the name, for memfds).

use aya_ebpf::helpers::bpf_get_current_task;
use palisade_common::drift::{
    DELETED, HUGETLBFS_MAGIC, MEMFD, MEMFD_PREFIX, OTHER_MOUNT, OVERLAYFS_SUPER_MAGIC, TMPFS_MAGIC,
    UPPER_LAYER,
};

use crate::kernel::{off, read};

/// The [`palisade_common::drift`] bits of the executable `file`; 0 when
/// nothing shows drift or a read failed.
///
/// A function of its own (a BPF-to-BPF call with a small frame): inlined,
/// its locals would grow the exec program's frame, which with the path
/// walk's `bpf_loop` callback must stay within 512 bytes on 6.1's verifier.
///
/// # Safety
/// `file` must point to a `struct file`.
#[inline(never)]
pub unsafe fn of_file(file: *const u8) -> u32 {
    // SAFETY (whole block): kernel reads at BTF offsets.
    unsafe {
        let Ok(inode) = read::<*const u8>(file, off!(file_f_inode)) else { return 0 };
        let Ok(sb) = read::<*const u8>(inode, off!(inode_i_sb)) else { return 0 };
        let magic: u64 = read(sb, off!(super_block_s_magic)).unwrap_or(0);
        let nlink: u32 = read(inode, off!(inode_i_nlink)).unwrap_or(1);
        let mut bits = if nlink == 0 { DELETED } else { 0 };
        if !on_root_mount(file) {
            bits |= OTHER_MOUNT;
        }
        if magic == OVERLAYFS_SUPER_MAGIC {
            if off!(ovl_known) != 0 {
                // container_of(inode, struct ovl_inode, vfs_inode)->__upperdentry
                let ovl = inode.wrapping_sub(off!(ovl_inode_vfs_inode));
                if let Ok(upper) = read::<*const u8>(ovl, off!(ovl_inode_upperdentry))
                    && !upper.is_null()
                {
                    bits |= UPPER_LAYER;
                }
            }
        } else if magic == TMPFS_MAGIC || magic == HUGETLBFS_MAGIC {
            let name = read::<*const u8>(file.add(off!(file_f_path)), off!(path_dentry))
                .and_then(|d| read::<*const u8>(d.add(off!(dentry_d_name)), off!(qstr_name)))
                .and_then(|n| read::<[u8; 6]>(n, 0));
            if let Ok(prefix) = name
                && prefix == *MEMFD_PREFIX
            {
                bits |= MEMFD;
            }
        }
        bits
    }
}

/// Whether `file` was reached through the mount of the calling task's
/// root (a container's image); true when unreadable.
///
/// # Safety
/// `file` must point to a `struct file`.
#[inline(always)]
unsafe fn on_root_mount(file: *const u8) -> bool {
    // SAFETY: no preconditions; the pointer is only read through probe reads.
    let task = unsafe { bpf_get_current_task() } as *const u8;
    // SAFETY (whole block): kernel reads at BTF offsets.
    unsafe {
        let file_mnt = read::<*const u8>(file.add(off!(file_f_path)), off!(path_mnt));
        let root_mnt = read::<*const u8>(task, off!(task_struct_fs))
            .and_then(|fs| read::<*const u8>(fs.add(off!(fs_struct_root)), off!(path_mnt)));
        match (file_mnt, root_mnt) {
            (Ok(f), Ok(r)) => f == r,
            _ => true,
        }
    }
}

/// The executable's last data change and last inode change, in ns since
/// the epoch (0 when unreadable).
///
/// # Safety
/// `file` must point to a `struct file`.
#[inline(always)]
pub unsafe fn times(file: *const u8) -> (i64, i64) {
    // SAFETY: kernel reads at BTF offsets.
    unsafe {
        let Ok(inode) = read::<*const u8>(file, off!(file_f_inode)) else { return (0, 0) };
        let ns = |sec: usize, nsec: usize| -> i64 {
            let s: i64 = read(inode, sec).unwrap_or(0);
            let n: u32 = read(inode, nsec).unwrap_or(0);
            s.wrapping_mul(1_000_000_000).wrapping_add(i64::from(n))
        };
        (
            ns(off!(inode_i_mtime_sec), off!(inode_i_mtime_nsec)),
            ns(off!(inode_i_ctime_sec), off!(inode_i_ctime_nsec)),
        )
    }
}
