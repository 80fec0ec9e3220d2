//! A bundle checked and compiled once, and the per-worker evaluators that run
//! it on every event.

use std::{
    collections::{BTreeMap, HashMap},
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use regorus::{
    CompiledPolicy, Engine, Rc, Value,
    languages::rego::compiler::Compiler,
    rvm::{RegoVM, program::Program},
    utils::limits::ExecutionTimerConfig,
};
// The syntax tree, to find the `kernel` rules (regorus calls it unstable).
use regorus::unstable::{Rule, RuleHead};
use serde::Deserialize as _;
use serde_json::json;

use super::{
    ENTRY_POINT, PolicyError,
    bundle::Bundle,
    decision::Decision,
    kernel_plan::{self, KernelPlan},
    meta::{ExceptionInfo, RuleMeta},
    one_line,
    triggers::{TriggerIndex, Triggers},
    workloads::{KernelScopes, RULES_FOR_WORKLOAD, WorkloadFacts},
};
use crate::model::time::parse_rfc3339_ns;

/// RVM instructions one evaluation may run: far above any sane rule set,
/// low enough that a runaway policy stops in milliseconds.
pub const MAX_INSTRUCTIONS: usize = 2_000_000;
/// Wall-clock budget of one evaluation: a backstop for what the instruction
/// budget cannot count (the interpreter, one huge builtin call). Generous,
/// because a debug build under software emulation (the 6.1 VM tests) runs
/// the baseline's first evaluation in over 100 ms.
pub const TIME_LIMIT: Duration = Duration::from_secs(1);
/// Budget of one load-time trigger check on a sample, which evaluates every
/// rule's `hits` (the decision evaluates only the triggered ones): a slow
/// machine must not reject a sound bundle, while a runaway one still stops.
const CHECK_TIME_LIMIT: Duration = Duration::from_secs(30);

const RULES_PACKAGE: &str = "palisade.rules.";
/// How the program for kinds that no rule names is labelled.
const OTHER_KINDS: &str = "(other kinds)";
/// Programs for sets of triggered rules kept per bundle. Past this, an
/// event whose set has no program yet runs its kind's full program, which
/// gives the same decision (main.rego applies the triggers itself), slower.
const MAX_TRIGGERED_PROGRAMS: usize = 128;
/// The rules `data.palisade.main` reports for the load-time trigger checks.
const TRIGGERED_RULES: &str = "data.palisade.main.triggered_rules";
const UNTRIGGERED_HITS: &str = "data.palisade.main.untriggered_hits";

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
const SEVERITIES: &[&str] = &["low", "medium", "high", "critical"];
pub const ACTIONS: &[&str] = &["alert", "block", "kill"];
const MODES: &[&str] = &["audit", "enforce"];
const RULE_MODES: &[&str] = &["audit", "enforce", "off"];
/// The scope keys main.rego's `scope_keys` knows.
const SCOPE_KEYS: &[&str] = &[
    "binary",
    "binary_prefix",
    "image",
    "image_prefix",
    "namespace",
    "pod_labels",
    "actor",
    "container_id",
];

/// How one event kind is evaluated.
enum Runner {
    /// Compiled to RVM bytecode: the fast path.
    Vm(Arc<Program>),
    /// regorus's tree-walking interpreter on the compiled policy, for a
    /// bundle using a construct the RVM compiler does not support.
    Interpreter(CompiledPolicy),
}

impl Runner {
    fn engine_name(&self) -> &'static str {
        match self {
            Runner::Vm(_) => "rvm",
            Runner::Interpreter(_) => "interpreter",
        }
    }
}

/// The rules of one event kind an event triggers: indexes into
/// `Policy::rules`, ascending.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Triggered {
    kind: String,
    rules: Vec<usize>,
}

impl Triggered {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// The rule modules and data a program is compiled from, kept to build the
/// programs for sets of triggered rules when they are first needed.
struct Sources {
    modules: Vec<OwnedModule>,
    samples: Vec<serde_json::Value>,
    /// Cross-check each RVM program against the interpreter on the samples
    /// before using it. Off for the embedded baseline: its tests run the
    /// same checks on policies/ (`policy check policies`), and repeating
    /// them at every start cost seconds on a slow machine.
    cross_check: bool,
}

struct OwnedModule {
    path: String,
    package: String,
    judged: String,
}

pub struct Policy {
    pub origin: String,
    pub digest: String,
    pub rules: Vec<RuleMeta>,
    pub exceptions: Vec<ExceptionInfo>,
    pub mode: String,
    /// What the kernel enforces itself, from the rules' `kernel` sections.
    pub kernel: KernelPlan,
    /// The rules' triggers, tested natively.
    triggers: TriggerIndex,
    /// The program for each event kind some rule names.
    by_kind: BTreeMap<String, Runner>,
    /// For kinds no rule names, and events that trigger no rule: the bundle
    /// without rule modules.
    no_rules: Runner,
    /// Programs holding only the modules of the rules an event triggers,
    /// built on first use (tens of ms each). The lock is taken only when an
    /// evaluator meets a set it has no VM for yet.
    triggered_programs: Mutex<HashMap<Triggered, Arc<Runner>>>,
    sources: Sources,
    data: Value,
    /// Why a kind runs on the interpreter rather than the RVM, if it does.
    pub engine_notes: Vec<String>,
    /// Every module and the data, for `data.palisade.kernel` (kernel
    /// scopes per workload); cloned by whoever evaluates it.
    kernel_engine: Mutex<Engine>,
}

struct Module<'a> {
    path: &'a str,
    text: &'a str,
    package: String,
    /// Line of the module's first `kernel` rule, if it has one.
    kernel_line: Option<usize>,
    /// What the per-event programs compile: `text` with the `kernel` rules
    /// blanked out (lines kept). `kernel` is read once, at load, and the
    /// RVM would otherwise build it again for every event, as it evaluates
    /// every rule of a package that main.rego reaches by a variable.
    judged: String,
}

impl Policy {
    /// Checks and compiles `bundle`. Every failure names `file:line` where
    /// it can and says what is wrong.
    pub fn compile(bundle: &Bundle) -> Result<Arc<Self>, PolicyError> {
        // The interpreter's compiled form takes its budget from here.
        regorus::utils::limits::set_fallback_execution_timer_config(Some(time_limit(TIME_LIMIT)));
        let data = Value::from(bundle.data.clone());
        let modules = parse_modules(bundle)?;
        let mut all = limited_engine(TIME_LIMIT);
        for m in &modules {
            add_module(&mut all, m.path, m.text)?;
        }
        all.add_data(data.clone())
            .map_err(|e| PolicyError::invalid(&bundle.origin, format!("data: {}", one_line(&e))))?;

        let rules = read_rule_metas(&mut all, &modules)?;
        let mode = check_config(bundle, &rules)?;
        let exceptions = check_exceptions(bundle, &rules)?;
        let sections = read_kernel_sections(&mut all, &modules, &rules)?;
        let kernel = kernel_plan::plan(&sections, &bundle.data["palisade"]["config"], &exceptions)?;
        if !modules.iter().any(|m| m.package == "palisade.main") {
            return Err(PolicyError::invalid(
                &bundle.origin,
                format!(
                    "no module declares `package palisade.main`, which must define the entry point {ENTRY_POINT}"
                ),
            ));
        }

        // One program per kind, holding only that kind's rule modules: an
        // event never meets a rule that cannot apply to it.
        let mut kinds: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for rule in &rules {
            for kind in &rule.kinds {
                kinds.entry(kind.clone()).or_default().push(&rule.package);
            }
        }
        let sources = Sources {
            modules: modules
                .iter()
                .map(|m| OwnedModule {
                    path: m.path.to_string(),
                    package: m.package.clone(),
                    judged: m.judged.clone(),
                })
                .collect(),
            samples: bundle.samples.clone(),
            cross_check: !bundle.embedded,
        };
        let mut notes = Vec::new();
        let mut build = |kind: &str, packages: &[&str]| -> Result<Runner, PolicyError> {
            let kind_samples: Vec<&serde_json::Value> =
                (sources.samples.iter()).filter(|s| kind.is_empty() || s["kind"] == kind).collect();
            let (runner, note) = sources.build(kind, packages, &kind_samples, &data)?;
            notes.extend(note);
            Ok(runner)
        };
        let mut by_kind = BTreeMap::new();
        for (kind, packages) in &kinds {
            by_kind.insert(kind.clone(), build(kind, packages)?);
        }
        let no_rules = build("", &[])?;
        let triggers = TriggerIndex::new(rules.iter().map(|r| &r.triggers));
        let policy = Arc::new(Self {
            origin: bundle.origin.clone(),
            digest: bundle.digest.clone(),
            rules,
            exceptions,
            mode,
            kernel,
            triggers,
            by_kind,
            no_rules,
            triggered_programs: Mutex::new(HashMap::new()),
            sources,
            data,
            engine_notes: notes,
            kernel_engine: Mutex::new(all.clone()),
        });
        policy.smoke_test()?;
        policy.check_kernel_scopes(&bundle.origin)?;
        // The embedded baseline passed these checks as policies/ in its tests
        // (`policy check policies`); at every start they would cost seconds
        // on a slow machine.
        if !bundle.embedded {
            all.set_execution_timer_config(time_limit(CHECK_TIME_LIMIT));
            policy.check_triggers(&mut all)?;
        }
        Ok(policy)
    }

    /// An evaluator of the kernel rules per workload.
    pub fn kernel_scopes(&self) -> KernelScopes {
        let engine = self.kernel_engine.lock().unwrap_or_else(|e| e.into_inner()).clone();
        KernelScopes::new(engine)
    }

    /// With kernel rules, the bundle must say which apply to a workload:
    /// checked on a host and an unclassified container, whose answers
    /// must name kernel rules only.
    fn check_kernel_scopes(&self, origin: &str) -> Result<(), PolicyError> {
        if self.kernel.rules.is_empty() {
            return Ok(());
        }
        let mut scopes = self.kernel_scopes();
        for facts in [WorkloadFacts::host(), WorkloadFacts::unclassified()] {
            let rules = scopes
                .rules_for(&facts, 0)
                .map_err(|e| PolicyError::invalid(origin, e.to_string()))?;
            if let Some(id) =
                rules.keys().find(|id| !self.kernel.rules.iter().any(|r| r.id == **id))
            {
                return Err(PolicyError::invalid(
                    origin,
                    format!(
                        "{RULES_FOR_WORKLOAD} names {id}, which has no kernel section in force"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The rules of the event's kind that it triggers.
    pub fn triggered(&self, event: &serde_json::Value) -> Triggered {
        let kind = event.get("kind").and_then(|k| k.as_str()).unwrap_or_default();
        if !self.by_kind.contains_key(kind) {
            return Triggered { kind: String::new(), rules: Vec::new() };
        }
        let facts = self.triggers.facts(event);
        let rules = (self.rules.iter().enumerate())
            .filter(|(i, r)| r.kinds.iter().any(|k| k == kind) && self.triggers.fires(*i, &facts))
            .map(|(i, _)| i)
            .collect();
        Triggered { kind: kind.to_string(), rules }
    }

    /// The program for a set of triggered rules, built from just those
    /// rules' modules; `None` when the kind's full program is the one to run
    /// (the set is all its rules, the cache is full, or building failed),
    /// which decides alike because main.rego applies the triggers itself.
    fn program_for(&self, set: &Triggered) -> Option<Arc<Runner>> {
        let mut programs = self.triggered_programs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(runner) = programs.get(set) {
            return Some(Arc::clone(runner));
        }
        let all_of_kind = self.rules.iter().filter(|r| r.kinds.contains(&set.kind)).count();
        if set.rules.len() == all_of_kind || programs.len() >= MAX_TRIGGERED_PROGRAMS {
            return None;
        }
        let packages: Vec<&str> =
            set.rules.iter().map(|&i| self.rules[i].package.as_str()).collect();
        // Checked on the samples that trigger this very set: the events
        // this program will judge (a check on every sample of the kind for
        // each set made loading several times slower).
        let samples: Vec<&serde_json::Value> =
            self.sources.samples.iter().filter(|s| self.triggered(s) == *set).collect();
        match self.sources.build(&set.kind, &packages, &samples, &self.data) {
            Ok((runner, note)) => {
                if let Some(note) = note {
                    tracing::warn!(rules = ?packages, "{note}");
                }
                let runner = Arc::new(runner);
                programs.insert(set.clone(), Arc::clone(&runner));
                Some(runner)
            }
            Err(err) => {
                tracing::warn!(%err, rules = ?packages, "cannot build the program for these rules; using the kind's full program");
                None
            }
        }
    }

    /// On every sample event, the native trigger test must pick exactly the
    /// rules main.rego considers, and no rule may hit an event its triggers
    /// do not match (triggers narrower than the rule would hide its hits).
    /// (The programs for sets of triggered rules are built when first
    /// needed: building every sample's set here made loading slow.)
    fn check_triggers(&self, all: &mut Engine) -> Result<(), PolicyError> {
        if self.rules.iter().all(|r| r.triggers.is_always()) {
            return Ok(());
        }
        // The smoke event first: a main.rego that does not apply the
        // triggers (no `triggered_rules`) is refused even without samples.
        let smoke = smoke_event("process_exec");
        let main = (self.sources.modules.iter())
            .find(|m| m.package == "palisade.main")
            .map_or("main.rego", |m| m.path.as_str());
        for sample in std::iter::once(&smoke).chain(&self.sources.samples) {
            let id = sample["id"].as_str().unwrap_or("?");
            all.set_input(Value::from(sample.clone()));
            let untriggered = rule_ids(all, UNTRIGGERED_HITS, main)?;
            if let Some(rule) = untriggered.first() {
                let at =
                    self.rules.iter().find(|r| &r.id == rule).map_or("bundle", |r| r.file.as_str());
                return Err(PolicyError::invalid(
                    at,
                    format!(
                        "{rule} hits sample event `{id}` but its `meta.triggers` do not match it: its triggers must cover every event it can hit"
                    ),
                ));
            }
            let set = self.triggered(sample);
            let mut native: Vec<&str> =
                set.rules.iter().map(|&i| self.rules[i].id.as_str()).collect();
            native.sort_unstable();
            let rego = rule_ids(all, TRIGGERED_RULES, main)?;
            if native != rego {
                return Err(PolicyError::invalid(
                    &self.origin,
                    format!(
                        "sample event `{id}`: Palisade's trigger test picks {native:?} but {TRIGGERED_RULES} is {rego:?}; lib/triggers.rego and agent/src/policy/triggers.rs must agree"
                    ),
                ));
            }
        }
        Ok(())
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

    pub fn evaluator(self: &Arc<Self>) -> Evaluator {
        Evaluator { policy: Arc::clone(self), vms: BTreeMap::new(), triggered_vms: HashMap::new() }
    }

    /// The entry point must give a decision (an object with an `action`)
    /// for a benign event of every kind: catches a main module that is
    /// undefined, or one that blows up or loops, before the bundle goes
    /// live.
    fn smoke_test(self: &Arc<Self>) -> Result<(), PolicyError> {
        let mut evaluator = self.evaluator();
        let kinds: Vec<String> =
            self.by_kind.keys().cloned().chain(["process_exec".to_string()]).collect();
        for kind in kinds {
            let event = smoke_event(&kind);
            evaluator.eval(&event).map_err(|e| {
                let why = match e {
                    PolicyError::NotADecision { reason, value } => format!(
                        "{ENTRY_POINT} must be a decision (an object with an `action`, see policies/README.md) for every event; for a `{kind}` event it gave {value}: {reason}"
                    ),
                    e => format!("{ENTRY_POINT} fails on a `{kind}` event: {e}"),
                };
                PolicyError::invalid(&self.origin, why)
            })?;
        }
        Ok(())
    }
}

impl Sources {
    /// Compiles the program of `kind` holding the rule modules `packages`
    /// (`data.palisade.rules.<name>`) and every module that is not a rule.
    /// The RVM is checked against the interpreter on `samples` (those of
    /// the kind).
    fn build(
        &self,
        kind: &str,
        packages: &[&str],
        samples: &[&serde_json::Value],
        data: &Value,
    ) -> Result<(Runner, Option<String>), PolicyError> {
        let chosen = self.modules.iter().filter(|m| {
            !m.package.starts_with(RULES_PACKAGE)
                || packages.iter().any(|p| p.strip_prefix("data.") == Some(&m.package))
        });
        let kind = if kind.is_empty() { OTHER_KINDS } else { kind };
        let compiled = compile_program(chosen.map(|m| (m.path.as_str(), m.judged.as_str())), data)?;
        let samples = if self.cross_check { samples } else { &[] };
        Ok(choose_runner(kind, compiled, samples, data))
    }
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

fn parse_modules(bundle: &Bundle) -> Result<Vec<Module<'_>>, PolicyError> {
    let mut modules = Vec::new();
    for file in &bundle.modules {
        let mut engine = limited_engine(TIME_LIMIT);
        add_module(&mut engine, &file.path, &file.text)?;
        let package = engine
            .get_packages()
            .ok()
            .and_then(|p| p.into_iter().next())
            .and_then(|p| p.strip_prefix("data.").map(str::to_string))
            .ok_or_else(|| {
                PolicyError::invalid(format!("{}:1", file.path), "no package declaration")
            })?;
        let kernel = kernel_rule_spans(&mut engine, &file.text);
        let kernel_line = kernel.first().map(|k| k.2);
        let mut judged = file.text.clone();
        for &(start, end, _) in &kernel {
            blank(&mut judged, start..end);
        }
        modules.push(Module { path: &file.path, text: &file.text, package, kernel_line, judged });
    }
    Ok(modules)
}

/// (start, end, line) of each rule defining `kernel` in the one module
/// loaded in `engine`, from regorus's syntax tree.
fn kernel_rule_spans(engine: &mut Engine, text: &str) -> Vec<(usize, usize, usize)> {
    let mut spans = Vec::new();
    for module in engine.get_modules() {
        for rule in &module.policy {
            let name = match rule.as_ref() {
                Rule::Spec { head, .. } => match head {
                    RuleHead::Compr { refr, .. }
                    | RuleHead::Set { refr, .. }
                    | RuleHead::Func { refr, .. } => refr.span().text(),
                },
                Rule::Default { refr, .. } => refr.span().text(),
            };
            let rest = name.strip_prefix("kernel");
            if !rest.is_some_and(|r| r.is_empty() || r.starts_with(['.', '['])) {
                continue;
            }
            let span = rule.span();
            let (start, end) = (span.start as usize, span.end as usize);
            // Only a span that is exactly this text's rule is trusted.
            if text.get(start..end) == Some(span.text()) {
                spans.push((start, end, span.line as usize));
            }
        }
    }
    spans
}

/// Replaces `range` of `text` by spaces, keeping newlines (so lines and
/// byte offsets stay where they were).
fn blank(text: &mut String, range: std::ops::Range<usize>) {
    let blanked: String = text[range.clone()]
        .chars()
        .map(|c| if c == '\n' { "\n".to_string() } else { " ".repeat(c.len_utf8()) })
        .collect();
    text.replace_range(range, &blanked);
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

/// A kind's policy compiled both ways: the interpreter's form always, and
/// RVM bytecode when the RVM compiler supports every construct used.
struct Compiled {
    interpreter: CompiledPolicy,
    /// The bytecode, or why the RVM compiler refused.
    vm: Result<Arc<Program>, String>,
}

fn compile_program<'a>(
    modules: impl Iterator<Item = (&'a str, &'a str)>,
    data: &Value,
) -> Result<Compiled, PolicyError> {
    let mut engine = limited_engine(TIME_LIMIT);
    for (path, judged) in modules {
        add_module(&mut engine, path, judged)?;
    }
    engine.add_data(data.clone()).map_err(|e| PolicyError::invalid("data", one_line(&e)))?;
    let entry: Rc<str> = Rc::from(ENTRY_POINT);
    let interpreter = engine.compile_with_entrypoint(&entry).map_err(|e| {
        PolicyError::invalid("bundle", format!("cannot compile {ENTRY_POINT}: {}", one_line(&e)))
    })?;
    let vm = Compiler::compile_from_policy(&interpreter, &[ENTRY_POINT]).map_err(|e| one_line(&e));
    Ok(Compiled { interpreter, vm })
}

/// A fresh VM for `program`, with the bundle's data and the limits set.
fn new_vm(program: &Arc<Program>, data: &Value) -> Result<RegoVM, PolicyError> {
    let mut vm = RegoVM::new();
    vm.load_program(Arc::clone(program));
    vm.set_data(data.clone()).map_err(|e| PolicyError::Eval(e.to_string()))?;
    vm.set_max_instructions(MAX_INSTRUCTIONS);
    vm.set_execution_timer_config(Some(time_limit(TIME_LIMIT)));
    Ok(vm)
}

/// Picks the RVM for a kind only if it gives the interpreter's decision on
/// every sample event of that kind (the RVM is young; the interpreter is the
/// reference). Returns the runner and, when the RVM was refused, why.
fn choose_runner(
    kind: &str,
    compiled: Compiled,
    samples: &[&serde_json::Value],
    data: &Value,
) -> (Runner, Option<String>) {
    let forced = std::env::var_os("PALISADE_POLICY_ENGINE").is_some_and(|v| v == "interpreter");
    let program = match compiled.vm {
        Ok(_) if forced => {
            return (
                Runner::Interpreter(compiled.interpreter),
                Some(format!("{kind}: interpreter forced by PALISADE_POLICY_ENGINE")),
            );
        }
        Ok(program) => program,
        Err(why) => {
            return (
                Runner::Interpreter(compiled.interpreter),
                Some(format!(
                    "{kind}: the RVM compiler refused the bundle ({why}); using the interpreter"
                )),
            );
        }
    };
    let Ok(mut vm) = new_vm(&program, data) else {
        return (
            Runner::Interpreter(compiled.interpreter),
            Some(format!("{kind}: the RVM refused the data")),
        );
    };
    for &sample in samples {
        let input = Value::from(sample.clone());
        let reference = compiled.interpreter.eval_with_input(input.clone()).ok();
        vm.set_input(input);
        if vm.execute().ok() != reference {
            let id = sample["id"].as_str().unwrap_or("?");
            return (
                Runner::Interpreter(compiled.interpreter),
                Some(format!(
                    "{kind}: the RVM's decision for sample event `{id}` differs from the interpreter's; using the interpreter"
                )),
            );
        }
    }
    (Runner::Vm(program), None)
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).map_or(1, |i| i + 1)
}

fn read_rule_metas(all: &mut Engine, modules: &[Module<'_>]) -> Result<Vec<RuleMeta>, PolicyError> {
    let mut rules: Vec<RuleMeta> = Vec::new();
    for m in modules.iter().filter(|m| m.package.starts_with(RULES_PACKAGE)) {
        let at = format!("{}:{}", m.path, line_of(m.text, "meta"));
        let meta = all.eval_rule(format!("data.{}.meta", m.package)).map_err(|e| {
            PolicyError::invalid(&at, format!("cannot evaluate `meta`: {}", one_line(&e)))
        })?;
        let meta: serde_json::Value = serde_json::to_value(&meta).unwrap_or_default();
        if !meta.is_object() {
            return Err(PolicyError::invalid(
                format!("{}:1", m.path),
                format!(
                    "rule module `{}` must define `meta` (an object with id, title, severity, mitre, action, kinds)",
                    m.package
                ),
            ));
        }
        let field = |name: &str| -> Result<String, PolicyError> {
            meta.get(name)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or_else(|| {
                    PolicyError::invalid(&at, format!("`meta.{name}` must be a non-empty string"))
                })
        };
        let rule = RuleMeta {
            id: field("id")?,
            title: field("title")?,
            severity: field("severity")?,
            mitre: field("mitre")?,
            action: field("action")?,
            kinds: meta
                .get("kinds")
                .and_then(|k| k.as_array())
                .map(|k| {
                    k.iter().filter_map(|v| v.as_str().map(str::to_string)).collect::<Vec<_>>()
                })
                .filter(|k: &Vec<String>| !k.is_empty())
                .ok_or_else(|| {
                    PolicyError::invalid(
                        &at,
                        "`meta.kinds` must be a non-empty array of event kinds",
                    )
                })?,
            package: format!("data.{}", m.package),
            file: m.path.to_string(),
            triggers: Triggers::parse(&meta, &at)?,
        };
        if !SEVERITIES.contains(&rule.severity.as_str()) {
            return Err(PolicyError::invalid(
                &at,
                format!("unknown severity `{}` (one of {SEVERITIES:?})", rule.severity),
            ));
        }
        if !ACTIONS.contains(&rule.action.as_str()) {
            return Err(PolicyError::invalid(
                &at,
                format!("unknown action `{}` (one of {ACTIONS:?})", rule.action),
            ));
        }
        if !is_mitre_id(&rule.mitre) {
            return Err(PolicyError::invalid(
                &at,
                format!(
                    "`{}` is not a MITRE ATT&CK technique id like T1059 or T1059.004",
                    rule.mitre
                ),
            ));
        }
        if let Some(first) = rules.iter().find(|r| r.id == rule.id) {
            return Err(PolicyError::invalid(
                &at,
                format!("duplicate rule id `{}`: already used by {}", rule.id, first.file),
            ));
        }
        rules.push(rule);
    }
    Ok(rules)
}

/// Each rule module's `kernel`, evaluated with the bundle's data (it must
/// not depend on `input`). A module without one is judged in userspace only.
fn read_kernel_sections<'a>(
    all: &mut Engine,
    modules: &[Module<'_>],
    rules: &'a [RuleMeta],
) -> Result<Vec<kernel_plan::Section<'a>>, PolicyError> {
    let mut sections = Vec::new();
    for m in modules.iter().filter(|m| m.package.starts_with(RULES_PACKAGE)) {
        let package = format!("data.{}", m.package);
        let Some(meta) = rules.iter().find(|r| r.package == package) else {
            continue;
        };
        let Some(line) = m.kernel_line else {
            sections.push(kernel_plan::Section {
                meta,
                kernel: None,
                undefined: false,
                at: format!("{}:1", m.path),
            });
            continue;
        };
        let at = format!("{}:{line}", m.path);
        let value = all.eval_rule(format!("{package}.kernel")).map_err(|e| {
            PolicyError::invalid(&at, format!("cannot evaluate `kernel`: {}", one_line(&e)))
        })?;
        let kernel = match value {
            Value::Undefined => None,
            value => Some(serde_json::to_value(&value).map_err(|e| {
                PolicyError::invalid(&at, format!("`kernel` is not plain data: {e}"))
            })?),
        };
        let undefined = kernel.is_none();
        sections.push(kernel_plan::Section { meta, kernel, undefined, at });
    }
    Ok(sections)
}

fn is_mitre_id(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('T') else {
        return false;
    };
    let (main, sub) = rest.split_once('.').unwrap_or((rest, ""));
    main.len() == 4
        && main.bytes().all(|b| b.is_ascii_digit())
        && (sub.is_empty() || (sub.len() == 3 && sub.bytes().all(|b| b.is_ascii_digit())))
}

fn check_config(bundle: &Bundle, rules: &[RuleMeta]) -> Result<String, PolicyError> {
    let config = &bundle.data["palisade"]["config"];
    let at = |needle: &str| bundle.locate(needle).unwrap_or_else(|| bundle.origin.clone());
    let mode = config["mode"].as_str().unwrap_or_default();
    if !MODES.contains(&mode) {
        return Err(PolicyError::invalid(
            at("\"mode\""),
            format!("`palisade.config.mode` must be one of {MODES:?}, not {}", config["mode"]),
        ));
    }
    if let Some(modes) = config.get("rule_modes").and_then(|m| m.as_object()) {
        for (id, value) in modes {
            if !rules.iter().any(|r| &r.id == id) {
                return Err(PolicyError::invalid(
                    at(id),
                    format!("`rule_modes` names unknown rule `{id}`"),
                ));
            }
            if !value.as_str().is_some_and(|v| RULE_MODES.contains(&v)) {
                return Err(PolicyError::invalid(
                    at(id),
                    format!("rule mode for `{id}` must be one of {RULE_MODES:?}, not {value}"),
                ));
            }
        }
    }
    Ok(mode.to_string())
}

fn check_exceptions(
    bundle: &Bundle,
    rules: &[RuleMeta],
) -> Result<Vec<ExceptionInfo>, PolicyError> {
    let Some(list) = bundle.data["palisade"].get("exceptions") else {
        return Ok(Vec::new());
    };
    let at = |needle: &str| bundle.locate(needle).unwrap_or_else(|| bundle.origin.clone());
    let list = list.as_array().ok_or_else(|| {
        PolicyError::invalid(at("exceptions"), "`palisade.exceptions` must be an array")
    })?;
    let mut out: Vec<ExceptionInfo> = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let id = e["id"].as_str().filter(|s| !s.is_empty()).ok_or_else(|| {
            PolicyError::invalid(at("exceptions"), format!("exception #{} has no `id`", i + 1))
        })?;
        let loc = at(&format!("\"{id}\""));
        let text = |name: &str| -> Result<String, PolicyError> {
            e[name]
                .as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or_else(|| PolicyError::invalid(&loc, format!("exception `{id}` has no `{name}`: every exception needs an owner, a reason and an expiry")))
        };
        let owner = text("owner")?;
        text("reason")?;
        let expires = text("expires")?;
        let expires_ns = parse_rfc3339_ns(&expires).ok_or_else(|| {
            PolicyError::invalid(
                &loc,
                format!("exception `{id}`: expires `{expires}` is not an RFC 3339 time"),
            )
        })?;
        let covered = e["rules"].as_array().filter(|r| !r.is_empty()).ok_or_else(|| {
            PolicyError::invalid(&loc, format!("exception `{id}` must list the `rules` it covers"))
        })?;
        let mut covers = Vec::new();
        for r in covered {
            match r.as_str().filter(|r| rules.iter().any(|known| known.id == *r)) {
                Some(r) => covers.push(r.to_string()),
                None => {
                    return Err(PolicyError::invalid(
                        &loc,
                        format!("exception `{id}` covers unknown rule {r}"),
                    ));
                }
            }
        }
        if !e["scope"].is_object() {
            return Err(PolicyError::invalid(
                &loc,
                format!(
                    "exception `{id}` needs a `scope` object (binary, image, namespace, pod_labels, actor, ...)"
                ),
            ));
        }
        if let Some(key) = e["scope"]
            .as_object()
            .and_then(|s| s.keys().find(|k| !SCOPE_KEYS.contains(&k.as_str())))
        {
            return Err(PolicyError::invalid(
                &loc,
                format!(
                    "exception `{id}`: unknown scope key `{key}` (one of {SCOPE_KEYS:?}); it would never match"
                ),
            ));
        }
        if out.iter().any(|x| x.id == id) {
            return Err(PolicyError::invalid(&loc, format!("duplicate exception id `{id}`")));
        }
        out.push(ExceptionInfo {
            id: id.to_string(),
            owner,
            expires,
            expires_ns,
            rules: covers,
            scope: e["scope"].clone(),
        });
    }
    Ok(out)
}

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
        // Read straight from the JSON: no copy of the event first.
        let input = Value::deserialize(event).map_err(|e| PolicyError::Eval(e.to_string()))?;
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
    let value = serde_json::to_value(&result).map_err(|e| PolicyError::Eval(e.to_string()))?;
    Decision::deserialize(&value)
        .map_err(|e| PolicyError::NotADecision { reason: e.to_string(), value: value.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{bundle::SourceFile, decision::Action};

    const MAIN: &str =
        "package palisade.main\n\nimport rego.v1\n\ndecision := {\"action\": \"allow\"}\n";

    /// A bundle with one rule module: `meta`, `hits`, then `extra`.
    fn bundle(extra: &str) -> Bundle {
        let rule = format!(
            "package palisade.rules.nc\n\nimport rego.v1\n\n\
             meta := {{\"id\": \"T-001\", \"title\": \"nc\", \"severity\": \"high\", \"mitre\": \"T1095\", \"action\": \"block\", \"kinds\": [\"process_exec\"]}}\n\n\
             hits contains \"nc\" if input.process.binary == \"/usr/bin/nc\"\n\n{extra}\n"
        );
        let files = [
            ("main.rego", MAIN.to_string()),
            ("lib/kernel.rego", include_str!("../../../policies/lib/kernel.rego").to_string()),
            ("lib/workload.rego", include_str!("../../../policies/lib/workload.rego").to_string()),
            ("rules/nc.rego", rule),
            ("config.json", r#"{"palisade": {"config": {"mode": "enforce"}}}"#.to_string()),
        ];
        let files =
            files.into_iter().map(|(path, text)| SourceFile { path: path.into(), text }).collect();
        Bundle::from_files("t".into(), files).unwrap()
    }

    /// The programs of triggered rules, and skipping Rego for an event that
    /// triggers nothing, change no decision: on every sample event of the
    /// baseline, the decision equals the kind's full program's.
    #[test]
    fn triggered_programs_decide_as_the_full_program() {
        let policy = Policy::compile(&Bundle::embedded()).unwrap();
        let mut evaluator = policy.evaluator();
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

    #[test]
    fn kernel_is_read_once_and_left_out_of_the_event_programs() {
        let b = bundle(
            "# The kernel's part: é.\nkernel := {\n\t\"exec\": {\"names\": [\"nc\", \"ncat\"]},\n}\n\nafter := \"é\"",
        );
        let modules = parse_modules(&b).unwrap();
        let m = modules.iter().find(|m| m.package == "palisade.rules.nc").unwrap();
        assert_eq!(m.kernel_line, Some(10));
        assert!(!m.judged.contains("kernel :=") && !m.judged.contains("ncat"), "{}", m.judged);
        assert!(
            m.judged.contains("# The kernel's part: é.") && m.judged.contains("after := \"é\"")
        );
        assert_eq!(
            (m.judged.len(), m.judged.lines().count()),
            (m.text.len(), m.text.lines().count())
        );

        let policy = Policy::compile(&b).unwrap();
        assert_eq!(policy.kernel.rules.len(), 1);
        let rule = &policy.kernel.rules[0];
        assert_eq!((rule.id.as_str(), rule.enforce), ("T-001", true));
        assert_eq!(rule.exec_names, ["nc", "ncat"]);
        // The hits still judge events.
        let decision = policy
            .evaluator()
            .eval(&json!({"kind": "process_exec", "process": {"binary": "/usr/bin/nc"}}))
            .unwrap();
        assert_eq!(decision.action, Action::Allow, "the test main.rego allows all");
    }

    #[test]
    fn kernel_from_input_is_undefined_and_a_failing_one_names_its_line() {
        let policy =
            Policy::compile(&bundle("kernel := {\"exec\": {\"names\": [input.process.binary]}}"))
                .unwrap();
        assert!(policy.kernel.rules.is_empty());
        assert_eq!(policy.kernel.userspace_only[0].id, "T-001");
        assert!(policy.kernel.userspace_only[0].why.contains("undefined"));

        let policy = Policy::compile(&bundle("")).unwrap();
        assert!(policy.kernel.userspace_only[0].why.starts_with("no `kernel` section"));

        let err = Policy::compile(&bundle(
            "kernel := {\"exec\": {\"names\": [\"nc\"]}, \"scope\": \"pod\"}",
        ))
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.starts_with("rules/nc.rego:9: kernel.scope: \"pod\" is not \"all\", \"containers\", \"host\", a selector"),
            "{err}"
        );

        // Kernel rules need the bundle to say which workloads they apply to.
        let mut b = bundle("kernel := {\"exec\": {\"names\": [\"nc\"]}}");
        b.modules.retain(|f| !f.path.starts_with("lib/"));
        let err = Policy::compile(&b).err().unwrap().to_string();
        assert!(err.contains("data.palisade.kernel.rules_for_workload"), "{err}");

        let err =
            Policy::compile(&bundle("kernel := {\"exec\": {\"names\": [concat(\"\", [1])]}}"))
                .err()
                .unwrap()
                .to_string();
        assert!(err.starts_with("rules/nc.rego:9: cannot evaluate `kernel`"), "{err}");
    }
}
