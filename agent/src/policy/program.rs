//! Programs: the bundle compiled for one event kind, or for one set of
//! triggered rules (built on first use and kept), on the RVM when it
//! decides as the interpreter does on the samples.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use regorus::{
    CompiledPolicy, Engine, Rc, Value,
    languages::rego::compiler::Compiler,
    rvm::{RegoVM, program::Program},
};

use super::{
    ENTRY_POINT, PolicyError,
    engine::{MAX_INSTRUCTIONS, TIME_LIMIT, add_module, limited_engine, time_limit},
    modules::{Module, RULES_PACKAGE},
    one_line,
    triggers::Triggered,
};

/// How the program for kinds that no rule names is labelled.
pub(super) const OTHER_KINDS: &str = "(other kinds)";

/// Programs for sets of triggered rules kept per bundle. Past this, an
/// event whose set has no program yet runs its kind's full program, which
/// gives the same decision (main.rego applies the triggers itself), slower.
const MAX_TRIGGERED_PROGRAMS: usize = 128;

/// How one event kind is evaluated.
pub(super) enum Runner {
    /// Compiled to RVM bytecode: the fast path.
    Vm(Arc<Program>),
    /// regorus's tree-walking interpreter on the compiled policy, for a
    /// bundle using a construct the RVM compiler does not support.
    Interpreter(CompiledPolicy),
}

impl Runner {
    pub(super) fn engine_name(&self) -> &'static str {
        match self {
            Runner::Vm(_) => "rvm",
            Runner::Interpreter(_) => "interpreter",
        }
    }
}

/// What a program is compiled from, kept to build the programs for sets of
/// triggered rules when they are first needed.
pub(super) struct Sources {
    /// The modules every program holds (every module that is no rule and
    /// has no `kernel` rule), parsed once, and the data: each program, and
    /// the load-time engines, start from a clone of it. (Parsing every
    /// module again for each of the eight programs was a fifth of a start.)
    shared: Mutex<Engine>,
    /// The other modules, added to the programs that hold them.
    pub(super) modules: Vec<OwnedModule>,
    pub(super) samples: Vec<serde_json::Value>,
    /// Cross-check each RVM program against the interpreter on the samples
    /// before using it. Off for the embedded baseline: its tests run the
    /// same checks on policies/ (`policy check policies`), and repeating
    /// them at every start cost seconds on a slow machine.
    pub(super) cross_check: bool,
}

pub(super) struct OwnedModule {
    pub(super) path: String,
    pub(super) package: String,
    /// The module as written, `kernel` included: what the load-time
    /// engine evaluates.
    pub(super) text: String,
    /// What the per-event programs compile (see [`Module::judged`]).
    pub(super) judged: String,
}

impl Sources {
    /// Parses the shared modules once and adds `data` (`origin` names the
    /// bundle in a data error).
    pub(super) fn new(
        modules: &[Module<'_>],
        data: &Value,
        origin: &str,
        samples: Vec<serde_json::Value>,
        cross_check: bool,
    ) -> Result<Self, PolicyError> {
        let mut shared = limited_engine(TIME_LIMIT);
        let mut others = Vec::new();
        for m in modules {
            if !m.package.starts_with(RULES_PACKAGE) && m.kernel_line.is_none() {
                add_module(&mut shared, m.path, m.text)?;
            } else {
                others.push(OwnedModule {
                    path: m.path.to_string(),
                    package: m.package.clone(),
                    text: m.text.to_string(),
                    judged: m.judged.clone(),
                });
            }
        }
        shared
            .add_data(data.clone())
            .map_err(|e| PolicyError::invalid(origin, format!("data: {}", one_line(&e))))?;
        Ok(Self { shared: Mutex::new(shared), modules: others, samples, cross_check })
    }

    /// A new engine holding the shared modules and the data.
    pub(super) fn shared_engine(&self) -> Engine {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every module as written, and the data, evaluations bounded by
    /// `limit`: what is read of the bundle at load.
    pub(super) fn whole_bundle(&self, limit: Duration) -> Result<Engine, PolicyError> {
        let mut engine = self.shared_engine();
        engine.set_execution_timer_config(time_limit(limit));
        for m in &self.modules {
            add_module(&mut engine, &m.path, &m.text)?;
        }
        Ok(engine)
    }

    /// Compiles the program of `kind` holding the rule modules `packages`
    /// (`data.palisade.rules.<name>`) and every module that is not a rule.
    /// The RVM is checked against the interpreter on `samples` (those of
    /// the kind).
    pub(super) fn build(
        &self,
        kind: &str,
        packages: &[&str],
        samples: &[&serde_json::Value],
        data: &Value,
    ) -> Result<(Runner, Option<String>), PolicyError> {
        let mut engine = self.shared_engine();
        let chosen = self.modules.iter().filter(|m| {
            !m.package.starts_with(RULES_PACKAGE)
                || packages.iter().any(|p| p.strip_prefix("data.") == Some(&m.package))
        });
        for m in chosen {
            add_module(&mut engine, &m.path, &m.judged)?;
        }
        let kind = if kind.is_empty() { OTHER_KINDS } else { kind };
        let compiled = compile_program(engine)?;
        let samples = if self.cross_check { samples } else { &[] };
        Ok(choose_runner(kind, compiled, samples, data))
    }
}

/// A kind's policy compiled both ways: the interpreter's form always, and
/// RVM bytecode when the RVM compiler supports every construct used.
struct Compiled {
    interpreter: CompiledPolicy,
    /// The bytecode, or why the RVM compiler refused.
    vm: Result<Arc<Program>, String>,
}

fn compile_program(mut engine: Engine) -> Result<Compiled, PolicyError> {
    let entry: Rc<str> = Rc::from(ENTRY_POINT);
    let interpreter = engine.compile_with_entrypoint(&entry).map_err(|e| {
        PolicyError::invalid("bundle", format!("cannot compile {ENTRY_POINT}: {}", one_line(&e)))
    })?;
    let vm = Compiler::compile_from_policy(&interpreter, &[ENTRY_POINT]).map_err(|e| one_line(&e));
    Ok(Compiled { interpreter, vm })
}

/// A fresh VM for `program`, with the bundle's data and the limits set.
pub(super) fn new_vm(program: &Arc<Program>, data: &Value) -> Result<RegoVM, PolicyError> {
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

/// Programs for sets of triggered rules, built on first use (tens of ms
/// each) and kept. The lock is taken only when an evaluator meets a set it
/// has no VM for yet.
#[derive(Default)]
pub(super) struct ProgramCache {
    programs: Mutex<HashMap<Triggered, Arc<Runner>>>,
}

impl ProgramCache {
    /// The program for `set`: the one kept, else the one `build` makes,
    /// kept; `None` when the cache is full or `build` gives none.
    pub(super) fn get_or_build(
        &self,
        set: &Triggered,
        build: impl FnOnce() -> Option<Runner>,
    ) -> Option<Arc<Runner>> {
        let mut programs = self.programs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(runner) = programs.get(set) {
            return Some(Arc::clone(runner));
        }
        if programs.len() >= MAX_TRIGGERED_PROGRAMS {
            return None;
        }
        let runner = Arc::new(build()?);
        programs.insert(set.clone(), Arc::clone(&runner));
        Some(runner)
    }
}
