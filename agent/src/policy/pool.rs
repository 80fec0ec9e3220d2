//! Policy workers: the Rego of events that trigger rules runs on worker
//! threads, each with its own evaluator (its own compiled programs and VMs,
//! no lock shared on the hot path), while the reading thread carries on.
//! Events leave in the order they came in.
//!
//! Most events trigger no rule and are judged on the reading thread in a
//! microsecond or two; handing those to a thread would cost more than
//! judging them. Only [`Prepared::Rego`] work travels.

use std::{
    collections::VecDeque,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{Arc, atomic::Ordering::Relaxed, mpsc},
    thread::JoinHandle,
};

use serde_json::Value;
use tracing::error;

use super::{
    compiled::Policy,
    judge::{FailMode, Job, Judge, Prepared},
};
use crate::{
    event::{Clock, Event},
    stats::Stats,
};

/// Events waiting for a worker before the reading thread waits for them:
/// bounds memory and the delay a slow policy adds to every later event.
const MAX_PENDING: usize = 4096;

struct Task {
    event: Event,
    job: Job,
    start_ns: u64,
}

type Judged = (Event, Vec<Value>);

struct Worker {
    tasks: mpsc::Sender<Task>,
    results: mpsc::Receiver<Judged>,
    thread: JoinHandle<()>,
}

enum Pending {
    /// Judged: the event and its exception audit records.
    Ready(Box<Judged>),
    /// On worker `n`, whose results come back in the order it took them.
    Waiting(usize),
}

pub struct JudgePool {
    workers: Vec<Worker>,
    next: usize,
    pending: VecDeque<Pending>,
    clock: Clock,
    stats: Arc<Stats>,
}

impl JudgePool {
    /// Starts `workers` threads (0: everything is judged on the caller's
    /// thread), each judging with its own evaluator of `policy`.
    pub fn new(
        workers: usize,
        policy: &Arc<Policy>,
        fail_mode: FailMode,
        clock: Clock,
        stats: &Arc<Stats>,
    ) -> std::io::Result<Self> {
        let mut started = Vec::with_capacity(workers);
        for n in 0..workers {
            let (tasks, task_rx) = mpsc::channel::<Task>();
            let (result_tx, results) = mpsc::channel::<Judged>();
            let judge = Judge::new(Arc::clone(policy), fail_mode, None);
            let stats = Arc::clone(stats);
            let thread = std::thread::Builder::new()
                .name(format!("palisade-policy-{n}"))
                .spawn(move || work(judge, &task_rx, &result_tx, &clock, &stats))?;
            started.push(Worker { tasks, results, thread });
        }
        Ok(Self {
            workers: started,
            next: 0,
            pending: VecDeque::new(),
            clock,
            stats: Arc::clone(stats),
        })
    }

    /// Judges `event`: on this thread when no Rego runs for it (or there are
    /// no workers), else on the next worker. Collect it with [`Self::drain`].
    pub fn submit(&mut self, judge: &mut Judge, mut event: Event, start_ns: u64) {
        let job = match judge.prepare(&mut event) {
            Prepared::Done => return self.ready(event, Vec::new()),
            Prepared::Verdict => None,
            Prepared::Rego(job) => Some(job),
        };
        let job = match job {
            Some(job) if !self.workers.is_empty() => {
                let n = self.next;
                self.next = (n + 1) % self.workers.len();
                match self.workers[n].tasks.send(Task { event, job, start_ns }) {
                    Ok(()) => return self.pending.push_back(Pending::Waiting(n)),
                    // The worker is gone (it cannot be, short of a bug):
                    // judge here rather than lose the event.
                    Err(mpsc::SendError(task)) => {
                        event = task.event;
                        Some(task.job)
                    }
                }
            }
            job => job,
        };
        let audits = judge.finish(&mut event, job, start_ns, &self.clock, &self.stats);
        self.ready(event, audits);
    }

    fn ready(&mut self, event: Event, audits: Vec<Value>) {
        self.pending.push_back(Pending::Ready(Box::new((event, audits))));
    }

    /// Hands `out` the judged events, oldest first, up to the first one a
    /// worker still holds. With `wait`, or when too many are pending,
    /// waits for the workers instead of stopping there.
    pub fn drain(&mut self, wait: bool, mut out: impl FnMut(Event, Vec<Value>)) {
        loop {
            let must_wait = wait || self.pending.len() > MAX_PENDING;
            let judged = match self.pending.pop_front() {
                None => return,
                Some(Pending::Ready(judged)) => *judged,
                Some(Pending::Waiting(n)) => {
                    let results = &self.workers[n].results;
                    let result = if must_wait {
                        results.recv().map_err(|_| mpsc::TryRecvError::Disconnected)
                    } else {
                        results.try_recv()
                    };
                    match result {
                        Ok(judged) => judged,
                        Err(mpsc::TryRecvError::Empty) => {
                            self.pending.push_front(Pending::Waiting(n));
                            return;
                        }
                        Err(mpsc::TryRecvError::Disconnected) => {
                            // Only a worker that died with the event can
                            // get here; `work` catches panics, so this is
                            // a bug: say so and go on with the rest.
                            error!(
                                worker = n,
                                "a policy worker is gone; its pending event is lost"
                            );
                            self.stats.eval_errors.fetch_add(1, Relaxed);
                            continue;
                        }
                    }
                }
            };
            out(judged.0, judged.1);
        }
    }

    /// Stops the workers once they have finished what they hold (drain
    /// first).
    pub fn stop(self) {
        for worker in self.workers {
            drop(worker.tasks);
            let _ = worker.thread.join();
        }
    }
}

/// A worker: judges tasks in order until the pool drops its sender. A panic
/// in the evaluation costs that event its decision (the fail mode's
/// instead), never the event or the worker.
fn work(
    mut judge: Judge,
    tasks: &mpsc::Receiver<Task>,
    results: &mpsc::Sender<Judged>,
    clock: &Clock,
    stats: &Stats,
) {
    while let Ok(Task { mut event, job, start_ns }) = tasks.recv() {
        let copy = event.clone();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let audits = judge.finish(&mut event, Some(job), start_ns, clock, stats);
            (event, audits)
        }));
        let judged = match outcome {
            Ok(judged) => judged,
            Err(_) => {
                error!(event = copy.id, "policy evaluation panicked; applying the fail mode");
                stats.eval_errors.fetch_add(1, Relaxed);
                let mut event = copy;
                event.decision = Some(judge.failed("policy evaluation panicked"));
                // Fresh VMs: the panic may have left them half-way.
                judge = Judge::new(Arc::clone(judge.policy()), judge.fail_mode(), None);
                (event, Vec::new())
            }
        };
        if results.send(judged).is_err() {
            return;
        }
    }
}
