//! Independent jobs over a bundle (compiling the per-kind programs,
//! running the bundle's tests) spread over the CPUs.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `run(state, job)` for every job, on up to `max_threads` threads (no more
/// than the CPUs or the jobs), each with its own `state` from `init` (e.g.
/// a clone of an engine); the results in the jobs' order. Threads take the
/// next job as they finish one, so a few heavy jobs side by side do not
/// hold one thread while the others idle.
pub(super) fn map_in_order<J: Sync, S, R: Send>(
    jobs: &[J],
    max_threads: usize,
    init: impl Fn() -> S + Sync,
    run: impl Fn(&mut S, &J) -> R + Sync,
) -> Vec<R> {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = cpus.min(max_threads).min(jobs.len());
    if threads <= 1 {
        let mut state = init();
        return jobs.iter().map(|job| run(&mut state, job)).collect();
    }
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut state = init();
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else { break done };
                        done.push((i, run(&mut state, job)));
                    }
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("a worker thread panicked")).collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_the_jobs_order_with_per_thread_state() {
        let jobs: Vec<u32> = (0..50).collect();
        let out = map_in_order(
            &jobs,
            4,
            || 0u32,
            |seen, &j| {
                *seen += 1;
                j * 2
            },
        );
        assert_eq!(out, jobs.iter().map(|j| j * 2).collect::<Vec<_>>());
        assert!(map_in_order(&[] as &[u32], 4, || (), |_, &j| j).is_empty());
    }
}
