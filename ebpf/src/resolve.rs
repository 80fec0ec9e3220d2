//! A dentry in a mount, resolved to its absolute path, root first, for the
//! file rules' prefix lookups. Built the way the kernel's `d_path` builds
//! one (from the leaf, each component prepended, mount points crossed), but
//! up to the root of the caller's mount namespace instead of its root
//! directory: a process that chroots into `/etc` cannot respell
//! `/etc/shadow` as `/shadow`. Every file hook resolves through here,
//! `file_open` as well as the `path_*` hooks (where 6.1 refuses
//! `bpf_d_path`), so they all judge the same path for the same file.
//!
//! The walk runs under `bpf_loop`, one component or one mount crossing per
//! step (see `path.rs` for why).

use aya_ebpf::{
    helpers::generated::{bpf_loop, bpf_probe_read_kernel, bpf_probe_read_kernel_str},
    macros::map,
    maps::PerCpuArray,
};
use core::ffi::c_void;
use palisade_common::NAME_SLOT;

use crate::{
    kernel::{Error, off, read},
    path::{Cursor, Up},
};

/// Room for the longest path resolved; a longer one is not judged.
pub const PATH_ROOM: usize = 4096;
/// More components (and mount crossings) than any path within PATH_ROOM
/// bytes has but a pathological one.
const STEPS_MAX: u32 = 1024;

/// The resolved path ends at `path[PATH_ROOM]` (a NUL); the bytes after it
/// let a fixed-size copy from any start stay inside the buffer.
#[repr(C)]
pub struct Buffer {
    name: [u8; NAME_SLOT],
    /// [`PATH_ROOM`], stored and loaded back at each walk (see `resolve`).
    room: u64,
    pub path: [u8; PATH_ROOM + NAME_SLOT],
}

#[map]
static RESOLVE_BUFFER: PerCpuArray<Buffer> = PerCpuArray::with_max_entries(1, 0);

/// Where in [`Buffer::path`] a resolved path starts, and its length.
#[derive(Clone, Copy)]
pub struct Resolved {
    pub start: usize,
    pub len: usize,
}

/// The per-CPU buffer [`resolve`] writes into.
#[inline(always)]
pub fn buffer() -> Option<&'static mut Buffer> {
    // SAFETY: the map value is this CPU's, ours for the duration of the
    // program run (LSM programs do not nest on a CPU).
    RESOLVE_BUFFER.get_ptr_mut(0).map(|b| unsafe { &mut *b })
}

/// Shown each dentry the walk passes, the leaf first, a mount's root
/// included (the directory a bind mount shows is its root dentry).
pub trait Visit {
    /// # Safety
    /// `dentry` is a `struct dentry *` the walk read from the kernel.
    unsafe fn visit(dentry: *const u8);
}

/// The loop's state, on the caller's stack.
#[repr(C)]
struct Walk {
    at: Cursor,
    /// Where the path written so far starts in the buffer.
    pos: u64,
    /// 0 while walking, then one of the `DONE_*` values.
    done: u64,
}

const DONE_COMPLETE: u64 = 1;
/// Too long or too deep, a pseudo file system's file, or a failed read.
const DONE_UNRESOLVED: u64 = 2;

/// Resolves `dentry` in `vfsmount` into the buffer, showing `V` each
/// dentry on the way; `None` when it has no absolute path within
/// [`PATH_ROOM`] (a pipe's, an anonymous file's, a pathological one's).
///
/// # Safety
/// `dentry` must be a `struct dentry *` and `vfsmount` a `struct vfsmount *`
/// the hook was given (or read from a `struct path` it was given).
#[inline(always)]
pub unsafe fn resolve<V: Visit>(dentry: *const u8, vfsmount: *const u8) -> Option<Resolved> {
    let buffer = buffer()?;
    buffer.path[PATH_ROOM] = 0;
    // The walk starts at the end of the buffer, a position the verifier
    // must not know: 6.1's checks a bpf_loop callback as if it ran once and
    // tracks the state's numbers exactly, so from a constant start it
    // would take each branch on the position (after the loop, and in the
    // callback) as that one step decides it, and hard-wire it. Loaded from
    // map memory, the position is any number to it.
    buffer.room = PATH_ROOM as u64;
    // SAFETY: a read of the field just written, kept by `read_volatile`.
    let room = unsafe { core::ptr::read_volatile(&buffer.room) };
    // SAFETY: the caller's `vfsmount`.
    let at = unsafe { Cursor::new(dentry, vfsmount) }.ok()?;
    let mut state = Walk { at, pos: room, done: 0 };
    // SAFETY: `step` has the callback signature bpf_loop expects, and `state`
    // outlives the call.
    unsafe { bpf_loop(STEPS_MAX, step::<V> as *mut c_void, (&mut state as *mut Walk).cast(), 0) };
    if state.done != DONE_COMPLETE {
        return None;
    }
    let mut pos = state.pos as usize;
    if pos >= PATH_ROOM {
        // The root itself.
        pos = PATH_ROOM - 1;
        buffer.path[pos] = b'/';
    }
    Some(Resolved { start: pos & (PATH_ROOM - 1), len: PATH_ROOM - pos })
}

/// One step of the walk. Returns 1 to stop the loop, 0 to go on.
extern "C" fn step<V: Visit>(_index: u64, ctx: *mut c_void) -> i64 {
    // SAFETY: bpf_loop passes back the pointer `resolve` gave it.
    let state = unsafe { &mut *ctx.cast::<Walk>() };
    state.done = match unsafe { try_step::<V>(state) } {
        Ok(done) => done,
        Err(Error) => DONE_UNRESOLVED,
    };
    i64::from(state.done != 0)
}

/// # Safety
/// `state` must hold pointers read from the kernel by `resolve` or earlier
/// steps.
#[inline(always)]
unsafe fn try_step<V: Visit>(state: &mut Walk) -> Result<u64, Error> {
    // SAFETY (whole body): kernel reads at BTF offsets; every write position
    // is masked into the buffer, which has NAME_SLOT bytes of room past the
    // mask.
    unsafe {
        let dentry = state.at.dentry;
        V::visit(dentry);
        match state.at.leave_mount()? {
            Up::Root => return Ok(DONE_COMPLETE),
            Up::Crossed => return Ok(0),
            Up::InMount => {}
        }
        let parent: *const u8 = read(dentry, off!(dentry_d_parent))?;
        if dentry == parent {
            // Its own parent but not a mount's root: a pseudo file system's
            // file (pipe, memfd) or a detached tree; no absolute path.
            return Ok(DONE_UNRESOLVED);
        }
        let buffer = buffer().ok_or(Error)?;
        let name: *const u8 = read(dentry, off!(dentry_d_name) + off!(qstr_name))?;
        let copied = bpf_probe_read_kernel_str(
            buffer.name.as_mut_ptr().cast(),
            NAME_SLOT as u32,
            name.cast(),
        );
        if copied <= 1 {
            return Err(Error);
        }
        let len = (copied as u64 - 1) & (NAME_SLOT as u64 - 1);
        if state.pos < len + 1 {
            return Ok(DONE_UNRESOLVED);
        }
        state.pos -= len;
        let at = state.pos as usize & (PATH_ROOM - 1);
        bpf_probe_read_kernel(
            buffer.path.as_mut_ptr().add(at).cast(),
            len as u32,
            buffer.name.as_ptr().cast(),
        );
        state.pos -= 1;
        buffer.path[state.pos as usize & (PATH_ROOM - 1)] = b'/';
        state.at.dentry = parent;
        Ok(0)
    }
}
