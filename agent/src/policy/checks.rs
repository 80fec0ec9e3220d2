//! The checks a compiled bundle passes before it goes live: the entry
//! point decides on a benign event of every kind, the kernel rules say
//! which workloads they apply to, and the native trigger test agrees with
//! main.rego's on the samples.

use std::{sync::Arc, time::Duration};

use regorus::{Engine, Value};
use serde_json::json;

use super::{
    ENTRY_POINT, PolicyError,
    compiled::Policy,
    eval::Evaluator,
    one_line,
    workloads::{RULES_FOR_WORKLOAD, WorkloadFacts},
};

/// Budget of one load-time trigger check on a sample, which evaluates every
/// rule's `hits` (the decision evaluates only the triggered ones): a slow
/// machine must not reject a sound bundle, while a runaway one still stops.
pub(super) const CHECK_TIME_LIMIT: Duration = Duration::from_secs(30);

/// The rules `data.palisade.main` reports for the load-time trigger checks.
const TRIGGERED_RULES: &str = "data.palisade.main.triggered_rules";
const UNTRIGGERED_HITS: &str = "data.palisade.main.untriggered_hits";

/// The entry point must give a decision (an object with an `action`)
/// for a benign event of every kind: catches a main module that is
/// undefined, or one that blows up or loops, before the bundle goes
/// live.
pub(super) fn smoke_test(policy: &Arc<Policy>) -> Result<(), PolicyError> {
    let mut evaluator = Evaluator::new(policy);
    let kinds: Vec<String> =
        policy.by_kind.keys().cloned().chain(["process_exec".to_string()]).collect();
    for kind in kinds {
        let event = smoke_event(&kind);
        evaluator.eval(&event).map_err(|e| {
            let why = match e {
                PolicyError::NotADecision { reason, value } => format!(
                    "{ENTRY_POINT} must be a decision (an object with an `action`, see policies/README.md) for every event; for a `{kind}` event it gave {value}: {reason}"
                ),
                e => format!("{ENTRY_POINT} fails on a `{kind}` event: {e}"),
            };
            PolicyError::invalid(&policy.origin, why)
        })?;
    }
    Ok(())
}

/// With kernel rules, the bundle must say which apply to a workload:
/// checked on a host and an unclassified container, whose answers
/// must name kernel rules only.
pub(super) fn kernel_scopes(policy: &Policy, origin: &str) -> Result<(), PolicyError> {
    if policy.kernel.rules.is_empty() {
        return Ok(());
    }
    let mut scopes = policy.kernel_scopes();
    for facts in [WorkloadFacts::host(), WorkloadFacts::unclassified()] {
        let rules =
            scopes.rules_for(&facts, 0).map_err(|e| PolicyError::invalid(origin, e.to_string()))?;
        if let Some(id) = rules.keys().find(|id| !policy.kernel.rules.iter().any(|r| r.id == **id))
        {
            return Err(PolicyError::invalid(
                origin,
                format!("{RULES_FOR_WORKLOAD} names {id}, which has no kernel section in force"),
            ));
        }
    }
    Ok(())
}

/// On every sample event, the native trigger test must pick exactly the
/// rules main.rego considers, and no rule may hit an event its triggers
/// do not match (triggers narrower than the rule would hide its hits).
/// (The programs for sets of triggered rules are built when first
/// needed: building every sample's set here made loading slow.)
pub(super) fn triggers(policy: &Policy, all: &mut Engine) -> Result<(), PolicyError> {
    if policy.rules.iter().all(|r| r.triggers.is_always()) {
        return Ok(());
    }
    // The smoke event first: a main.rego that does not apply the
    // triggers (no `triggered_rules`) is refused even without samples.
    let smoke = smoke_event("process_exec");
    let main = (policy.sources.modules.iter())
        .find(|m| m.package == "palisade.main")
        .map_or("main.rego", |m| m.path.as_str());
    for sample in std::iter::once(&smoke).chain(&policy.sources.samples) {
        let id = sample["id"].as_str().unwrap_or("?");
        all.set_input(Value::from(sample.clone()));
        let untriggered = rule_ids(all, UNTRIGGERED_HITS, main)?;
        if let Some(rule) = untriggered.first() {
            let at =
                policy.rules.iter().find(|r| &r.id == rule).map_or("bundle", |r| r.file.as_str());
            return Err(PolicyError::invalid(
                at,
                format!(
                    "{rule} hits sample event `{id}` but its `meta.triggers` do not match it: its triggers must cover every event it can hit"
                ),
            ));
        }
        let set = policy.triggered(sample);
        let mut native: Vec<&str> =
            set.rules.iter().map(|&i| policy.rules[i].id.as_str()).collect();
        native.sort_unstable();
        let rego = rule_ids(all, TRIGGERED_RULES, main)?;
        if native != rego {
            return Err(PolicyError::invalid(
                &policy.origin,
                format!(
                    "sample event `{id}`: Palisade's trigger test picks {native:?} but {TRIGGERED_RULES} is {rego:?}; lib/triggers.rego and agent/src/policy/triggers.rs must agree"
                ),
            ));
        }
    }
    Ok(())
}

/// The rule ids in the set `rule` evaluates to (with the engine's input).
/// `main` is main.rego's path: a bundle whose rules declare triggers must
/// define `rule` there.
fn rule_ids(engine: &mut Engine, rule: &str, main: &str) -> Result<Vec<String>, PolicyError> {
    let must_apply = |what: String| {
        PolicyError::invalid(
            main,
            format!(
                "{what}: rules declare `meta.triggers`, so main.rego must apply them and define `triggered_rules` and `untriggered_hits` (see the baseline's lib/triggers.rego)"
            ),
        )
    };
    let value = engine
        .eval_rule(rule.to_string())
        .map_err(|e| must_apply(format!("cannot evaluate {rule} ({})", one_line(&e))))?;
    let value = serde_json::to_value(&value).unwrap_or_default();
    let Some(ids) = value.as_array() else {
        return Err(must_apply(format!("{rule} is {value}, not a set of rule ids")));
    };
    let mut ids: Vec<String> = ids.iter().filter_map(|v| v.as_str().map(str::to_string)).collect();
    ids.sort();
    Ok(ids)
}

/// A benign event of `kind`, for the checks at load.
fn smoke_event(kind: &str) -> serde_json::Value {
    json!({
        "schema": crate::event::SCHEMA, "id": "smoke", "time": "2026-01-01T00:00:00.000000000Z",
        "node": "smoke", "kind": kind,
        "process": {"pid": 1, "ppid": 0, "uid": 0, "binary": "/sbin/init", "args": ["/sbin/init"],
                    "cwd": "/", "ancestors": []}
    })
}
