//! Applying the policy inside `palisade run`: every event is evaluated, the
//! decision is attached, a `kill` in enforce mode is carried out, each use of
//! an exception is recorded, and expired exceptions are reported.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
    sync::mpsc::Receiver,
};

use serde_json::{Value, json};
use tracing::{info, warn};

use super::{
    compiled::Policy,
    decision::{Action, Decision, Match, Mode},
    enforce::{self, Enforcement},
    eval::Evaluator,
    meta::ExceptionInfo,
    triggers::Triggered,
};
use crate::{
    event::{Clock, Event},
    sensor::decode::KernelVerdict,
    stats::{RuleOutcome, Stats},
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
    /// Break-glass orders announced as in force, by exception id.
    break_glass: BTreeMap<String, ExceptionInfo>,
}

/// A break-glass order that came into force or ended, for its record.
#[derive(Debug, Clone)]
pub struct BreakGlassChange {
    /// `started`, `ended` (its expiry) or `revoked` (its order removed).
    pub phase: &'static str,
    pub order: ExceptionInfo,
}

impl Judge {
    pub fn new(
        policy: Arc<Policy>,
        fail_mode: FailMode,
        updates: Option<Receiver<Arc<Policy>>>,
    ) -> Self {
        Self {
            evaluator: Evaluator::new(&policy),
            fail_mode,
            updates,
            expired_reported: HashSet::new(),
            break_glass: BTreeMap::new(),
        }
    }

    /// The break-glass orders that came into force or ended since the last
    /// call (the first call announces those in force at the start).
    pub fn break_glass_changes(&mut self, now_wall_ns: i128) -> Vec<BreakGlassChange> {
        let in_force: BTreeMap<String, ExceptionInfo> = (self.evaluator.policy().exceptions)
            .iter()
            .filter(|e| e.break_glass && e.expires_ns > now_wall_ns)
            .map(|e| (e.id.clone(), e.clone()))
            .collect();
        let mut changes = Vec::new();
        for (id, order) in &self.break_glass {
            if !in_force.contains_key(id) {
                let phase = if order.expires_ns <= now_wall_ns { "ended" } else { "revoked" };
                changes.push(BreakGlassChange { phase, order: order.clone() });
            }
        }
        for (id, order) in &in_force {
            if !self.break_glass.contains_key(id) {
                changes.push(BreakGlassChange { phase: "started", order: order.clone() });
            }
        }
        for change in &changes {
            let o = &change.order;
            warn!(
                order = o.id,
                phase = change.phase,
                by = o.owner,
                rules = ?o.rules,
                scope = %o.scope,
                until = o.expires,
                reason = o.reason,
                "break-glass"
            );
        }
        self.break_glass = in_force;
        changes
    }

    pub fn policy(&self) -> &Arc<Policy> {
        self.evaluator.policy()
    }

    pub fn fail_mode(&self) -> FailMode {
        self.fail_mode
    }

    /// Takes a newly loaded bundle, if the reloader sent one.
    /// Swaps in the bundles that arrived; returns each swap's (old, new).
    pub fn take_update(&mut self) -> Vec<(Arc<Policy>, Arc<Policy>)> {
        let mut swaps = Vec::new();
        let Some(updates) = &self.updates else { return swaps };
        while let Ok(policy) = updates.try_recv() {
            swaps.push((Arc::clone(self.evaluator.policy()), Arc::clone(&policy)));
            info!(
                bundle = policy.short_digest(),
                rules = policy.rules.len(),
                "policy bundle swapped in"
            );
            self.evaluator = Evaluator::new(&policy);
            self.expired_reported.clear();
        }
        swaps
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
        // Triggers first, on the typed event: most events trigger nothing,
        // and are never turned into JSON for Rego.
        let rules = if verdict {
            None
        } else {
            let triggered = policy.triggered_by(event);
            if triggered.is_empty() {
                return Prepared::Done;
            }
            Some(triggered)
        };
        let input = match serde_json::to_value(&*event) {
            Ok(v) => v,
            Err(err) => {
                warn!(%err, "cannot present an event to the policy");
                return Prepared::Done;
            }
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
                    self.evaluator = Evaluator::new(&job.policy);
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
            None => Decision::nothing_matched(Mode::of_config(&self.evaluator.policy().mode)),
        };
        let policy = Arc::clone(self.evaluator.policy());
        if let Some(v) = &verdict {
            fold_kernel_verdict(&mut decision, v, &policy);
        }
        let failed = decision.error.is_some();
        if decision.matched.is_empty() && decision.suppressed().is_empty() && !failed {
            return Vec::new();
        }
        stats.count_decision(decision.action);
        // By what each matched rule did: its action in enforce mode, an
        // alert otherwise.
        for m in &decision.matched {
            let action = if m.mode == Mode::Enforce { m.action } else { Action::Alert };
            stats.count_rule(&m.rule, action.as_str());
        }
        decision.enforcement = match &verdict {
            // The kernel already acted, before the program ran.
            Some(v) if v.enforced => Some(Enforcement::kernel(v)),
            _ => match decision.action {
                Action::Kill => Some(enforce::kill(event.process.pid, start_ns)),
                Action::Block => Some(Enforcement::block_not_enforced()),
                _ => verdict.as_ref().map(Enforcement::kernel),
            },
        };
        decision.bundle = Some(policy.short_digest().to_string());
        decision.revision = policy.revision.clone();
        count_outcomes(&decision, &policy, stats);
        let decision: &Decision = event.decision.insert(decision);
        decision
            .suppressed()
            .iter()
            .map(|s| {
                stats.count_exception_use(&s.exception, &s.rule);
                let mut audit = json!({
                    "schema": crate::event::SCHEMA,
                    "id": format!("{}-exception-{}", event.id, s.exception),
                    "time": clock.rfc3339(Clock::monotonic_now_ns()),
                    "node": event.node,
                    "kind": crate::event::EXCEPTION_USED,
                    "event_id": event.id,
                    "bundle": policy.short_digest(),
                    "exception": s,
                    "process": {"pid": event.process.pid, "binary": event.process.binary},
                });
                if let Some(cluster) = event.cluster {
                    audit["cluster"] = cluster.into();
                }
                audit
            })
            .collect()
    }

    /// The decision of an event whose evaluation failed, by the fail mode.
    pub fn failed(&self, reason: &str) -> Decision {
        let mode = Mode::of_config(&self.evaluator.policy().mode);
        let failed =
            Decision { error: Some(reason.to_string()), mode: Some(mode), ..Decision::default() };
        match self.fail_mode {
            FailMode::Open => failed,
            FailMode::Closed => {
                let enforce = mode == Mode::Enforce;
                Decision {
                    action: if enforce { Action::Kill } else { Action::Alert },
                    would_block: Some(!enforce),
                    ..failed
                }
            }
        }
    }
}

/// What each matched and suppressed rule of `decision` came to, for the
/// per-rule metrics.
fn count_outcomes(decision: &Decision, policy: &Policy, stats: &Stats) {
    for m in &decision.matched {
        let outcome = match (m.mode, &decision.enforcement) {
            (Mode::Audit, _) if m.action >= Action::Block => "would_block",
            (Mode::Enforce, Some(enforced)) if m.action >= Action::Block => {
                // The kernel names the rule it enforced; a userspace kill
                // acts for the whole decision.
                match &enforced.rule {
                    Some(rule) if *rule != m.rule => "alerted",
                    _ => enforced.result.as_str(),
                }
            }
            _ => "alerted",
        };
        stats.count_outcome(RuleOutcome {
            rule: m.rule.clone(),
            action: m.action.as_str(),
            mode: m.mode.as_str(),
            outcome,
        });
    }
    for s in decision.suppressed() {
        let meta = policy.rules.iter().find(|r| r.id == s.rule);
        let action = meta.and_then(|r| Action::named(&r.action)).unwrap_or(Action::Alert);
        stats.count_outcome(RuleOutcome {
            rule: s.rule.clone(),
            action: action.as_str(),
            // A suppressed match carries no mode of its own: the bundle's.
            mode: Mode::of_config(&policy.mode).as_str(),
            outcome: "suppressed",
        });
    }
}

/// Adds what a kernel hook decided to the policy's decision: the kernel rule
/// among the matches (the bundle's Rego may not have matched the same event,
/// e.g. a name rule scoped by PID namespace), and the action it enforced.
fn fold_kernel_verdict(decision: &mut Decision, verdict: &KernelVerdict, policy: &Policy) {
    let meta = policy.rules.iter().find(|r| r.id == verdict.rule);
    let rule_action = meta.and_then(|m| Action::named(&m.action)).unwrap_or(Action::Block);
    let mode = if verdict.enforced {
        Mode::Enforce
    } else if verdict.blocking {
        Mode::Audit
    } else {
        Mode::of_config(&policy.mode)
    };
    if !decision.matched.iter().any(|m| m.rule == verdict.rule) {
        decision.matched.push(Match {
            rule: verdict.rule.clone(),
            title: meta.map(|m| m.title.clone()),
            severity: meta.map(|m| m.severity.clone()),
            mitre: meta.map(|m| m.mitre.clone()),
            action: rule_action,
            mode,
            message: "matched in the kernel hook".to_string(),
        });
    }
    let wanted = if verdict.enforced { rule_action } else { Action::Alert };
    decision.action = decision.action.max(wanted);
    if !verdict.enforced && verdict.blocking {
        decision.would_block = Some(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{
        bundle::{Bundle, SourceFile},
        load,
    };

    fn policy(mode: &str) -> Arc<Policy> {
        let files = [
            (
                "main.rego",
                "package palisade.main\n\nimport rego.v1\n\ndecision := {\"action\": \"allow\"}\n"
                    .to_string(),
            ),
            ("palisade/config/data.json", format!(r#"{{"mode": "{mode}"}}"#)),
        ];
        let files =
            files.into_iter().map(|(path, text)| SourceFile { path: path.into(), text }).collect();
        load::compile(&Bundle::from_files("t".into(), files).unwrap()).unwrap()
    }

    /// The fail mode's decisions have the fields they always had, no more.
    #[test]
    fn a_failed_evaluation_gets_the_fail_modes_decision() {
        let failed = |mode, fail| {
            let judge = Judge::new(policy(mode), fail, None);
            serde_json::to_string(&judge.failed("boom")).unwrap()
        };
        assert_eq!(
            failed("enforce", FailMode::Open),
            r#"{"action":"allow","error":"boom","matched":[],"mode":"enforce"}"#
        );
        assert_eq!(
            failed("audit", FailMode::Closed),
            r#"{"action":"alert","error":"boom","matched":[],"mode":"audit","would_block":true}"#
        );
        assert_eq!(
            failed("enforce", FailMode::Closed),
            r#"{"action":"kill","error":"boom","matched":[],"mode":"enforce","would_block":false}"#
        );
    }
}
