//! A bundle checked and compiled once ([`super::load::compile`]): its
//! rules, exceptions and kernel plan, and its programs.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use regorus::{Engine, Value};

use crate::process::env::EnvCapture;

use super::{
    files::FileWatchSet,
    kernel_plan::KernelPlan,
    meta::{ExceptionInfo, RuleMeta},
    program::{OTHER_KINDS, ProgramCache, Runner, Sources},
    triggers::{FactSource, TriggerIndex, Triggered},
    workloads::KernelScopes,
};

// The fields without `pub` are the programs' machinery: set by
// `load::compile`, read by the evaluator and the load checks.
pub struct Policy {
    pub origin: String,
    pub digest: String,
    /// The manifest's revision, when the bundle has one.
    pub revision: Option<String>,
    pub rules: Vec<RuleMeta>,
    pub exceptions: Vec<ExceptionInfo>,
    /// The guardrails' warnings on the exceptions (expiring soon), with
    /// `file:line`.
    pub exception_warnings: Vec<String>,
    pub mode: String,
    /// What the kernel enforces itself, from the rules' `kernel` sections.
    pub kernel: KernelPlan,
    /// The environment variables captured at exec (config `env_capture`).
    pub env_capture: EnvCapture,
    /// The file paths the kernel watches, from `data.palisade.files.watch`.
    pub files: FileWatchSet,
    /// The rules' triggers, tested natively.
    pub(super) triggers: TriggerIndex,
    /// The program for each event kind some rule names.
    pub(super) by_kind: BTreeMap<String, Runner>,
    /// The indexes in `rules` of each kind's rules, in order: what an
    /// event's triggers are tested against.
    pub(super) rules_of_kind: HashMap<String, Vec<usize>>,
    /// For kinds no rule names, and events that trigger no rule: the bundle
    /// without rule modules.
    pub(super) no_rules: Runner,
    /// Programs holding only the modules of the rules an event triggers.
    pub(super) triggered_programs: ProgramCache,
    pub(super) sources: Sources,
    pub(super) data: Value,
    /// Why a kind runs on the interpreter rather than the RVM, if it does.
    pub engine_notes: Vec<String>,
    /// Every module and the data, for `data.palisade.kernel` (kernel
    /// scopes per workload); cloned by whoever evaluates it.
    pub(super) kernel_engine: Mutex<Engine>,
}

impl Policy {
    /// An evaluator of the kernel rules per workload.
    pub fn kernel_scopes(&self) -> KernelScopes {
        let engine = self.kernel_engine.lock().unwrap_or_else(|e| e.into_inner()).clone();
        KernelScopes::new(engine)
    }

    /// The rules of the event's kind that it triggers.
    pub fn triggered(&self, event: &serde_json::Value) -> Triggered {
        let kind = event.get("kind").and_then(|k| k.as_str()).unwrap_or_default();
        self.triggered_in(kind, event)
    }

    /// As [`Policy::triggered`], read from the agent's typed event (no JSON
    /// made for an event that triggers nothing).
    pub fn triggered_by(&self, event: &crate::event::Event) -> Triggered {
        self.triggered_in(event.kind, event)
    }

    fn triggered_in(&self, kind: &str, event: &(impl FactSource + ?Sized)) -> Triggered {
        let Some(of_kind) = self.rules_of_kind.get(kind) else {
            return Triggered { kind: String::new(), rules: Vec::new() };
        };
        let facts = self.triggers.facts(event);
        let rules = of_kind.iter().copied().filter(|&i| self.triggers.fires(i, &facts)).collect();
        Triggered { kind: kind.to_string(), rules }
    }

    /// The program for a set of triggered rules, built from just those
    /// rules' modules; `None` when the kind's full program is the one to run
    /// (the set is all its rules, the cache is full, or building failed),
    /// which decides alike because main.rego applies the triggers itself.
    pub(super) fn program_for(&self, set: &Triggered) -> Option<Arc<Runner>> {
        let all_of_kind = self.rules_of_kind.get(&set.kind).map_or(0, Vec::len);
        if set.rules.len() == all_of_kind {
            return None;
        }
        self.triggered_programs.get_or_build(set, || {
            let packages: Vec<&str> =
                set.rules.iter().map(|&i| self.rules[i].package.as_str()).collect();
            // Checked on the samples that trigger this very set: the events
            // this program will judge (a check on every sample of the kind
            // for each set made loading several times slower).
            let samples: Vec<&serde_json::Value> =
                self.sources.samples.iter().filter(|s| self.triggered(s) == *set).collect();
            match self.sources.build(&set.kind, &packages, &samples, &self.data) {
                Ok((runner, note)) => {
                    if let Some(note) = note {
                        tracing::warn!(rules = ?packages, "{note}");
                    }
                    Some(runner)
                }
                Err(err) => {
                    tracing::warn!(%err, rules = ?packages, "cannot build the program for these rules; using the kind's full program");
                    None
                }
            }
        })
    }

    pub fn short_digest(&self) -> &str {
        &self.digest[..12]
    }

    /// Whether some rule applies to events of `kind`.
    pub fn judges(&self, kind: &str) -> bool {
        self.by_kind.contains_key(kind)
    }

    /// Which evaluator runs each kind (`rvm` or `interpreter`).
    pub fn engines(&self) -> BTreeMap<&str, &'static str> {
        let mut engines: BTreeMap<&str, &'static str> =
            self.by_kind.iter().map(|(k, r)| (k.as_str(), r.engine_name())).collect();
        engines.insert(OTHER_KINDS, self.no_rules.engine_name());
        engines
    }
}
