//! A regorus engine with the evaluation limits set, and adding a module
//! with its errors at `file:line:col`.

use std::{num::NonZeroU32, time::Duration};

use regorus::{Engine, utils::limits::ExecutionTimerConfig};

use super::{PolicyError, one_line};

/// RVM instructions one evaluation may run: far above any sane rule set,
/// low enough that a runaway policy stops in milliseconds.
pub const MAX_INSTRUCTIONS: usize = 2_000_000;

/// Wall-clock budget of one evaluation: a backstop for what the instruction
/// budget cannot count (the interpreter, one huge builtin call). Generous,
/// because a debug build under software emulation (the 6.1 VM tests) runs
/// the baseline's first evaluation in over 100 ms.
pub const TIME_LIMIT: Duration = Duration::from_secs(1);

/// The evaluation budget, for the RVM and the interpreter alike.
pub fn time_limit(limit: Duration) -> ExecutionTimerConfig {
    ExecutionTimerConfig { limit, check_interval: NonZeroU32::new(1000).expect("non-zero") }
}

/// An engine whose evaluations stop after `limit`.
pub fn limited_engine(limit: Duration) -> Engine {
    let mut engine = Engine::new();
    engine.set_execution_timer_config(time_limit(limit));
    engine
}

/// Adds a Rego module, turning a parse error into `file:line:col: reason`.
pub(crate) fn add_module(engine: &mut Engine, path: &str, text: &str) -> Result<(), PolicyError> {
    engine.add_policy(path.to_string(), text.to_string()).map(|_| ()).map_err(|e| {
        let reason = one_line(&e);
        // regorus puts `path:line:col` first; keep it as the location.
        match reason.split_once(": ") {
            Some((loc, rest)) if loc.starts_with(path) => PolicyError::invalid(loc, rest),
            _ => PolicyError::invalid(path, reason),
        }
    })
}
