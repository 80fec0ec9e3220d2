//! `palisade policy check|test|eval|replay`.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufWriter, Read, Write},
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::{
    bundle::{Bundle, Manifest},
    compiled::Policy,
    decision::{Action, Decision, Mode},
    eval::Evaluator,
    load,
    signing::{MANIFEST_FILE, RawFile, SIGNATURES_FILE, SigningKey, Verification},
    tarball, testing,
};

/// Signature verification of the bundle (OPA's `.signatures.json`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct VerifyArgs {
    /// PEM public key (RSA or EC) the bundle must be signed with. With it,
    /// an unsigned bundle, a file changed, added or missing, a bad
    /// signature or another key id is rejected. Default: not verified.
    #[arg(long, value_name = "PEM")]
    pub verification_key: Option<PathBuf>,
    /// The key id the signature must name (JWT `kid`), if it names one.
    #[arg(long, value_name = "ID", requires = "verification_key")]
    pub verification_key_id: Option<String>,
    /// The scope the signature must carry (exact match; default: none).
    #[arg(long, value_name = "SCOPE", requires = "verification_key")]
    pub verification_scope: Option<String>,
}

impl VerifyArgs {
    pub fn load(&self) -> anyhow::Result<Option<Verification>> {
        let Some(key) = &self.verification_key else { return Ok(None) };
        Ok(Some(Verification::from_pem_file(
            key,
            self.verification_key_id.clone(),
            self.verification_scope.clone(),
        )?))
    }
}

/// Longest event line `eval` and `replay` accept.
pub const EVENT_LINE_MAX: usize = 1 << 20;

#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Validate a bundle: Rego syntax, rule metadata, duplicate ids, modes,
    /// exceptions (owner, reason and expiry required), rules' `kernel`
    /// sections. Exits non-zero with `file:line: reason` on the first
    /// problem. Lists the rules, then which the kernel enforces and which
    /// are judged in userspace only.
    ///
    /// A bundle is a directory or an OPA bundle tarball (`.tar.gz`).
    Check {
        dir: PathBuf,
        /// Print the rules and the kernel plan as JSON instead.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        verify: VerifyArgs,
    },
    /// Run the bundle's `test_*` rules (in `*_test.rego` files), printing
    /// PASS/FAIL per test; exits non-zero when one fails.
    Test {
        dir: PathBuf,
        #[command(flatten)]
        verify: VerifyArgs,
    },
    /// Read events (JSON lines) on stdin and print one decision (JSON) per
    /// line. A line that cannot be judged gets `{"error": ...}` instead.
    Eval { dir: PathBuf },
    /// Build an OPA bundle tarball from a bundle directory: `.manifest`
    /// (the directory's own, with `--revision` set), every file Palisade
    /// reads, and with `--signing-key` a `.signatures.json` (a JWT listing
    /// every file with its SHA-256). The bundle must pass `policy check`.
    Build(Box<BuildArgs>),
    /// Decisions over recorded events, summarised per rule; with `--against`,
    /// the events whose decision differs between the two bundles.
    Replay {
        dir: PathBuf,
        /// Events to replay (JSON lines, as `palisade run` prints them).
        #[arg(long)]
        events: PathBuf,
        /// A second bundle to compare with (e.g. the proposed change).
        #[arg(long)]
        against: Option<PathBuf>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Measure evaluation speed: the events are judged over and over on one
    /// thread; prints evaluations per second and latency percentiles as JSON,
    /// for the whole decision (top level) and for the agent's path
    /// (`agent`: Rego only for events that trigger a rule).
    Bench {
        dir: PathBuf,
        #[arg(long)]
        events: PathBuf,
        /// Passes over the events.
        #[arg(long, default_value_t = 200)]
        passes: u32,
    },
    /// What each rule and exception cost, from exported records: per rule
    /// matches, enforced blocks, would_block, alerts, suppressions, the
    /// workloads, actors, binaries and commands that hit it; rules that
    /// never fired, exceptions never used or expiring, rules mostly
    /// suppressed. Text, --json, or --html FILE (one self-contained page).
    Report(crate::report::friction::ReportArgs),
}

/// `policy build`'s arguments (boxed: the other commands are small).
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    dir: PathBuf,
    /// Where to write the tarball.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// The manifest's revision (e.g. the git commit).
    #[arg(long, value_name = "R")]
    revision: Option<String>,
    /// PEM private key to sign with: RSA (PKCS#1 or PKCS#8) or EC
    /// (PKCS#8). Default: unsigned.
    #[arg(long, value_name = "PEM")]
    signing_key: Option<PathBuf>,
    /// JWT algorithm: RS256 (default for RSA), RS384, RS512, PS256,
    /// PS384, PS512, ES256 (default for EC), ES384.
    #[arg(long, value_name = "ALG", requires = "signing_key")]
    signing_alg: Option<String>,
    /// Key id written into the signature (JWT `kid` and `keyid`).
    #[arg(long, value_name = "ID", requires = "signing_key", default_value = "")]
    key_id: String,
    /// Scope written into the signature.
    #[arg(long, value_name = "S", requires = "signing_key")]
    scope: Option<String>,
}

pub fn run(command: PolicyCommand) -> anyhow::Result<()> {
    match command {
        PolicyCommand::Check { dir, json, verify } => check(&dir, json, &verify),
        PolicyCommand::Test { dir, verify } => test(&dir, &verify),
        PolicyCommand::Build(args) => {
            let BuildArgs { dir, output, revision, signing_key, signing_alg, key_id, scope } =
                *args;
            let signing = match &signing_key {
                Some(key) => Some(SigningKey::from_pem_file(key, signing_alg.as_deref())?),
                None => None,
            };
            build(
                &dir,
                &output,
                revision,
                signing.as_ref().map(|k| (k, key_id.as_str(), scope.as_deref())),
            )
        }
        PolicyCommand::Eval { dir } => eval(&dir),
        PolicyCommand::Replay { dir, events, against, json } => {
            replay(&dir, &events, against.as_deref(), json)
        }
        PolicyCommand::Bench { dir, events, passes } => bench(&dir, &events, passes),
        PolicyCommand::Report(args) => crate::report::friction::run(args),
    }
}

fn load(dir: &Path) -> anyhow::Result<(Bundle, Arc<Policy>)> {
    load_verified(dir, &VerifyArgs::default())
}

fn load_verified(dir: &Path, verify: &VerifyArgs) -> anyhow::Result<(Bundle, Arc<Policy>)> {
    let bundle = Bundle::open(dir, verify.load()?.as_ref())?;
    let policy = load::compile(&bundle)?;
    Ok((bundle, policy))
}

/// How the bundle's signature stands, for `check`.
fn signature_state(bundle: &Bundle) -> &'static str {
    match (bundle.signed, bundle.verified) {
        (_, true) => "verified",
        (true, false) => "signed, not verified (no --verification-key)",
        (false, false) => "unsigned",
    }
}

fn check(dir: &Path, as_json: bool, verify: &VerifyArgs) -> anyhow::Result<()> {
    let (bundle, policy) = load_verified(dir, verify)?;
    if as_json {
        let summary = json!({
            "bundle": dir.display().to_string(),
            "digest": policy.short_digest(),
            "revision": policy.revision,
            "signature": signature_state(&bundle),
            "mode": policy.mode,
            "engines": policy.engines(),
            "rules": policy.rules,
            "exceptions": policy.exceptions.len(),
            "exception_warnings": policy.exception_warnings,
            "tests": bundle.tests.len(),
            "kernel": policy.kernel,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    let kinds: std::collections::BTreeSet<&str> =
        policy.rules.iter().flat_map(|r| r.kinds.iter().map(String::as_str)).collect();
    println!(
        "{}: ok: {} rules over {} event kinds, {} exceptions, {} test files, mode {}, digest {}, revision {}, {}",
        dir.display(),
        policy.rules.len(),
        kinds.len(),
        policy.exceptions.len(),
        bundle.tests.len(),
        policy.mode,
        policy.short_digest(),
        policy.revision.as_deref().unwrap_or("none"),
        signature_state(&bundle)
    );
    for (kind, engine) in policy.engines() {
        println!("  engine for {kind}: {engine}");
    }
    for note in &policy.engine_notes {
        println!("  note: {note}");
    }
    for warning in &policy.exception_warnings {
        println!("  warning: {warning}");
    }
    for rule in &policy.rules {
        println!(
            "  {:<8} {:<8} {:<10} {:<6} {:<28} {}",
            rule.id,
            rule.severity,
            rule.mitre,
            rule.action,
            rule.kinds.join(","),
            rule.title
        );
    }
    print_kernel_plan(&policy);
    Ok(())
}

/// One line per rule: what the kernel matches, where and with what effect
/// (enforce: denied in the kernel; audit: would block, reported; alert:
/// reported), or why it is judged in userspace only.
fn print_kernel_plan(policy: &Policy) {
    let plan = &policy.kernel;
    println!(
        "  kernel-enforced ({}): enforce = denied in the kernel, audit = reported as would_block, alert = reported",
        plan.rules.len()
    );
    for rule in &plan.rules {
        let mut what = Vec::new();
        if !rule.exec_names.is_empty() {
            what.push(format!("exec names [{}]", rule.exec_names.join(", ")));
        }
        if !rule.exec_paths.is_empty() {
            let paths: Vec<String> =
                rule.exec_paths.iter().map(|p| p.display().to_string()).collect();
            what.push(format!("exec paths [{}]", paths.join(", ")));
        }
        if rule.exec_drift {
            what.push("exec drift (upper layer, memfd, deleted)".to_string());
        }
        for allow in [false, true] {
            let list: Vec<String> =
                rule.connect.iter().filter(|m| m.allow == allow).map(|m| m.to_string()).collect();
            if !list.is_empty() {
                let verb = if allow { "allow" } else { "deny" };
                what.push(format!("connect {verb} [{}]", list.join(", ")));
            }
        }
        for (access, prefixes) in [("read", &rule.file_read), ("write", &rule.file_write)] {
            if !prefixes.is_empty() {
                what.push(format!("file {access} under [{}] (BPF-LSM)", prefixes.join(", ")));
            }
        }
        if !rule.socket_families.is_empty() {
            let families: Vec<&str> = rule.socket_families.iter().map(|f| f.name()).collect();
            what.push(format!("socket families [{}]", families.join(", ")));
        }
        let effect = match (rule.enforce, rule.blocking) {
            (true, _) => "enforce",
            (false, true) => "audit",
            (false, false) => "alert",
        };
        println!("    {:<8} {:<7} scope {}: {}", rule.id, effect, rule.scope, what.join("; "));
        for carve in &rule.carve_outs {
            let whom = if carve.node_wide() {
                "every workload (its scope names no namespace, pod_labels, image, image_prefix or container_id)".to_string()
            } else {
                format!("the workloads of its scope {}", carve.scope)
            };
            println!(
                "             carved out by exception {} until {}: reported only for {whom}",
                carve.exception, carve.expires
            );
        }
    }
    let c = &plan.capacity;
    println!(
        "  kernel map capacity: a rule set holds {} entries per map (a second set fits beside it while it replaces the one in force); one workload profile with every kernel rule needs up to {} exec identities, {} exec names, {} IPv4, {} IPv6, {} file and {} socket family entries, so at least {} such profiles fit ({} at most)",
        c.per_rule_set,
        c.exec_identities,
        c.exec_names,
        c.net4,
        c.net6,
        c.file,
        c.socket_families,
        c.profiles_that_fit(),
        c.max_profiles
    );
    println!("  userspace-only ({}):", plan.userspace_only.len());
    for rule in &plan.userspace_only {
        println!("    {:<8} {}", rule.id, rule.why);
    }
}

fn test(dir: &Path, verify: &VerifyArgs) -> anyhow::Result<()> {
    let bundle = Bundle::open(dir, verify.load()?.as_ref())?;
    // The tests run against a bundle that must also be valid as a whole.
    load::compile(&bundle)?;
    let results = testing::run(&bundle)?;
    let mut failed = 0;
    for r in &results {
        match &r.failure {
            None => println!("PASS {}", r.name),
            Some(why) => {
                failed += 1;
                println!("FAIL {}: {why}", r.name);
            }
        }
    }
    println!("{} passed, {failed} failed", results.len() - failed);
    if results.is_empty() {
        bail!("{}: no test_* rules found in *_test.rego files", dir.display());
    }
    if failed > 0 {
        bail!("{failed} policy tests failed");
    }
    Ok(())
}

/// `policy build`: the directory's bundle files and manifest, checked,
/// packed, and signed with `signing` (key, key id, scope).
fn build(
    dir: &Path,
    output: &Path,
    revision: Option<String>,
    signing: Option<(&SigningKey, &str, Option<&str>)>,
) -> anyhow::Result<()> {
    if !dir.is_dir() {
        bail!("{}: not a directory (policy build reads a bundle directory)", dir.display());
    }
    let stored = Bundle::read_files(dir)?;
    let mut manifest = match stored.iter().find(|f| f.path == MANIFEST_FILE) {
        Some(f) => Manifest::parse(&f.bytes)
            .map_err(|reason| anyhow::anyhow!("{}: {MANIFEST_FILE}: {reason}", dir.display()))?,
        None => Manifest::default(),
    };
    if revision.is_some() {
        manifest.revision = revision;
    }
    let mut files =
        vec![RawFile { path: MANIFEST_FILE.into(), bytes: serde_json::to_vec_pretty(&manifest)? }];
    files.extend(
        stored.into_iter().filter(|f| f.path != MANIFEST_FILE && f.path != SIGNATURES_FILE),
    );
    // What the nodes will load: checked and compiled here first.
    let bundle = Bundle::from_raw(dir.display().to_string(), files.clone(), None)?;
    let policy = load::compile(&bundle)?;
    if let Some((key, key_id, scope)) = signing {
        let signatures = key
            .sign(&files, key_id, scope)
            .map_err(|reason| anyhow::anyhow!("{}: {reason}", dir.display()))?;
        files.push(RawFile { path: SIGNATURES_FILE.into(), bytes: signatures });
    }
    let packed = tarball::pack(&files)?;
    std::fs::write(output, packed).with_context(|| format!("cannot write {}", output.display()))?;
    println!(
        "{}: {} files, revision {}, digest {}, {}",
        output.display(),
        files.len(),
        policy.revision.as_deref().unwrap_or("none"),
        policy.short_digest(),
        if signing.is_some() { "signed" } else { "unsigned" }
    );
    Ok(())
}

/// Reads JSON event lines, calling `each` with (line number, event or the
/// reason it is not one).
fn for_each_event(
    mut input: impl BufRead,
    mut each: impl FnMut(usize, Result<Value, String>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        let n = input.by_ref().take(EVENT_LINE_MAX as u64 + 1).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(());
        }
        number += 1;
        if line.len() > EVENT_LINE_MAX && !line.ends_with(b"\n") {
            // Skip the rest of the oversized line without holding it.
            let mut skipped = line.len();
            loop {
                let buf = input.fill_buf()?;
                if buf.is_empty() {
                    break;
                }
                match buf.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        input.consume(i + 1);
                        skipped += i;
                        break;
                    }
                    None => {
                        let len = buf.len();
                        input.consume(len);
                        skipped += len;
                    }
                }
            }
            each(
                number,
                Err(format!("{skipped} bytes is over the {EVENT_LINE_MAX}-byte event limit")),
            )?;
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let event = match serde_json::from_str::<Value>(text) {
            Ok(v) if v.is_object() => Ok(v),
            Ok(_) => Err("an event must be a JSON object".to_string()),
            Err(e) => Err(format!("not JSON: {e}")),
        };
        each(number, event)?;
    }
}

fn eval(dir: &Path) -> anyhow::Result<()> {
    let (_, policy) = load(dir)?;
    let mut evaluator = Evaluator::new(&policy);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for_each_event(std::io::stdin().lock(), |number, event| {
        match event
            .map_err(|e| e.to_string())
            .and_then(|e| evaluator.eval(&e).map_err(|e| e.to_string()))
        {
            Ok(decision) => serde_json::to_writer(&mut out, &decision)?,
            Err(reason) => {
                eprintln!("palisade: line {number}: {reason}");
                serde_json::to_writer(&mut out, &json!({"line": number, "error": reason}))?;
            }
        }
        out.write_all(b"\n")?;
        Ok(())
    })?;
    out.flush()?;
    Ok(())
}

/// Per-rule counts over a replay.
#[derive(Debug, Default, serde::Serialize)]
struct RuleCounts {
    matched: u64,
    alert: u64,
    would_block: u64,
    enforced: u64,
    suppressed: u64,
}

#[derive(Debug, serde::Serialize)]
struct Change {
    line: usize,
    id: Value,
    kind: Value,
    binary: Value,
    before: Outcome,
    after: Outcome,
}

/// The part of a decision a reviewer compares.
#[derive(Debug, PartialEq, serde::Serialize)]
struct Outcome {
    action: Action,
    rules: Vec<String>,
    would_block: Option<bool>,
}

impl Outcome {
    fn of(decision: &Decision) -> Self {
        Self {
            action: decision.action,
            rules: decision.matched.iter().map(|m| m.rule.clone()).collect(),
            would_block: decision.would_block,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_json::to_string(self).map_err(|_| std::fmt::Error)?)
    }
}

fn replay(dir: &Path, events: &Path, against: Option<&Path>, as_json: bool) -> anyhow::Result<()> {
    let (_, policy) = load(dir)?;
    let other = against.map(load).transpose()?;
    let file =
        std::fs::File::open(events).with_context(|| format!("cannot open {}", events.display()))?;
    let mut evaluator = Evaluator::new(&policy);
    let mut other_evaluator = other.as_ref().map(|(_, p)| Evaluator::new(p));
    let mut counts: BTreeMap<String, RuleCounts> = BTreeMap::new();
    let mut other_counts: BTreeMap<String, RuleCounts> = BTreeMap::new();
    let (mut total, mut bad) = (0u64, 0u64);
    let mut changes = Vec::new();
    let tally = |counts: &mut BTreeMap<String, RuleCounts>, d: &Decision| {
        for m in &d.matched {
            let c = counts.entry(m.rule.clone()).or_default();
            c.matched += 1;
            let enforce = m.mode == Mode::Enforce;
            let blocking = matches!(m.action, Action::Block | Action::Kill);
            match (enforce, blocking) {
                (true, true) => c.enforced += 1,
                (false, true) => c.would_block += 1,
                _ => c.alert += 1,
            }
        }
        for s in d.suppressed() {
            counts.entry(s.rule.clone()).or_default().suppressed += 1;
        }
    };
    for_each_event(std::io::BufReader::new(file), |number, event| {
        let event = match event {
            Ok(e) => e,
            Err(reason) => {
                bad += 1;
                eprintln!("palisade: {}:{number}: {reason}", events.display());
                return Ok(());
            }
        };
        total += 1;
        let decision = evaluator.eval(&event)?;
        tally(&mut counts, &decision);
        if let Some(other) = other_evaluator.as_mut() {
            let after = other.eval(&event)?;
            tally(&mut other_counts, &after);
            let (before, after) = (Outcome::of(&decision), Outcome::of(&after));
            if before != after {
                changes.push(Change {
                    line: number,
                    id: event["id"].clone(),
                    kind: event["kind"].clone(),
                    binary: event["process"]["binary"].clone(),
                    before,
                    after,
                });
            }
        }
        Ok(())
    })?;
    if as_json {
        let summary = json!({
            "events": total, "unreadable": bad, "bundle": policy.short_digest(), "rules": counts,
            "against": other.as_ref().map(|(_, p)| json!({"bundle": p.short_digest(), "rules": other_counts, "changed": changes})),
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    println!(
        "{total} events replayed ({bad} unreadable) against {} ({})",
        dir.display(),
        policy.short_digest()
    );
    print_counts(&counts);
    if let Some((_, other_policy)) = &other {
        println!();
        println!("against {} ({}):", against.unwrap_or(dir).display(), other_policy.short_digest());
        print_counts(&other_counts);
        println!();
        println!("{} events change decision:", changes.len());
        for c in &changes {
            println!(
                "  line {} {} {} {}: {} -> {}",
                c.line, c.id, c.kind, c.binary, c.before, c.after
            );
        }
    }
    Ok(())
}

fn print_counts(counts: &BTreeMap<String, RuleCounts>) {
    println!(
        "  {:<10} {:>8} {:>8} {:>12} {:>9} {:>11}",
        "rule", "matched", "alert", "would_block", "enforced", "suppressed"
    );
    for (rule, c) in counts {
        println!(
            "  {:<10} {:>8} {:>8} {:>12} {:>9} {:>11}",
            rule, c.matched, c.alert, c.would_block, c.enforced, c.suppressed
        );
    }
}

fn bench(dir: &Path, events: &Path, passes: u32) -> anyhow::Result<()> {
    let (_, policy) = load(dir)?;
    let file =
        std::fs::File::open(events).with_context(|| format!("cannot open {}", events.display()))?;
    let mut corpus = Vec::new();
    for_each_event(std::io::BufReader::new(file), |_, event| {
        if let Ok(e) = event {
            corpus.push(e);
        }
        Ok(())
    })?;
    if corpus.is_empty() {
        bail!("{}: no events", events.display());
    }
    let mut evaluator = Evaluator::new(&policy);
    // Warm-up: every program's VM is built on first use.
    for e in &corpus {
        evaluator.eval(e)?;
        evaluator.eval_triggered(e)?;
    }
    // Two paths, alternating pass by pass so machine noise hits both alike:
    // the agent's (the native trigger test, then Rego only for an event
    // that triggers some rule) and the whole decision for every event
    // (`policy eval`, and what OPA computes).
    let (mut agent, mut full) = (Vec::new(), Vec::new());
    let (mut agent_time, mut full_time) = (Duration::ZERO, Duration::ZERO);
    let mut rego_runs = 0usize;
    for pass in 0..passes * 2 {
        let started = Instant::now();
        for e in &corpus {
            let t = Instant::now();
            if pass % 2 == 0 {
                let decision = evaluator.eval_triggered(std::hint::black_box(e))?;
                rego_runs += usize::from(decision.is_some());
                std::hint::black_box(decision);
                agent.push(t.elapsed().as_nanos() as u64);
            } else {
                std::hint::black_box(evaluator.eval(std::hint::black_box(e))?);
                full.push(t.elapsed().as_nanos() as u64);
            }
        }
        *(if pass % 2 == 0 { &mut agent_time } else { &mut full_time }) += started.elapsed();
    }
    let summary_of = |latencies: &mut Vec<u64>, total: Duration| {
        latencies.sort_unstable();
        let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
        json!({
            "evals_per_sec": latencies.len() as f64 / total.as_secs_f64(),
            "p50_us": pct(0.50),
            "p99_us": pct(0.99),
            "max_us": latencies[latencies.len() - 1] as f64 / 1000.0,
        })
    };
    let (agent_summary, full_summary) =
        (summary_of(&mut agent, agent_time), summary_of(&mut full, full_time));
    let mut summary = json!({
        "engine": "palisade",
        "engines": policy.engines(),
        "events": corpus.len(),
        "evaluations": full.len(),
        "triggered_share": rego_runs as f64 / agent.len() as f64,
        "agent": agent_summary,
    });
    // The whole decision's figures stay at the top level, the same fields
    // OPA's harness prints.
    if let (Some(obj), Some(full)) = (summary.as_object_mut(), full_summary.as_object()) {
        obj.extend(full.clone());
    }
    println!("{summary}");
    Ok(())
}
