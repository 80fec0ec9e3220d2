//! bpf(2) commands that aya 0.14 does not wrap, issued directly.

use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd},
};

use aya::Pod;

/// `BPF_MAP_LOOKUP_BATCH` (Linux 5.6; the ring buffer the agent needs is 5.8).
const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// Issues bpf(2) `cmd` with `attr`, a zero-padded prefix of `union bpf_attr`.
pub(crate) fn sys_bpf<const N: usize>(
    cmd: libc::c_long,
    attr: &mut [u64; N],
) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a zero-padded `union bpf_attr` prefix of the size
    // given, valid for the call; the pointers in it are the caller's.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), size_of_val(attr)) };
    if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(rc) }
}

/// The values of slots `0..slots` of the array map `map`, whose values are
/// `V`s, in one call. Read slot by slot, the three per-profile arrays the
/// agent checks every two seconds were some three thousand bpf(2) calls a
/// check: a steady cost on a host whose kernel entries are dear (return
/// thunks against SRSO make each call several times dearer).
pub fn read_array<V: Pod + Default>(map: BorrowedFd<'_>, slots: u32) -> io::Result<Vec<V>> {
    let mut values = vec![V::default(); slots as usize];
    let mut keys = vec![0u32; slots as usize];
    let mut next = 0u32;
    // { in_batch, out_batch, keys, values, count | map_fd << 32, elem_flags, flags }
    let mut attr = [
        0,
        &raw mut next as u64,
        keys.as_mut_ptr() as u64,
        values.as_mut_ptr() as u64,
        u64::from(slots) | u64::from(map.as_raw_fd() as u32) << 32,
        0,
        0,
    ];
    // The kernel reads up to `count` slots from the first and answers
    // ENOENT when it reached the array's end: all of them either way.
    match sys_bpf(BPF_MAP_LOOKUP_BATCH, &mut attr) {
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let read = (attr[4] & u64::from(u32::MAX)) as usize;
    let in_order = keys.iter().take(read).enumerate().all(|(i, &k)| k as usize == i);
    if read != slots as usize || !in_order {
        return Err(io::Error::other(format!(
            "a batch lookup of {slots} array slots read {read}{}",
            if in_order { "" } else { ", out of order" }
        )));
    }
    Ok(values)
}
