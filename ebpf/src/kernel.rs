//! Reading kernel structs at offsets that came from the running kernel's BTF.

use aya_ebpf::helpers::bpf_probe_read_kernel;
use palisade_common::KernelOffsets;

/// Set at load time from `/sys/kernel/btf/vmlinux`.
#[unsafe(no_mangle)]
pub static OFFSETS: KernelOffsets = KernelOffsets::ZERO;

/// A kernel read failed; the caller counts the record as dropped.
#[derive(Clone, Copy)]
pub struct Error;

/// The offset of one field, read from the load-time global. A volatile read,
/// so the compiler cannot fold the compiled-in zero.
macro_rules! off {
    ($field:ident) => {{
        // SAFETY: a read-only global, written once by the loader.
        #[allow(unused_unsafe)]
        let offset = unsafe { core::ptr::read_volatile(&$crate::kernel::OFFSETS.$field) };
        offset as usize
    }};
}
pub(crate) use off;

/// Reads a `T` at `base + offset` from kernel memory.
///
/// # Safety
/// `base` must point to a kernel object holding a `T` at `offset`.
#[inline(always)]
pub unsafe fn read<T>(base: *const u8, offset: usize) -> Result<T, Error> {
    // SAFETY: bpf_probe_read_kernel faults safely on a bad address.
    unsafe { bpf_probe_read_kernel(base.wrapping_add(offset).cast::<T>()) }.map_err(|_| Error)
}

/// The process id (tgid) of a task.
///
/// # Safety
/// `task` must point to a `task_struct`.
#[inline(always)]
pub unsafe fn task_tgid(task: *const u8) -> Result<u32, Error> {
    // SAFETY: as `read`.
    unsafe { read(task, off!(task_struct_tgid)) }
}
