//! The struct offsets the eBPF programs need, resolved from BTF.

use palisade_common::KernelOffsets;

use super::btf::{Btf, BtfError};

/// Resolves every field of [`KernelOffsets`] in `btf`. Fails naming the first
/// struct member this kernel does not have.
pub fn resolve(btf: &Btf) -> Result<KernelOffsets, BtfError> {
    let at = |strukt: &str, member: &str| btf.member_offset(strukt, member);
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
        fs_struct_pwd: at("fs_struct", "pwd")?,
        file_f_path: at("file", "f_path")?,
        file_f_inode: at("file", "f_inode")?,
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
        _pad: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_offset_resolves_on_the_running_kernel() {
        let btf = Btf::from_sys().expect("this kernel exposes BTF");
        let offsets = resolve(&btf).expect("all members present");
        // qstr is { union { struct { u32 hash; u32 len; }; u64 hash_len; }; name }.
        assert_eq!(offsets.qstr_name, 8);
        assert_eq!(offsets.mm_struct_arg_end, offsets.mm_struct_arg_start + 8);
    }
}
