//! Policy as code: a Rego bundle judges every event.
//!
//! The bundle's own Rego computes the decision at [`ENTRY_POINT`], so OPA and
//! Palisade give the same answer. Palisade compiles the bundle once, into one
//! program per event kind holding only the rules for that kind, and runs it
//! on regorus's RVM. Rules also declare triggers, cheap necessary conditions
//! that main.rego applies: the agent tests them natively ([`triggers`]),
//! runs no Rego for an event that triggers no rule, and otherwise a program
//! holding only the triggered rules, on a pool of workers ([`pool`]). Neither
//! index changes a decision.
//!
//! Loading, bottom-up: [`engine`] (regorus with the limits set), `modules`
//! (each module's package, its `kernel` rules blanked for the per-event
//! programs), `validate` (rule metadata, config, exceptions, kernel
//! sections), `program` (programs per kind and per set of triggered rules,
//! and their cache), [`compiled`] (the compiled [`compiled::Policy`]),
//! [`eval`] (the per-worker evaluator), `checks` (what a bundle passes
//! before it goes live) and [`load`], which runs them in that order.

pub mod break_glass;
pub mod bundle;
mod checks;
pub mod cli;
pub mod compiled;
pub mod data;
pub mod decision;
pub mod enforce;
pub mod engine;
pub mod eval;
pub mod files;
mod input;
pub mod judge;
pub mod kernel_plan;
pub mod load;
pub mod meta;
mod modules;
pub mod oci;
mod parallel;
pub mod pool;
mod program;
pub mod reload;
pub mod server;
pub mod signing;
pub mod tarball;
pub mod testing;
pub mod triggers;
mod validate;
mod value_de;
pub mod workloads;

use thiserror::Error;

/// The rule every decision comes from.
pub const ENTRY_POINT: &str = "data.palisade.main.decision";

#[derive(Debug, Error)]
pub enum PolicyError {
    /// The bundle is not valid; `location` is `file:line` where known.
    #[error("{location}: {reason}")]
    Invalid { location: String, reason: String },
    /// Reading the bundle failed, or it is malformed at the file level.
    #[error("{location}: {reason}")]
    Bundle { location: String, reason: String },
    /// A verification key is configured and the bundle's signature does
    /// not hold (unsigned, a file changed, added or missing, another key).
    #[error("{location}: signature: {reason}")]
    Signature { location: String, reason: String },
    /// Evaluating one event failed (including hitting the limits).
    #[error("policy evaluation failed: {0}")]
    Eval(String),
    /// The entry point gave something that is not a decision.
    #[error("{ENTRY_POINT} is not a decision ({reason}): {value}")]
    NotADecision { reason: String, value: String },
}

impl PolicyError {
    pub(crate) fn invalid(location: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid { location: location.into(), reason: reason.into() }
    }
}

/// A regorus error on one line: regorus prints `--> file:line:col`, the
/// source line, a caret and `error: ...` on separate lines.
pub(crate) fn one_line(err: &dyn std::fmt::Display) -> String {
    let text = format!("{err:#}");
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let location = lines.iter().find_map(|l| l.strip_prefix("--> "));
    let message = lines
        .iter()
        .find_map(|l| l.split_once("error: ").map(|(_, m)| m))
        .unwrap_or(lines.first().copied().unwrap_or("unknown error"));
    match location {
        Some(at) => format!("{at}: {message}"),
        None => message.to_string(),
    }
}
