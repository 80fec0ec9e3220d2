//! Walking a `struct path` up to the root, the way the kernel's `d_path` does,
//! for programs (tracepoints) that may not call `bpf_d_path`.
//!
//! The walk runs under `bpf_loop`: each step either copies one component or
//! crosses one mount, and an open-coded loop with that branch in it makes the
//! verifier explore 2^depth paths. With `bpf_loop` it checks one step once.

use aya_ebpf::helpers::generated::{bpf_loop, bpf_probe_read_kernel_str};
use core::ffi::c_void;
use palisade_common::{NAME_SLOT, PATH_DEPTH_MAX, PATH_MAX, TAIL_POS_MASK};

use crate::{
    EXEC_SCRATCH,
    kernel::{Error, off, read},
};

/// What a walk wrote.
pub struct Walked {
    /// Bytes written: NUL-terminated components, leaf first.
    pub len: usize,
    /// The path was deeper than PATH_DEPTH_MAX or longer than PATH_MAX.
    pub truncated: bool,
}

/// The loop's state, on the caller's stack.
#[repr(C)]
struct Walk {
    dentry: *const u8,
    mount: *const u8,
    mnt_root: *const u8,
    base: u64,
    len: u64,
    /// 0 while walking, then one of the `DONE_*` values.
    done: u64,
}

const DONE_COMPLETE: u64 = 1;
const DONE_TRUNCATED: u64 = 2;
const DONE_FAILED: u64 = 3;

/// Writes the components of the `struct path` at `path` into the exec
/// scratch tail from `base` on, leaf first, each NUL-terminated; mount points
/// are crossed up to the root of the task's mount namespace. Userspace
/// reverses and joins them.
///
/// # Safety
/// `path` must point to a `struct path`.
#[inline(always)]
pub unsafe fn walk(base: usize, path: *const u8) -> Result<Walked, Error> {
    // SAFETY: kernel reads at BTF offsets.
    let mut state = unsafe {
        let vfsmount: *const u8 = read(path, off!(path_mnt))?;
        Walk {
            dentry: read(path, off!(path_dentry))?,
            // container_of(vfsmount, struct mount, mnt)
            mount: vfsmount.wrapping_sub(off!(mount_mnt)),
            mnt_root: read(vfsmount, off!(vfsmount_mnt_root))?,
            base: base as u64,
            len: 0,
            done: 0,
        }
    };
    // SAFETY: `step` has the callback signature bpf_loop expects, and `state`
    // outlives the call.
    unsafe {
        bpf_loop(PATH_DEPTH_MAX as u32, step as *mut c_void, (&mut state as *mut Walk).cast(), 0);
    }
    match state.done {
        DONE_COMPLETE => Ok(Walked { len: state.len as usize, truncated: false }),
        DONE_FAILED => Err(Error),
        // Ran out of steps (too deep) or of room.
        _ => Ok(Walked { len: state.len as usize, truncated: true }),
    }
}

/// One step of the walk. Returns 1 to stop the loop, 0 to go on.
extern "C" fn step(_index: u64, ctx: *mut c_void) -> i64 {
    // SAFETY: bpf_loop passes back the pointer `walk` gave it.
    let state = unsafe { &mut *ctx.cast::<Walk>() };
    state.done = match unsafe { try_step(state) } {
        Ok(done) => done,
        Err(Error) => DONE_FAILED,
    };
    i64::from(state.done != 0)
}

/// # Safety
/// `state` must hold pointers read from the kernel by `walk` or earlier steps.
#[inline(always)]
unsafe fn try_step(state: &mut Walk) -> Result<u64, Error> {
    // SAFETY (whole body): kernel reads at BTF offsets; the write position is
    // masked into the tail, which has NAME_SLOT bytes of room past the mask.
    unsafe {
        let dentry = state.dentry;
        let parent: *const u8 = read(dentry, off!(dentry_d_parent))?;
        if dentry == state.mnt_root {
            let mount_parent: *const u8 = read(state.mount, off!(mount_mnt_parent))?;
            if mount_parent == state.mount {
                // The root of the namespace: the path is complete.
                return Ok(DONE_COMPLETE);
            }
            // Continue from the mount point, in the parent mount.
            state.dentry = read(state.mount, off!(mount_mnt_mountpoint))?;
            state.mount = mount_parent;
            state.mnt_root =
                read(mount_parent.wrapping_add(off!(mount_mnt)), off!(vfsmount_mnt_root))?;
            return Ok(0);
        }
        if state.len as usize > PATH_MAX - NAME_SLOT {
            return Ok(DONE_TRUNCATED);
        }
        let scratch = EXEC_SCRATCH.get_ptr_mut(0).ok_or(Error)?;
        let tail = (*scratch).tail.as_mut_ptr();
        let name: *const u8 = read(dentry, off!(dentry_d_name) + off!(qstr_name))?;
        let pos = (state.base + state.len) as usize & TAIL_POS_MASK;
        let copied = bpf_probe_read_kernel_str(tail.add(pos).cast(), NAME_SLOT as u32, name.cast());
        if copied <= 0 {
            return Err(Error);
        }
        state.len += copied as u64;
        if dentry == parent {
            // Its own parent but not a mount root: a pseudo file system's
            // file (memfd, pipe); its name is the whole path.
            return Ok(DONE_COMPLETE);
        }
        state.dentry = parent;
        Ok(0)
    }
}
