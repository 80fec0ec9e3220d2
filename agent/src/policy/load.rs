//! Loading a bundle: validated, its modules preprocessed, compiled into a
//! program per event kind, and checked, once.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use regorus::{Engine, Value};

use crate::process::env::EnvCapture;

use super::{
    ENTRY_POINT, PolicyError,
    bundle::Bundle,
    checks::{self, CHECK_TIME_LIMIT},
    compiled::Policy,
    engine::{TIME_LIMIT, time_limit},
    files::{self, FileWatchSet},
    kernel_plan,
    modules::{Module, parse_modules},
    one_line, parallel,
    program::{ProgramCache, Runner, Sources},
    triggers::TriggerIndex,
    validate::{check_config, check_exceptions, read_kernel_sections, read_rule_metas},
};

/// Checks and compiles `bundle`. Every failure names `file:line` where
/// it can and says what is wrong.
pub fn compile(bundle: &Bundle) -> Result<Arc<Policy>, PolicyError> {
    // The interpreter's compiled form takes its budget from here.
    regorus::utils::limits::set_fallback_execution_timer_config(Some(time_limit(TIME_LIMIT)));
    let data = Value::from(bundle.data.clone());
    let modules = parse_modules(bundle)?;
    check_package_roots(bundle, &modules)?;
    let sources =
        Sources::new(&modules, &data, &bundle.origin, bundle.samples.clone(), !bundle.embedded)?;
    // What is read of the bundle at load (rule metadata, exceptions, kernel
    // sections, watched files) is bounded as the load checks are, not as
    // one event: under the VM's emulation `data.palisade.files.watch` took
    // over the per-event second and the agent did not start.
    let mut all = sources.whole_bundle(CHECK_TIME_LIMIT)?;

    let rules = read_rule_metas(&mut all, &modules)?;
    let mode = check_config(bundle, &rules)?;
    let (exceptions, exception_warnings) = check_exceptions(bundle, &rules, &mut all, &modules)?;
    let sections = read_kernel_sections(&mut all, &modules, &rules)?;
    let kernel = kernel_plan::plan(&sections, &bundle.data["palisade"]["config"], &exceptions)?;
    let env_capture = EnvCapture::from_config(&bundle.data["palisade"]["config"]).map_err(|e| {
        let at = bundle.locate("\"env_capture\"").unwrap_or_else(|| bundle.origin.clone());
        PolicyError::invalid(at, e.to_string())
    })?;
    // A bundle without files.rego watches no file.
    let files = if modules.iter().any(|m| m.package == files::PACKAGE) {
        FileWatchSet::read(&mut all, &bundle.origin)?
    } else {
        FileWatchSet::default()
    };
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
    let jobs: Vec<(&str, &[&str])> =
        (kinds.iter().map(|(k, p)| (k.as_str(), p.as_slice()))).chain([("", &[][..])]).collect();
    let mut notes = Vec::new();
    let mut runners = Vec::new();
    // Not alive while the programs are built, the start's peak of memory:
    // made again below for the one check that needs it.
    drop(all);
    for built in build_programs(&sources, &jobs, &data) {
        let (runner, note) = built?;
        notes.extend(note);
        runners.push(runner);
    }
    let no_rules = runners.pop().expect("the job without rules was queued last");
    let by_kind: BTreeMap<String, Runner> = kinds.into_keys().zip(runners).collect();
    let kernel_engine = kernel_engine(&sources, &sections, &bundle.origin)?;
    let triggers = TriggerIndex::new(rules.iter().map(|r| &r.triggers));
    let mut rules_of_kind: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, rule) in rules.iter().enumerate() {
        for kind in &rule.kinds {
            let of_kind = rules_of_kind.entry(kind.clone()).or_default();
            // A rule naming its kind twice is still one rule of it.
            if of_kind.last() != Some(&i) {
                of_kind.push(i);
            }
        }
    }
    let policy = Arc::new(Policy {
        origin: bundle.origin.clone(),
        digest: bundle.digest.clone(),
        revision: bundle.revision.clone(),
        rules,
        exceptions,
        exception_warnings,
        mode,
        kernel,
        env_capture,
        files,
        triggers,
        by_kind,
        rules_of_kind,
        no_rules,
        triggered_programs: ProgramCache::default(),
        sources,
        data,
        engine_notes: notes,
        kernel_engine: Mutex::new(kernel_engine),
    });
    checks::smoke_test(&policy)?;
    checks::kernel_scopes(&policy, &bundle.origin)?;
    // The embedded baseline passed these checks as policies/ in its tests
    // (`policy check policies`); at every start they would cost seconds
    // on a slow machine.
    if !bundle.embedded {
        let mut all = policy.sources.whole_bundle(CHECK_TIME_LIMIT)?;
        checks::triggers(&policy, &mut all)?;
    }
    Ok(policy)
}

/// Compiles the program of each (kind, rule packages) job on every CPU
/// (each is independent, and together they are most of a start); the
/// results in the jobs' order.
fn build_programs(
    sources: &Sources,
    jobs: &[(&str, &[&str])],
    data: &Value,
) -> Vec<Result<(Runner, Option<String>), PolicyError>> {
    // A release agent builds them one after another: on two CPUs the
    // parallel build saved no measurable start time there, and each worker
    // left its malloc arena behind (2 MiB more at the peak and after). A
    // debug build (the test suite's agent, whose compile is many times
    // slower) uses every CPU.
    let threads = if cfg!(debug_assertions) { usize::MAX } else { 1 };
    parallel::map_in_order(
        jobs,
        threads,
        || (),
        |(), &(kind, packages)| {
            let samples: Vec<&serde_json::Value> =
                (sources.samples.iter()).filter(|s| kind.is_empty() || s["kind"] == kind).collect();
            sources.build(kind, packages, &samples, data)
        },
    )
}

/// The engine that evaluates [`super::workloads::RULES_FOR_WORKLOAD`] for
/// each workload: the shared modules (policies/kernel.rego among them) with
/// each kernel rule's `meta` and `kernel`, as read at load, put at its
/// package's path in the data. The rule modules themselves stay out: the
/// kernel policy reads nothing else of them, and with them every lookup
/// of `data.palisade.rules[name]` evaluated each whole rule module (a
/// fifth of a start).
fn kernel_engine(
    sources: &Sources,
    sections: &[kernel_plan::Section<'_>],
    origin: &str,
) -> Result<Engine, PolicyError> {
    let mut rules = serde_json::Map::new();
    for section in sections {
        let Some(kernel) = &section.kernel else { continue };
        let path = section.meta.package.trim_start_matches("data.");
        let mut at = &mut rules;
        for part in path.split('.') {
            at = at
                .entry(part)
                .or_insert_with(|| serde_json::Value::Object(Default::default()))
                .as_object_mut()
                .expect("package paths hold objects only");
        }
        at.insert("meta".into(), section.meta.as_written.clone());
        at.insert("kernel".into(), kernel.clone());
    }
    let mut engine = sources.shared_engine();
    engine.set_execution_timer_config(time_limit(CHECK_TIME_LIMIT));
    engine.add_data(Value::from(serde_json::Value::Object(rules))).map_err(|e| {
        PolicyError::invalid(
            origin,
            format!("the data defines what the rules' meta and kernel define: {}", one_line(&e)),
        )
    })?;
    Ok(engine)
}

/// With roots in the manifest, every module's package lies under one, as
/// OPA requires.
fn check_package_roots(bundle: &Bundle, modules: &[Module<'_>]) -> Result<(), PolicyError> {
    if bundle.roots.is_empty() {
        return Ok(());
    }
    for m in modules {
        let path = m.package.replace('.', "/");
        if !bundle.roots.iter().any(|r| super::bundle::under(&path, r)) {
            return Err(PolicyError::invalid(
                format!("{}:1", m.path),
                format!(
                    "package {} is outside the manifest's roots [{}]",
                    m.package,
                    bundle.roots.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::policy::{
        bundle::SourceFile, decision::Action, eval::Evaluator, modules::parse_modules,
    };

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
            ("kernel.rego", include_str!("../../../policies/kernel.rego").to_string()),
            ("lib/workload.rego", include_str!("../../../policies/lib/workload.rego").to_string()),
            ("rules/nc.rego", rule),
            ("palisade/config/data.json", r#"{"mode": "enforce"}"#.to_string()),
        ];
        let files =
            files.into_iter().map(|(path, text)| SourceFile { path: path.into(), text }).collect();
        Bundle::from_files("t".into(), files).unwrap()
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

        let policy = compile(&b).unwrap();
        assert_eq!(policy.kernel.rules.len(), 1);
        let rule = &policy.kernel.rules[0];
        assert_eq!((rule.id.as_str(), rule.enforce), ("T-001", true));
        assert_eq!(rule.exec_names, ["nc", "ncat"]);
        // The hits still judge events.
        let decision = Evaluator::new(&policy)
            .eval(&json!({"kind": "process_exec", "process": {"binary": "/usr/bin/nc"}}))
            .unwrap();
        assert_eq!(decision.action, Action::Allow, "the test main.rego allows all");
    }

    #[test]
    fn kernel_from_input_is_undefined_and_a_failing_one_names_its_line() {
        let policy =
            compile(&bundle("kernel := {\"exec\": {\"names\": [input.process.binary]}}")).unwrap();
        assert!(policy.kernel.rules.is_empty());
        assert_eq!(policy.kernel.userspace_only[0].id, "T-001");
        assert!(policy.kernel.userspace_only[0].why.contains("undefined"));

        let policy = compile(&bundle("")).unwrap();
        assert!(policy.kernel.userspace_only[0].why.starts_with("no `kernel` section"));

        let err =
            compile(&bundle("kernel := {\"exec\": {\"names\": [\"nc\"]}, \"scope\": \"pod\"}"))
                .err()
                .unwrap()
                .to_string();
        assert!(
            err.starts_with("rules/nc.rego:9: kernel.scope: \"pod\" is not \"all\", \"containers\", \"host\", a selector"),
            "{err}"
        );

        // Kernel rules need the bundle to say which workloads they apply to.
        let mut b = bundle("kernel := {\"exec\": {\"names\": [\"nc\"]}}");
        b.modules.retain(|f| !f.path.starts_with("lib/") && f.path != "kernel.rego");
        let err = compile(&b).err().unwrap().to_string();
        assert!(err.contains("data.palisade.kernel.rules_for_workload"), "{err}");

        let err = compile(&bundle("kernel := {\"exec\": {\"names\": [concat(\"\", [1])]}}"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("rules/nc.rego:9: cannot evaluate `kernel`"), "{err}");
    }
}
