//! The evaluator: runs the policy on one event; one per worker thread,
//! each with its own VMs.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use regorus::{Value, rvm::RegoVM};
use serde::Deserialize as _;

use super::{
    PolicyError,
    compiled::Policy,
    decision::Decision,
    one_line,
    program::{Runner, new_vm},
    triggers::Triggered,
    value_de::ValueDeserializer,
};

/// Runs the policy; one per worker thread, each with its own VMs.
pub struct Evaluator {
    policy: Arc<Policy>,
    /// The VM of each kind's full program ("" for the program without
    /// rules), made on first use.
    vms: BTreeMap<String, Option<RegoVM>>,
    /// The program and VM for each set of triggered rules met so far; `None`
    /// when the set runs its kind's full program.
    triggered_vms: HashMap<Triggered, Option<ProgramVm>>,
}

/// A program and the VM this evaluator runs it on (made on first use).
type ProgramVm = (Arc<Runner>, Option<RegoVM>);

impl Evaluator {
    pub fn new(policy: &Arc<Policy>) -> Self {
        Self { policy: Arc::clone(policy), vms: BTreeMap::new(), triggered_vms: HashMap::new() }
    }

    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// The decision for one event (given as JSON): the bundle's whole
    /// decision, `actor` included, even when no rule is triggered.
    pub fn eval(&mut self, event: &serde_json::Value) -> Result<Decision, PolicyError> {
        let set = self.policy.triggered(event);
        self.eval_rules(event, set)
    }

    /// The decision for an event that triggers some rule; `None`, without
    /// running any Rego, for one that triggers none: nothing can match it,
    /// so its decision is `allow` with no matches (what the agent needs).
    pub fn eval_triggered(
        &mut self,
        event: &serde_json::Value,
    ) -> Result<Option<Decision>, PolicyError> {
        let set = self.policy.triggered(event);
        if set.is_empty() {
            return Ok(None);
        }
        self.eval_rules(event, set).map(Some)
    }

    /// The decision for an event that triggers `set` (from
    /// [`Policy::triggered`] on this evaluator's bundle).
    pub fn eval_rules(
        &mut self,
        event: &serde_json::Value,
        set: Triggered,
    ) -> Result<Decision, PolicyError> {
        let input = super::input::from_json(event);
        let policy = &self.policy;
        let data = &policy.data;
        if !set.is_empty() {
            if !self.triggered_vms.contains_key(&set) {
                let runner = policy.program_for(&set);
                self.triggered_vms.insert(set.clone(), runner.map(|r| (r, None)));
            }
            if let Some(Some((runner, vm))) = self.triggered_vms.get_mut(&set) {
                return run(runner, vm, data, input);
            }
        }
        let (key, runner) = match policy.by_kind.get(&set.kind) {
            Some(runner) if !set.is_empty() => (set.kind.as_str(), runner),
            _ => ("", &policy.no_rules),
        };
        if !self.vms.contains_key(key) {
            self.vms.insert(key.to_string(), None);
        }
        let vm = self.vms.get_mut(key).expect("inserted above");
        run(runner, vm, data, input)
    }
}

/// Evaluates `input` with `runner`; `vm` is the VM kept for it, made on
/// first use. The result is read into a [`Decision`] here, once.
fn run(
    runner: &Runner,
    vm: &mut Option<RegoVM>,
    data: &Value,
    input: Value,
) -> Result<Decision, PolicyError> {
    let result = match runner {
        Runner::Interpreter(compiled) => {
            compiled.eval_with_input(input).map_err(|e| PolicyError::Eval(one_line(&e)))?
        }
        Runner::Vm(program) => {
            if vm.is_none() {
                *vm = Some(new_vm(program, data)?);
            }
            let vm = vm.as_mut().expect("made above");
            vm.set_input(input);
            vm.execute().map_err(|e| PolicyError::Eval(one_line(&e)))?
        }
    };
    Decision::deserialize(ValueDeserializer(&result))
        .map_err(|e| PolicyError::NotADecision { reason: e.to_string(), value: result.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{bundle::Bundle, decision::Action, load::compile};

    /// The programs of triggered rules, and skipping Rego for an event that
    /// triggers nothing, change no decision: on every sample event of the
    /// baseline, the decision equals the kind's full program's.
    #[test]
    fn triggered_programs_decide_as_the_full_program() {
        let policy = compile(&Bundle::embedded()).unwrap();
        let mut evaluator = Evaluator::new(&policy);
        let (mut skipped, mut partial) = (0, 0);
        for sample in &policy.sources.samples {
            let set = policy.triggered(sample);
            let of_kind: Vec<usize> = (0..policy.rules.len())
                .filter(|&i| policy.rules[i].kinds.contains(&set.kind))
                .collect();
            if set.kind.is_empty() {
                continue;
            }
            let full = Triggered { kind: set.kind.clone(), rules: of_kind.clone() };
            let want = evaluator.eval_rules(sample, full).unwrap();
            assert_eq!(evaluator.eval(sample).unwrap(), want, "{sample}");
            match evaluator.eval_triggered(sample).unwrap() {
                None => {
                    assert!(want.matched.is_empty(), "{sample}");
                    assert_eq!(want.suppressed, Some(vec![]), "{sample}");
                    assert_eq!(want.action, Action::Allow, "{sample}");
                    skipped += 1;
                }
                Some(decision) => {
                    assert_eq!(decision, want, "{sample}");
                    partial += usize::from(set.rules.len() < of_kind.len());
                }
            }
        }
        assert!(skipped > 5 && partial > 20, "skipped {skipped}, partial programs {partial}");
    }
}
