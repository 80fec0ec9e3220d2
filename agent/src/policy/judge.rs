//! Applying the policy inside `palisade run`: every event is evaluated, the
//! decision is attached, a `kill` in enforce mode is carried out, each use of
//! an exception is recorded, and expired exceptions are reported.

use std::{collections::HashSet, sync::Arc, sync::mpsc::Receiver};

use serde_json::{Value, json};
use tracing::{info, warn};

use super::{
    compiled::{Evaluator, Policy, Triggered},
    enforce::{self, Enforcement},
};
use crate::{
    event::{Clock, Event},
    sensor::decode::KernelVerdict,
    stats::Stats,
};

/// What happens to an event whose evaluation fails (a policy that errs or
/// hits its limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailMode {
    /// The event is let through: decision action `allow`, with the error.
    Open,
    /// The event is treated as matching a `kill` rule (in audit mode:
    /// reported as would_block).
    Closed,
}

/// What judging an event takes, found by [`Judge::prepare`].
pub enum Prepared {
    /// Nothing: the event cannot match; it gets no decision.
    Done,
    /// No Rego, only a kernel verdict to report.
    Verdict,
    /// Rego must run.
    Rego(Job),
}

/// The Rego part of judging one event, to run on any thread.
pub struct Job {
    /// The bundle that found the triggered rules (a worker swaps to it).
    policy: Arc<Policy>,
    /// The event as the policy reads it.
    input: Value,
    /// The rules the event triggers; `None`: the whole decision.
    rules: Option<Triggered>,
}

pub struct Judge {
    evaluator: Evaluator,
    fail_mode: FailMode,
    /// Where new bundles arrive; a pool worker has none (its jobs carry
    /// their bundle).
    updates: Option<Receiver<Arc<Policy>>>,
    /// Expired exceptions already reported for the current bundle.
    expired_reported: HashSet<String>,
}

impl Judge {
    pub fn new(
        policy: Arc<Policy>,
        fail_mode: FailMode,
        updates: Option<Receiver<Arc<Policy>>>,
    ) -> Self {
        Self { evaluator: policy.evaluator(), fail_mode, updates, expired_reported: HashSet::new() }
    }

    pub fn policy(&self) -> &Arc<Policy> {
        self.evaluator.policy()
    }

    pub fn fail_mode(&self) -> FailMode {
        self.fail_mode
    }

    /// Takes a newly loaded bundle, if the reloader sent one.
    pub fn take_update(&mut self) {
        let Some(updates) = &self.updates else { return };
        while let Ok(policy) = updates.try_recv() {
            info!(
                bundle = policy.short_digest(),
                rules = policy.rules.len(),
                "policy bundle swapped in"
            );
            self.evaluator = policy.evaluator();
            self.expired_reported.clear();
        }
    }

    /// Logs and counts exceptions that expired since the last check.
    pub fn report_expired(&mut self, now_wall_ns: i128, stats: &Stats) {
        for e in &self.evaluator.policy().exceptions {
            if e.expires_ns <= now_wall_ns && self.expired_reported.insert(e.id.clone()) {
                stats.exceptions_expired.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                warn!(
                    exception = e.id,
                    owner = e.owner,
                    expired = e.expires,
                    "exception expired: it no longer applies; renew it in the bundle or remove it"
                );
            }
        }
    }

    /// The cheap part of judging, on the thread that reads events: stamps
    /// the bundle's digest and finds whether Rego must run. Matches come
    /// only from rules, so a kind no rule names, or an event that triggers
    /// no rule, cannot match: nothing runs for it, unless a kernel rule
    /// matched in a hook, whose verdict needs the whole decision beside it.
    pub fn prepare(&mut self, event: &mut Event) -> Prepared {
        let policy = self.evaluator.policy();
        event.bundle = Some(policy.short_digest().to_string());
        let verdict = event.verdict.is_some();
        if !policy.judges(event.kind) {
            return if verdict { Prepared::Verdict } else { Prepared::Done };
        }
        let input = match serde_json::to_value(&*event) {
            Ok(v) => v,
            Err(err) => {
                warn!(%err, "cannot present an event to the policy");
                return Prepared::Done;
            }
        };
        let rules = if verdict {
            None
        } else {
            let triggered = policy.triggered(&input);
            if triggered.is_empty() {
                return Prepared::Done;
            }
            Some(triggered)
        };
        Prepared::Rego(Job { policy: Arc::clone(policy), input, rules })
    }

    /// The rest: runs the job's Rego (none for a bare kernel verdict),
    /// attaches the decision, carries out a `kill`, and returns the audit
    /// records of the exceptions used.
    pub fn finish(
        &mut self,
        event: &mut Event,
        job: Option<Job>,
        start_ns: u64,
        clock: &Clock,
        stats: &Stats,
    ) -> Vec<Value> {
        let verdict = event.verdict.clone();
        let mut decision = match job {
            Some(job) => {
                if !Arc::ptr_eq(self.evaluator.policy(), &job.policy) {
                    self.evaluator = job.policy.evaluator();
                }
                let started = std::time::Instant::now();
                let result = match job.rules {
                    Some(rules) => self.evaluator.eval_rules(&job.input, rules),
                    None => self.evaluator.eval(&job.input),
                };
                stats.eval_latency.observe(started.elapsed());
                match result {
                    Ok(d) => d,
                    Err(err) => {
                        stats.eval_errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        warn!(%err, event = event.id, "policy evaluation failed; applying the fail mode");
                        self.failed(&err.to_string())
                    }
                }
            }
            None => {
                let mode = &self.evaluator.policy().mode;
                json!({"matched": [], "suppressed": [], "action": "allow", "would_block": false, "mode": mode})
            }
        };
        let policy = Arc::clone(self.evaluator.policy());
        if let Some(v) = &verdict {
            fold_kernel_verdict(&mut decision, v, &policy);
        }
        let matched = decision["matched"].as_array().is_some_and(|m| !m.is_empty());
        let suppressed: Vec<Value> = decision["suppressed"].as_array().cloned().unwrap_or_default();
        let failed = decision.get("error").is_some();
        if !(matched || !suppressed.is_empty() || failed) {
            return Vec::new();
        }
        stats.count_decision(decision["action"].as_str().unwrap_or("?"));
        // By what each matched rule did: its action in enforce mode, an
        // alert otherwise.
        for m in decision["matched"].as_array().into_iter().flatten() {
            let action =
                if m["mode"] == "enforce" { m["action"].as_str().unwrap_or("?") } else { "alert" };
            stats.count_rule(m["rule"].as_str().unwrap_or("?"), action);
        }
        let enforcement = match &verdict {
            // The kernel already acted, before the program ran.
            Some(v) if v.enforced => Some(Enforcement::kernel(v)),
            _ => match decision["action"].as_str() {
                Some("kill") => Some(enforce::kill(event.process.pid, start_ns)),
                Some("block") => Some(Enforcement::block_not_enforced()),
                _ => verdict.as_ref().map(Enforcement::kernel),
            },
        };
        if let (Some(e), Some(obj)) = (enforcement, decision.as_object_mut()) {
            obj.insert("enforcement".into(), json!(e));
        }
        if let Some(obj) = decision.as_object_mut() {
            obj.insert("bundle".into(), json!(policy.short_digest()));
        }
        event.decision = Some(decision);
        suppressed
            .into_iter()
            .map(|s| {
                stats.exceptions_used.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                json!({
                    "schema": crate::event::SCHEMA,
                    "id": format!("{}-exception-{}", event.id, s["exception"].as_str().unwrap_or("?")),
                    "time": clock.rfc3339(Clock::monotonic_now_ns()),
                    "node": event.node,
                    "kind": crate::event::EXCEPTION_USED,
                    "event_id": event.id,
                    "bundle": policy.short_digest(),
                    "exception": s,
                    "process": {"pid": event.process.pid, "binary": event.process.binary},
                })
            })
            .collect()
    }

    /// The decision of an event whose evaluation failed, by the fail mode.
    pub fn failed(&self, reason: &str) -> Value {
        let policy = self.evaluator.policy();
        match self.fail_mode {
            FailMode::Open => {
                json!({"action": "allow", "error": reason, "matched": [], "mode": policy.mode})
            }
            FailMode::Closed => {
                let enforce = policy.mode == "enforce";
                json!({
                    "action": if enforce { "kill" } else { "alert" },
                    "would_block": !enforce,
                    "error": reason,
                    "matched": [],
                    "mode": policy.mode,
                })
            }
        }
    }
}

/// Adds what a kernel hook decided to the policy's decision: the kernel rule
/// among the matches (the bundle's Rego may not have matched the same event,
/// e.g. a name rule scoped by PID namespace), and the action it enforced.
fn fold_kernel_verdict(decision: &mut Value, verdict: &KernelVerdict, policy: &Policy) {
    let meta = policy.rules.iter().find(|r| r.id == verdict.rule);
    let rule_action = meta.map_or("block", |m| m.action.as_str());
    let mode = if verdict.enforced {
        "enforce"
    } else if verdict.blocking {
        "audit"
    } else {
        policy.mode.as_str()
    };
    let Some(obj) = decision.as_object_mut() else { return };
    let matched = obj.entry("matched").or_insert_with(|| json!([]));
    if let Some(list) = matched.as_array_mut()
        && !list.iter().any(|m| m["rule"] == verdict.rule.as_str())
    {
        list.push(json!({
            "rule": verdict.rule,
            "title": meta.map(|m| m.title.as_str()),
            "severity": meta.map(|m| m.severity.as_str()),
            "mitre": meta.map(|m| m.mitre.as_str()),
            "action": rule_action,
            "mode": mode,
            "message": "matched in the kernel hook",
        }));
    }
    let current = obj.get("action").and_then(Value::as_str).unwrap_or("allow");
    let wanted = if verdict.enforced { rule_action } else { "alert" };
    if strength(wanted) > strength(current) {
        obj.insert("action".into(), json!(wanted));
    }
    if !verdict.enforced && verdict.blocking {
        obj.insert("would_block".into(), json!(true));
    }
}

fn strength(action: &str) -> u8 {
    match action {
        "kill" => 3,
        "block" => 2,
        "alert" => 1,
        _ => 0,
    }
}
