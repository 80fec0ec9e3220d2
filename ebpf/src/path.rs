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

/// Where a walk up the tree is: a dentry, the mount it is seen in and that
/// mount's root. Both walks (this one, leaf first, for the exec record;
/// `resolve`'s, root first, for the file rules) move it the same way.
#[repr(C)]
pub struct Cursor {
    pub dentry: *const u8,
    mount: *const u8,
    mnt_root: *const u8,
}

/// What [`Cursor::leave_mount`] found.
pub enum Up {
    /// Not a mount's root: the walk goes on to the dentry's parent.
    InMount,
    /// It was a mount's root: the cursor is now at the mount point, in the
    /// parent mount.
    Crossed,
    /// The root of the mount namespace: the walk is complete.
    Root,
}

impl Cursor {
    /// At `dentry`, seen through `vfsmount`.
    ///
    /// # Safety
    /// `vfsmount` must point to a `struct vfsmount`.
    #[inline(always)]
    pub unsafe fn new(dentry: *const u8, vfsmount: *const u8) -> Result<Self, Error> {
        Ok(Self {
            dentry,
            // container_of(vfsmount, struct mount, mnt)
            mount: vfsmount.wrapping_sub(off!(mount_mnt)),
            // SAFETY: a kernel read at a BTF offset.
            mnt_root: unsafe { read(vfsmount, off!(vfsmount_mnt_root))? },
        })
    }

    /// At a mount's root, crosses to its mount point in the parent mount.
    ///
    /// # Safety
    /// The cursor must hold pointers read from the kernel.
    #[inline(always)]
    pub unsafe fn leave_mount(&mut self) -> Result<Up, Error> {
        if self.dentry != self.mnt_root {
            return Ok(Up::InMount);
        }
        // SAFETY (whole block): kernel reads at BTF offsets.
        unsafe {
            let parent: *const u8 = read(self.mount, off!(mount_mnt_parent))?;
            if parent == self.mount {
                return Ok(Up::Root);
            }
            self.dentry = read(self.mount, off!(mount_mnt_mountpoint))?;
            self.mount = parent;
            self.mnt_root = read(parent.wrapping_add(off!(mount_mnt)), off!(vfsmount_mnt_root))?;
        }
        Ok(Up::Crossed)
    }
}

/// The loop's state, on the caller's stack.
#[repr(C)]
struct Walk {
    at: Cursor,
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
        let at = Cursor::new(read(path, off!(path_dentry))?, vfsmount)?;
        Walk { at, base: base as u64, len: 0, done: 0 }
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
        match state.at.leave_mount()? {
            Up::Root => return Ok(DONE_COMPLETE),
            Up::Crossed => return Ok(0),
            Up::InMount => {}
        }
        let dentry = state.at.dentry;
        let parent: *const u8 = read(dentry, off!(dentry_d_parent))?;
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
        state.at.dentry = parent;
        Ok(0)
    }
}
