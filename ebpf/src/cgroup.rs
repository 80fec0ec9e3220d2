//! `cgroup/cgroup_mkdir`: every new cgroup's id and path, recorded when it
//! is created, so a container that starts and exits within a millisecond is
//! still attributed (the agent never has to find a cgroup that is gone).

use aya_ebpf::{
    EbpfContext, bindings::BPF_RB_FORCE_WAKEUP, helpers::generated::bpf_probe_read_kernel_str,
    macros::tracepoint, programs::TracePointContext,
};
use core::mem::size_of;
use palisade_common::{CGROUP_PATH_MAX, CgroupMkdirFormat, CgroupRecord, kind};

use crate::{EVENTS, count_drop, header};

/// Set at load time from the tracepoint's format file.
#[unsafe(no_mangle)]
static CGROUP_MKDIR_FORMAT: CgroupMkdirFormat = CgroupMkdirFormat::ZERO;

#[tracepoint(category = "cgroup", name = "cgroup_mkdir")]
pub fn palisade_cgroup_mkdir(ctx: TracePointContext) -> u32 {
    if try_mkdir(&ctx).is_none() {
        count_drop(kind::CGROUP_MKDIR);
    }
    0
}

fn try_mkdir(ctx: &TracePointContext) -> Option<()> {
    // SAFETY: a read-only global, written once by the loader.
    let f = unsafe { core::ptr::read_volatile(&CGROUP_MKDIR_FORMAT) };
    // SAFETY (reads): offsets from the tracepoint's format file.
    let (root, level, id, loc) = unsafe {
        (
            ctx.read_at::<i32>(f.root as usize).ok()?,
            ctx.read_at::<i32>(f.level as usize).ok()?,
            ctx.read_at::<u64>(f.id as usize).ok()?,
            ctx.read_at::<u32>(f.path as usize).ok()?,
        )
    };
    let mut entry = EVENTS.reserve::<CgroupRecord>(0)?;
    let rec = entry.as_mut_ptr();
    // SAFETY: `rec` is the reserved record; the string read stops inside
    // `path`, and the source lies inside the tracepoint record.
    unsafe {
        (*rec).header = header(
            kind::CGROUP_MKDIR,
            size_of::<CgroupRecord>(),
            aya_ebpf::helpers::bpf_get_current_pid_tgid(),
        );
        (*rec).id = id;
        (*rec).root = root;
        (*rec).level = level;
        (*rec).path[0] = 0;
        bpf_probe_read_kernel_str(
            (*rec).path.as_mut_ptr().cast(),
            CGROUP_PATH_MAX as u32,
            ctx.as_ptr().cast::<u8>().add((loc & 0xffff) as usize).cast(),
        );
    }
    // Woken at once, not batched: until the agent places the new cgroup
    // on its kernel profile, its processes get the hooks' fallback.
    entry.submit(u64::from(BPF_RB_FORCE_WAKEUP));
    Some(())
}
