//! Kernel timestamps (CLOCK_MONOTONIC ns) to wall-clock RFC 3339 with ns.

use crate::model::time::rfc3339_ns;

/// Converts monotonic timestamps to wall-clock time, with the offset between
/// the two clocks measured once at start.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    realtime_minus_monotonic_ns: i128,
}

fn now_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a valid out pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

impl Clock {
    pub fn new() -> Self {
        let mono = now_ns(libc::CLOCK_MONOTONIC);
        let real = now_ns(libc::CLOCK_REALTIME);
        Self { realtime_minus_monotonic_ns: real - mono }
    }

    /// Now, on the kernel's monotonic clock (what `bpf_ktime_get_ns` reads).
    pub fn monotonic_now_ns() -> u64 {
        now_ns(libc::CLOCK_MONOTONIC) as u64
    }

    /// Nanoseconds since the Unix epoch for a monotonic timestamp.
    pub fn wall_ns(&self, monotonic_ns: u64) -> i128 {
        i128::from(monotonic_ns) + self.realtime_minus_monotonic_ns
    }

    pub fn rfc3339(&self, monotonic_ns: u64) -> String {
        rfc3339_ns(self.wall_ns(monotonic_ns))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_maps_close_to_now() {
        let clock = Clock::new();
        let wall = clock.wall_ns(Clock::monotonic_now_ns());
        let real = now_ns(libc::CLOCK_REALTIME);
        assert!((real - wall).abs() < 1_000_000_000);
    }
}
