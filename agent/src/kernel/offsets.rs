//! The struct offsets the eBPF programs need, resolved from BTF.

use std::mem::offset_of;

use palisade_common::{KernelOffsets, SockCommonHead, SockV6Addrs};
use thiserror::Error;

use super::btf::{Btf, BtfError};

#[derive(Debug, Error)]
pub enum OffsetsError {
    #[error(transparent)]
    Btf(#[from] BtfError),
    /// Fields the programs read together are not where they expect them.
    #[error("this kernel's struct layout is not the one the eBPF programs read: {0}")]
    Layout(String),
}

/// Where overlayfs's `struct ovl_inode` is described: vmlinux when
/// overlayfs is built in (the host's 6.18), else the overlay module's split
/// BTF (Debian's 6.1), which exists once the module is loaded. None when
/// neither has it: the upper-layer check is then off.
pub fn overlay_btf(vmlinux: &Btf) -> Option<Btf> {
    if vmlinux.has_struct("ovl_inode") {
        return None;
    }
    Btf::from_module("overlay", vmlinux).ok().filter(|b| b.has_struct("ovl_inode"))
}

/// The first of `members` that `strukt` has: a field renamed across kernel
/// versions.
fn first_of(btf: &Btf, strukt: &str, members: &[&str]) -> Result<u32, BtfError> {
    let mut last = None;
    for m in members {
        match btf.member_offset(strukt, m) {
            Ok(at) => return Ok(at),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("at least one member name"))
}

/// Resolves every field of [`KernelOffsets`] in `btf` (vmlinux), and the
/// overlayfs fields in `overlay` (the module's BTF) if vmlinux lacks them.
/// Fails naming the first struct member this kernel does not have.
pub fn resolve(btf: &Btf, overlay: Option<&Btf>) -> Result<KernelOffsets, OffsetsError> {
    let at = |strukt: &str, member: &str| btf.member_offset(strukt, member);
    let ovl = overlay.unwrap_or(btf);
    let ovl_fields = overlay_fields(ovl).ok();
    let ovl_known = u32::from(ovl_fields.is_some());
    let o = ovl_fields.unwrap_or_default();
    Ok(KernelOffsets {
        task_struct_pid: at("task_struct", "pid")?,
        task_struct_tgid: at("task_struct", "tgid")?,
        task_struct_real_parent: at("task_struct", "real_parent")?,
        task_struct_group_leader: at("task_struct", "group_leader")?,
        task_struct_start_time: at("task_struct", "start_time")?,
        task_struct_mm: at("task_struct", "mm")?,
        task_struct_fs: at("task_struct", "fs")?,
        task_struct_cred: at("task_struct", "cred")?,
        task_struct_signal: at("task_struct", "signal")?,
        task_struct_exit_code: at("task_struct", "exit_code")?,
        signal_struct_live: at("signal_struct", "live")?,
        cred_euid: at("cred", "euid")?,
        cred_egid: at("cred", "egid")?,
        mm_struct_exe_file: at("mm_struct", "exe_file")?,
        mm_struct_arg_start: at("mm_struct", "arg_start")?,
        mm_struct_arg_end: at("mm_struct", "arg_end")?,
        mm_struct_env_start: at("mm_struct", "env_start")?,
        mm_struct_env_end: at("mm_struct", "env_end")?,
        fs_struct_pwd: at("fs_struct", "pwd")?,
        file_f_path: at("file", "f_path")?,
        file_f_inode: at("file", "f_inode")?,
        file_f_mode: at("file", "f_mode")?,
        file_f_flags: at("file", "f_flags")?,
        path_mnt: at("path", "mnt")?,
        path_dentry: at("path", "dentry")?,
        dentry_d_parent: at("dentry", "d_parent")?,
        dentry_d_name: at("dentry", "d_name")?,
        qstr_name: at("qstr", "name")?,
        mount_mnt: at("mount", "mnt")?,
        mount_mnt_parent: at("mount", "mnt_parent")?,
        mount_mnt_mountpoint: at("mount", "mnt_mountpoint")?,
        vfsmount_mnt_root: at("vfsmount", "mnt_root")?,
        inode_i_ino: at("inode", "i_ino")?,
        inode_i_sb: at("inode", "i_sb")?,
        super_block_s_dev: at("super_block", "s_dev")?,
        task_struct_thread_pid: at("task_struct", "thread_pid")?,
        pid_level: at("pid", "level")?,
        linux_binprm_file: at("linux_binprm", "file")?,
        linux_binprm_filename: at("linux_binprm", "filename")?,
        super_block_s_magic: at("super_block", "s_magic")?,
        inode_i_nlink: at("inode", "i_nlink")?,
        // 6.11+: i_mtime_sec; 6.7..6.10: __i_mtime; before: i_mtime (a
        // timespec64 whose first field is the seconds).
        inode_i_mtime_sec: first_of(btf, "inode", &["i_mtime_sec", "__i_mtime", "i_mtime"])?,
        inode_i_ctime_sec: first_of(btf, "inode", &["i_ctime_sec", "__i_ctime", "i_ctime"])?,
        // 6.11+: a u32 of its own; before: tv_nsec, 8 bytes into the
        // timespec64 (a long, whose low half on little-endian is the value).
        inode_i_mtime_nsec: at("inode", "i_mtime_nsec").or_else(|_| {
            Ok::<_, BtfError>(first_of(btf, "inode", &["__i_mtime", "i_mtime"])? + 8)
        })?,
        inode_i_ctime_nsec: at("inode", "i_ctime_nsec").or_else(|_| {
            Ok::<_, BtfError>(first_of(btf, "inode", &["__i_ctime", "i_ctime"])? + 8)
        })?,
        ovl_inode_vfs_inode: o.vfs_inode,
        ovl_inode_upperdentry: o.upper_dentry,
        ovl_known,
        ovl_inode_lower: o.lower,
        ovl_lower_indirect: u32::from(o.lower_indirect),
        ovl_lower_dentry: o.lower_dentry,
        dentry_d_inode: at("dentry", "d_inode")?,
        fs_struct_root: at("fs_struct", "root")?,
        sock_common_skc_daddr: sock_common_block(
            btf,
            "skc_daddr",
            &[
                ("skc_rcv_saddr", offset_of!(SockCommonHead, rcv_saddr)),
                ("skc_hash", offset_of!(SockCommonHead, hash)),
                ("skc_dport", offset_of!(SockCommonHead, dport)),
                ("skc_num", offset_of!(SockCommonHead, num)),
                ("skc_family", offset_of!(SockCommonHead, family)),
            ],
        )?,
        sock_common_skc_v6_daddr: sock_common_block(
            btf,
            "skc_v6_daddr",
            &[("skc_v6_rcv_saddr", offset_of!(SockV6Addrs, rcv_saddr))],
        )?,
        sock_sk_protocol: at("sock", "sk_protocol")?,
    })
}

/// The offset of `first` in `struct sock_common`, where the program reads a
/// block in one go: each of `members` must sit where the block has it,
/// relative to `first`.
fn sock_common_block(
    btf: &Btf,
    first: &str,
    members: &[(&str, usize)],
) -> Result<u32, OffsetsError> {
    const STRUCT: &str = "sock_common";
    let base = btf.member_offset(STRUCT, first)?;
    for &(member, want) in members {
        let at = btf.member_offset(STRUCT, member)?;
        if at.checked_sub(base) != Some(want as u32) {
            return Err(OffsetsError::Layout(format!(
                "{STRUCT}.{member} is {} bytes after {first}, where the TCP state program reads it {want} bytes after",
                i64::from(at) - i64::from(base)
            )));
        }
    }
    Ok(base)
}

/// Where `struct ovl_inode` keeps what the programs read.
#[derive(Default)]
struct OverlayFields {
    vfs_inode: u32,
    upper_dentry: u32,
    lower: u32,
    lower_indirect: bool,
    lower_dentry: u32,
}

/// The overlay inode's layout: its lower path inline (`lowerpath`, up to
/// 6.4) or in the `struct ovl_entry` it points to (`oe`, since 6.5).
fn overlay_fields(ovl: &Btf) -> Result<OverlayFields, BtfError> {
    let vfs_inode = ovl.member_offset("ovl_inode", "vfs_inode")?;
    let upper_dentry = ovl.member_offset("ovl_inode", "__upperdentry")?;
    let path_dentry = ovl.member_offset("ovl_path", "dentry")?;
    let (lower, lower_indirect, lower_dentry) = match ovl.member_offset("ovl_inode", "lowerpath") {
        Ok(at) => (at, false, path_dentry),
        Err(_) => (
            ovl.member_offset("ovl_inode", "oe")?,
            true,
            ovl.member_offset("ovl_entry", "__lowerstack")? + path_dentry,
        ),
    };
    Ok(OverlayFields { vfs_inode, upper_dentry, lower, lower_indirect, lower_dentry })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_offset_resolves_on_the_running_kernel() {
        let btf = Btf::from_sys().expect("this kernel exposes BTF");
        let overlay = overlay_btf(&btf);
        let offsets = resolve(&btf, overlay.as_ref()).expect("all members present");
        // qstr is { union { struct { u32 hash; u32 len; }; u64 hash_len; }; name }.
        assert_eq!(offsets.qstr_name, 8);
        assert_eq!(offsets.mm_struct_arg_end, offsets.mm_struct_arg_start + 8);
        assert_eq!(offsets.mm_struct_env_start, offsets.mm_struct_arg_end + 8);
        assert_eq!(offsets.mm_struct_env_end, offsets.mm_struct_env_start + 8);
        // Every kernel that runs containers has overlayfs: built in (host)
        // or the module's BTF (the VM's init loads it).
        assert_eq!(offsets.ovl_known, 1, "overlayfs BTF found");
        assert!(offsets.ovl_inode_upperdentry > offsets.ovl_inode_vfs_inode);
        assert!(offsets.ovl_inode_lower > offsets.ovl_inode_upperdentry);
        // The lower path's dentry follows its layer pointer.
        assert!(offsets.ovl_lower_dentry >= 8);
        // struct sock_common starts struct sock: its head at the very start.
        assert_eq!(offsets.sock_common_skc_daddr, 0);
    }

    #[test]
    fn a_block_read_whose_layout_differs_is_refused_naming_the_member() {
        let btf = Btf::from_sys().expect("this kernel exposes BTF");
        let err = sock_common_block(&btf, "skc_daddr", &[("skc_family", 2)]).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, OffsetsError::Layout(_)), "{text}");
        assert!(text.contains("sock_common.skc_family is 16 bytes after skc_daddr"), "{text}");
    }
}
