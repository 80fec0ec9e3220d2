//! `palisade policy report`: what each rule and each exception of a bundle
//! cost, over exported records.
//!
//! Every matched rule of a record's decision counts once for that rule, as
//! exactly one of: `enforced` (enforce mode, block or kill, and the agent or
//! a kernel hook denied or killed), `not_enforced` (enforce mode, block or
//! kill, but nothing could act: the decision says `reported`, `exited` or
//! `failed`), `would_block` (audit mode, block or kill) or `alert` (an
//! alert-only rule). Every suppression counts as `suppressed` for its rule
//! and as a use of its exception. A rule's *hits* are its matches and its
//! suppressions; workloads, actors, binaries and commands are counted over
//! hits (who ran into the rule, excepted or not).
//!
//! `exception_used` audit records duplicate the suppressions of their event
//! and are counted only when that event is not among the records read (a
//! sink filtered to `alerts|exception_used` keeps the audit record and
//! drops an event whose every match was suppressed).

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::PathBuf,
    time::Duration,
};

use serde::Serialize;

use super::{
    Instant, ReportError,
    record::{Ending, View, Workload},
};
use crate::{
    model::time::rfc3339_ns,
    policy::{bundle::Bundle, compiled::Policy},
};

/// Longest command line kept (characters).
const COMMAND_MAX: usize = 160;
/// Most rules drawn as their own series in the timeline; the rest are summed.
const TIMELINE_SERIES: usize = 8;
/// At most this many time buckets in the timeline.
const TIMELINE_BUCKETS: i128 = 60;
const NS: i128 = 1_000_000_000;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Exported files (native JSON lines; `P` brings its rotated `P.1`,
    /// `P.2`, ...), or directories of them. May be given more than once.
    #[arg(long = "events", required = true, value_name = "FILE|DIR")]
    pub events: Vec<PathBuf>,
    /// The bundle whose rules and exceptions are reported on (which never
    /// fired, which were never used). Default: the embedded baseline.
    #[arg(long, value_name = "DIR")]
    pub policy: Option<PathBuf>,
    /// Only records at or after this time: RFC 3339, or a duration before
    /// now (`24h`, `7d`). Default: from the first record.
    #[arg(long, value_parser = super::parse_instant, value_name = "TIME")]
    pub since: Option<Instant>,
    /// Only records before this time: RFC 3339, or a duration before now.
    /// Default: to the last record.
    #[arg(long, value_parser = super::parse_instant, value_name = "TIME")]
    pub until: Option<Instant>,
    /// List exceptions that expire within this long from now (expired ones
    /// are listed too).
    #[arg(long, default_value = "14d", value_parser = super::parse_span, value_name = "DURATION")]
    pub expiring_within: Duration,
    /// A rule is a candidate for rewriting when more than this share of its
    /// hits were suppressed by exceptions.
    #[arg(long, default_value_t = 0.5, value_name = "SHARE")]
    pub suppressed_share: f64,
    /// How many workloads, actors, binaries and commands to list per rule.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Print the report as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write the report as one self-contained HTML page (charts
    /// included, no network needed) to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

pub fn run(args: ReportArgs) -> anyhow::Result<()> {
    let bundle = match &args.policy {
        Some(dir) => Bundle::open(dir, None)
            .map_err(|source| ReportError::Bundle { origin: dir.display().to_string(), source })?,
        None => Bundle::embedded(),
    };
    let policy = crate::policy::load::compile(&bundle)
        .map_err(|source| ReportError::Bundle { origin: bundle.origin.clone(), source })?;
    let report = build(&args, &policy, super::now_ns())?;
    if let Some(path) = &args.html {
        std::fs::write(path, super::html::page(&report)?)
            .map_err(|source| ReportError::Write { path: path.clone(), source })?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", super::text::render(&report));
        if let Some(path) = &args.html {
            println!("HTML report: {}", path.display());
        }
    }
    Ok(())
}

/// Reads the records and adds them up against `policy`, `now` being the
/// instant expiries are measured from.
pub fn build(args: &ReportArgs, policy: &Policy, now: i128) -> Result<Report, ReportError> {
    let since = args.since.map(|i| i.0);
    let until = args.until.map(|i| i.0);
    if let (Some(s), Some(u)) = (since, until) {
        if s >= u {
            return Err(ReportError::EmptyWindow { since: rfc3339_ns(s), until: rfc3339_ns(u) });
        }
    }
    let mut tally = Tally::new(args.top);
    let counts = crate::forensics::load::visit(&args.events, |record| {
        let inside = since.is_none_or(|s| record.ns >= s) && until.is_none_or(|u| record.ns < u);
        if !inside {
            tally.outside += 1;
            return;
        }
        match serde_json::from_value::<View>(record.value) {
            Ok(view) => tally.add(&view, record.ns),
            Err(_) => tally.unreadable += 1,
        }
    })
    .map_err(ReportError::Load)?;
    let input = Input {
        files: counts.files.iter().map(|f| f.display().to_string()).collect(),
        records: counts.records,
        skipped: counts.skipped,
        duplicates: counts.duplicates,
        outside_window: tally.outside,
        unreadable: tally.unreadable,
        decided: tally.decided,
        eval_errors: tally.eval_errors,
        bundles_seen: counted(&tally.bundles, usize::MAX),
    };
    Ok(tally.finish(args, policy, now, input, since, until))
}

/// The whole report: what the JSON prints and the HTML page draws.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// When it was made (expiries are measured from here).
    pub generated: String,
    pub bundle: BundleSummary,
    pub input: Input,
    pub window: Window,
    /// Over every rule.
    pub totals: Counts,
    /// Rules that were hit, most matches first.
    pub rules: Vec<RuleReport>,
    /// Rules of the bundle with no hit in the window.
    pub never_fired: Vec<RuleRef>,
    /// Rules most of whose hits were suppressed: candidates for rewriting.
    pub mostly_suppressed: Vec<RewriteCandidate>,
    /// The bundle's exceptions, soonest expiry first, with their uses.
    pub exceptions: Vec<ExceptionReport>,
    pub exceptions_never_used: Vec<String>,
    /// Exceptions expiring within `expiring_within_seconds` of `generated`,
    /// or already expired.
    pub exceptions_expiring: Vec<String>,
    pub expiring_within_seconds: u64,
    /// Exceptions named by records but not in the bundle (another revision).
    pub unknown_exceptions: Vec<Count>,
    /// Break-glass overrides (`palisade break-glass`, exceptions named
    /// `break-glass-<id>`) that suppressed matches, with their uses.
    pub break_glass_uses: Vec<Count>,
    /// Friction per namespace, most hits first.
    pub namespaces: Vec<NamespaceFriction>,
    /// Matches over time per rule.
    pub timeline: Timeline,
}

#[derive(Debug, Clone, Serialize)]
pub struct BundleSummary {
    pub origin: String,
    pub digest: String,
    pub mode: String,
    pub rules: usize,
    pub exceptions: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Input {
    pub files: Vec<String>,
    /// Native records read (each once).
    pub records: u64,
    /// Lines that were not native records.
    pub skipped: u64,
    /// Records read more than once (kept once).
    pub duplicates: u64,
    pub outside_window: u64,
    /// Native records whose shape is not the schema's.
    pub unreadable: u64,
    /// Records in the window that carry a decision.
    pub decided: u64,
    /// Decisions whose evaluation failed (the fail mode's).
    pub eval_errors: u64,
    /// The bundle digests that made the decisions, with their counts.
    pub bundles_seen: Vec<Count>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Window {
    /// As asked (`--since`, `--until`).
    pub since: Option<String>,
    pub until: Option<String>,
    /// The first and last record in the window.
    pub first: Option<String>,
    pub last: Option<String>,
}

/// What the matches of a rule (or of many) amounted to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Matches no exception suppressed.
    pub matches: u64,
    /// Blocked or killed, in enforce mode.
    pub enforced: u64,
    /// Enforce mode asked to block or kill and nothing could.
    pub not_enforced: u64,
    /// Audit mode: a block or kill that was only reported.
    pub would_block: u64,
    /// Matches of alert-only rules.
    pub alerts: u64,
    /// Matches an exception suppressed.
    pub suppressed: u64,
}

impl Counts {
    pub fn hits(&self) -> u64 {
        self.matches + self.suppressed
    }

    fn add(&mut self, other: &Counts) {
        self.matches += other.matches;
        self.enforced += other.enforced;
        self.not_enforced += other.not_enforced;
        self.would_block += other.would_block;
        self.alerts += other.alerts;
        self.suppressed += other.suppressed;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleReport {
    pub rule: String,
    pub title: Option<String>,
    pub severity: Option<String>,
    /// The rule's action in the bundle.
    pub action: Option<String>,
    /// Whether the bundle reported on has this rule.
    pub in_bundle: bool,
    #[serde(flatten)]
    pub counts: Counts,
    /// suppressed / hits.
    pub suppressed_share: f64,
    /// Distinct workloads (namespace, image) that hit it.
    pub workloads: usize,
    pub top_workloads: Vec<WorkloadCount>,
    /// Who hit it (`decision.actor`: human, ci, ai_agent, workload, ...).
    pub actors: Vec<Count>,
    /// The exceptions that suppressed it, with their uses.
    pub exceptions: Vec<Count>,
    pub binaries: Vec<Count>,
    pub commands: Vec<Count>,
    pub first_seen: String,
    pub last_seen: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleRef {
    pub rule: String,
    pub title: String,
    pub severity: String,
    pub action: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RewriteCandidate {
    pub rule: String,
    pub suppressed: u64,
    pub hits: u64,
    pub share: f64,
    pub exceptions: Vec<Count>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExceptionStatus {
    Active,
    Expiring,
    Expired,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExceptionReport {
    pub id: String,
    pub owner: String,
    pub expires: String,
    /// Days from `generated` to `expires` (negative once expired).
    pub days_left: f64,
    pub status: ExceptionStatus,
    pub rules: Vec<String>,
    pub scope: serde_json::Value,
    /// Suppressions in the window.
    pub uses: u64,
    pub uses_by_rule: Vec<Count>,
    pub last_used: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NamespaceFriction {
    /// The pod's namespace; `(host)` for host processes, `(no pod)` for
    /// containers outside Kubernetes.
    pub namespace: String,
    #[serde(flatten)]
    pub counts: Counts,
    /// The rules hit there, most hits first.
    pub rules: Vec<Count>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    /// Start of the first bucket (RFC 3339), and each bucket's length.
    pub start: Option<String>,
    pub start_ms: i64,
    pub bucket_seconds: u64,
    pub buckets: usize,
    /// One series per rule with the most matches; `other` sums the rest.
    pub series: Vec<Series>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub rule: String,
    pub counts: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    pub name: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkloadCount {
    #[serde(flatten)]
    pub workload: Workload,
    pub count: u64,
}

/// Running counts for one rule.
#[derive(Debug, Default)]
struct RuleTally {
    counts: Counts,
    title: Option<String>,
    severity: Option<String>,
    workloads: HashMap<Workload, u64>,
    actors: HashMap<String, u64>,
    exceptions: HashMap<String, u64>,
    binaries: HashMap<String, u64>,
    commands: HashMap<String, u64>,
    first: i128,
    last: i128,
    /// Matches per minute since the epoch, for the timeline.
    minutes: BTreeMap<i64, u64>,
}

#[derive(Debug, Default)]
struct ExceptionTally {
    uses: u64,
    by_rule: HashMap<String, u64>,
    last: Option<i128>,
}

/// An `exception_used` record kept until every record is read.
struct AuditUse {
    event_id: String,
    rule: String,
    exception: String,
    binary: String,
    ns: i128,
}

#[derive(Default)]
struct Tally {
    top: usize,
    rules: BTreeMap<String, RuleTally>,
    exceptions: BTreeMap<String, ExceptionTally>,
    namespaces: BTreeMap<String, (Counts, HashMap<String, u64>)>,
    bundles: HashMap<String, u64>,
    /// Events whose decision carried suppressions.
    suppressed_events: HashSet<String>,
    audit_uses: Vec<AuditUse>,
    first: Option<i128>,
    last: Option<i128>,
    outside: u64,
    unreadable: u64,
    decided: u64,
    eval_errors: u64,
}

impl Tally {
    fn new(top: usize) -> Self {
        Self { top, ..Self::default() }
    }

    fn add(&mut self, view: &View, ns: i128) {
        self.first = Some(self.first.map_or(ns, |f| f.min(ns)));
        self.last = Some(self.last.map_or(ns, |l| l.max(ns)));
        if view.kind == crate::event::EXCEPTION_USED {
            if let (Some(event_id), Some(s)) = (&view.event_id, &view.exception) {
                self.audit_uses.push(AuditUse {
                    event_id: event_id.clone(),
                    rule: s.rule.clone(),
                    exception: s.exception.clone(),
                    binary: view.binary().to_string(),
                    ns,
                });
            }
            return;
        }
        let Some(decision) = &view.decision else { return };
        self.decided += 1;
        if let Some(bundle) = &decision.bundle {
            *self.bundles.entry(bundle.clone()).or_default() += 1;
        }
        if decision.error.is_some() {
            self.eval_errors += 1;
        }
        let workload = view.workload();
        let namespace = view.namespace_label();
        let actor = decision.actor.clone().unwrap_or_else(|| "unknown".into());
        let binary = view.binary().to_string();
        let command = view.command(COMMAND_MAX);
        for m in &decision.matched {
            let mut counts = Counts { matches: 1, ..Counts::default() };
            match Ending::of(decision, m.mode, m.action) {
                Ending::Enforced => counts.enforced = 1,
                Ending::NotEnforced => counts.not_enforced = 1,
                Ending::WouldBlock => counts.would_block = 1,
                Ending::Alert => counts.alerts = 1,
            }
            let rule = self.hit(&m.rule, &counts, ns, &namespace);
            rule.title = rule.title.take().or_else(|| m.title.clone());
            rule.severity = rule.severity.take().or_else(|| m.severity.clone());
            *rule.minutes.entry(ns.div_euclid(60 * NS) as i64).or_default() += 1;
            rule.seen_by(&workload, &actor, &binary, &command);
        }
        for s in decision.suppressed() {
            let counts = Counts { suppressed: 1, ..Counts::default() };
            let rule = self.hit(&s.rule, &counts, ns, &namespace);
            *rule.exceptions.entry(s.exception.clone()).or_default() += 1;
            rule.seen_by(&workload, &actor, &binary, &command);
            self.used(&s.exception, &s.rule, ns);
        }
        if !decision.suppressed().is_empty() {
            self.suppressed_events.insert(view.id.clone());
        }
    }

    /// Adds `counts` to `rule` and to the namespace; the rule's tally.
    fn hit(&mut self, rule: &str, counts: &Counts, ns: i128, namespace: &str) -> &mut RuleTally {
        let (friction, rules) = self.namespaces.entry(namespace.to_string()).or_default();
        friction.add(counts);
        *rules.entry(rule.to_string()).or_default() += 1;
        let tally = self.rules.entry(rule.to_string()).or_default();
        if tally.counts.hits() == 0 {
            (tally.first, tally.last) = (ns, ns);
        }
        tally.counts.add(counts);
        tally.first = tally.first.min(ns);
        tally.last = tally.last.max(ns);
        tally
    }

    fn used(&mut self, exception: &str, rule: &str, ns: i128) {
        let e = self.exceptions.entry(exception.to_string()).or_default();
        e.uses += 1;
        *e.by_rule.entry(rule.to_string()).or_default() += 1;
        e.last = Some(e.last.map_or(ns, |l| l.max(ns)));
    }

    fn finish(
        mut self,
        args: &ReportArgs,
        policy: &Policy,
        now: i128,
        input: Input,
        since: Option<i128>,
        until: Option<i128>,
    ) -> Report {
        // Audit records of events not read: their suppressions count here.
        for audit in std::mem::take(&mut self.audit_uses) {
            if self.suppressed_events.contains(&audit.event_id) {
                continue;
            }
            let counts = Counts { suppressed: 1, ..Counts::default() };
            let rule = self.hit(&audit.rule, &counts, audit.ns, "(unknown)");
            *rule.exceptions.entry(audit.exception.clone()).or_default() += 1;
            *rule.binaries.entry(audit.binary.clone()).or_default() += 1;
            self.used(&audit.exception, &audit.rule, audit.ns);
        }
        let top = self.top;
        let meta: HashMap<&str, _> = policy.rules.iter().map(|r| (r.id.as_str(), r)).collect();
        let mut totals = Counts::default();
        let mut rules: Vec<RuleReport> = self
            .rules
            .iter()
            .map(|(id, t)| {
                totals.add(&t.counts);
                let m = meta.get(id.as_str());
                RuleReport {
                    rule: id.clone(),
                    title: m.map(|m| m.title.clone()).or_else(|| t.title.clone()),
                    severity: m.map(|m| m.severity.clone()).or_else(|| t.severity.clone()),
                    action: m.map(|m| m.action.clone()),
                    in_bundle: m.is_some(),
                    counts: t.counts,
                    suppressed_share: share(t.counts.suppressed, t.counts.hits()),
                    workloads: t.workloads.len(),
                    top_workloads: ranked(&t.workloads, top)
                        .into_iter()
                        .map(|(workload, count)| WorkloadCount { workload, count })
                        .collect(),
                    actors: counted(&t.actors, usize::MAX),
                    exceptions: counted(&t.exceptions, usize::MAX),
                    binaries: counted(&t.binaries, top),
                    commands: counted(&t.commands, top),
                    first_seen: rfc3339_ns(t.first),
                    last_seen: rfc3339_ns(t.last),
                }
            })
            .collect();
        rules.sort_by(|a, b| {
            (b.counts.matches, b.counts.hits()).cmp(&(a.counts.matches, a.counts.hits()))
        });
        let mut never_fired: Vec<RuleRef> = policy
            .rules
            .iter()
            .filter(|r| !self.rules.contains_key(&r.id))
            .map(|r| RuleRef {
                rule: r.id.clone(),
                title: r.title.clone(),
                severity: r.severity.clone(),
                action: r.action.clone(),
            })
            .collect();
        never_fired.sort_by(|a, b| a.rule.cmp(&b.rule));
        let mostly_suppressed = rules
            .iter()
            .filter(|r| r.counts.hits() > 0 && r.suppressed_share > args.suppressed_share)
            .map(|r| RewriteCandidate {
                rule: r.rule.clone(),
                suppressed: r.counts.suppressed,
                hits: r.counts.hits(),
                share: r.suppressed_share,
                exceptions: r.exceptions.clone(),
            })
            .collect();
        let horizon = args.expiring_within.as_nanos() as i128;
        let mut exceptions: Vec<ExceptionReport> = policy
            .exceptions
            .iter()
            .map(|e| {
                let used = self.exceptions.get(&e.id);
                let left = e.expires_ns - now;
                ExceptionReport {
                    id: e.id.clone(),
                    owner: e.owner.clone(),
                    expires: e.expires.clone(),
                    days_left: left as f64 / (86_400.0 * NS as f64),
                    status: match left {
                        l if l <= 0 => ExceptionStatus::Expired,
                        l if l <= horizon => ExceptionStatus::Expiring,
                        _ => ExceptionStatus::Active,
                    },
                    rules: e.rules.clone(),
                    scope: e.scope.clone(),
                    uses: used.map_or(0, |u| u.uses),
                    uses_by_rule: used.map(|u| counted(&u.by_rule, usize::MAX)).unwrap_or_default(),
                    last_used: used.and_then(|u| u.last).map(rfc3339_ns),
                }
            })
            .collect();
        exceptions.sort_by(|a, b| a.days_left.total_cmp(&b.days_left));
        let known: HashSet<&str> = policy.exceptions.iter().map(|e| e.id.as_str()).collect();
        let (break_glass, unknown): (HashMap<String, u64>, HashMap<String, u64>) =
            (self.exceptions.iter())
                .filter(|(id, _)| !known.contains(id.as_str()))
                .map(|(id, t)| (id.clone(), t.uses))
                .partition(|(id, _)| id.starts_with(crate::policy::break_glass::ID_PREFIX));
        let mut namespaces: Vec<NamespaceFriction> = self
            .namespaces
            .iter()
            .map(|(ns, (counts, rules))| NamespaceFriction {
                namespace: ns.clone(),
                counts: *counts,
                rules: counted(rules, usize::MAX),
            })
            .collect();
        namespaces.sort_by_key(|n| std::cmp::Reverse(n.counts.hits()));
        let timeline = self.timeline(&rules, since, until);
        Report {
            generated: rfc3339_ns(now),
            bundle: BundleSummary {
                origin: policy.origin.clone(),
                digest: policy.short_digest().to_string(),
                mode: policy.mode.clone(),
                rules: policy.rules.len(),
                exceptions: policy.exceptions.len(),
            },
            input,
            window: Window {
                since: since.map(rfc3339_ns),
                until: until.map(rfc3339_ns),
                first: self.first.map(rfc3339_ns),
                last: self.last.map(rfc3339_ns),
            },
            totals,
            never_fired,
            mostly_suppressed,
            exceptions_never_used: exceptions
                .iter()
                .filter(|e| e.uses == 0)
                .map(|e| e.id.clone())
                .collect(),
            exceptions_expiring: exceptions
                .iter()
                .filter(|e| e.status != ExceptionStatus::Active)
                .map(|e| e.id.clone())
                .collect(),
            expiring_within_seconds: args.expiring_within.as_secs(),
            unknown_exceptions: counted(&unknown, usize::MAX),
            break_glass_uses: counted(&break_glass, usize::MAX),
            exceptions,
            namespaces,
            rules,
            timeline,
        }
    }

    /// Matches per bucket for the rules with the most matches, from the
    /// window's start (or the first record) to its end (or the last).
    fn timeline(&self, rules: &[RuleReport], since: Option<i128>, until: Option<i128>) -> Timeline {
        let (Some(first), Some(last)) = (since.or(self.first), until.or(self.last)) else {
            return Timeline {
                start: None,
                start_ms: 0,
                bucket_seconds: 60,
                buckets: 0,
                series: Vec::new(),
            };
        };
        let span = (last - first).max(1);
        const STEPS: [i128; 10] =
            [60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400, 7 * 86_400];
        let step = STEPS
            .into_iter()
            .find(|s| span / (s * NS) < TIMELINE_BUCKETS)
            .unwrap_or_else(|| (span / (TIMELINE_BUCKETS * NS) / 86_400 + 1) * 86_400);
        let start = first.div_euclid(step * NS) * step * NS;
        let buckets = ((last - start) / (step * NS) + 1) as usize;
        let bucket_of = |minute: i64| {
            let at = i128::from(minute) * 60 * NS;
            usize::try_from((at - start).div_euclid(step * NS)).ok().filter(|b| *b < buckets)
        };
        let mut series: Vec<Series> = Vec::new();
        let mut other = vec![0u64; buckets];
        let with_matches = rules.iter().filter(|r| r.counts.matches > 0);
        for (i, rule) in with_matches.enumerate() {
            let mut counts = vec![0u64; buckets];
            for (minute, n) in &self.rules[&rule.rule].minutes {
                if let Some(b) = bucket_of(*minute) {
                    counts[b] += n;
                }
            }
            if i < TIMELINE_SERIES {
                series.push(Series { rule: rule.rule.clone(), counts });
            } else {
                other.iter_mut().zip(counts).for_each(|(o, c)| *o += c);
            }
        }
        if other.iter().any(|c| *c > 0) {
            series.push(Series { rule: "other".into(), counts: other });
        }
        Timeline {
            start: Some(rfc3339_ns(start)),
            start_ms: (start / 1_000_000) as i64,
            bucket_seconds: step as u64,
            buckets,
            series,
        }
    }
}

impl RuleTally {
    fn seen_by(&mut self, workload: &Workload, actor: &str, binary: &str, command: &str) {
        *self.workloads.entry(workload.clone()).or_default() += 1;
        *self.actors.entry(actor.to_string()).or_default() += 1;
        *self.binaries.entry(binary.to_string()).or_default() += 1;
        if !command.is_empty() {
            *self.commands.entry(command.to_string()).or_default() += 1;
        }
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// The `top` largest counts, largest first (ties by key).
fn ranked<K: Clone + Ord>(counts: &HashMap<K, u64>, top: usize) -> Vec<(K, u64)> {
    let mut list: Vec<(K, u64)> = counts.iter().map(|(k, v)| (k.clone(), *v)).collect();
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    list.truncate(top);
    list
}

fn counted(counts: &HashMap<String, u64>, top: usize) -> Vec<Count> {
    ranked(counts, top).into_iter().map(|(name, count)| Count { name, count }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{
        decision::{Action, Decision, Match, Mode, Suppressed},
        enforce::Effect,
    };

    fn decision(mode: Mode, action: Action, effect: Option<Effect>) -> Decision {
        Decision {
            enforcement: effect.map(|result| crate::policy::enforce::Enforcement {
                detail: None,
                mechanism: "bpf-lsm".into(),
                result,
                rule: None,
            }),
            matched: vec![Match {
                action,
                message: String::new(),
                mitre: None,
                mode,
                rule: "R".into(),
                severity: None,
                title: None,
            }],
            ..Decision::default()
        }
    }

    #[test]
    fn each_match_ends_one_way() {
        let cases = [
            (Mode::Enforce, Action::Block, Some(Effect::Denied), Ending::Enforced),
            (Mode::Enforce, Action::Kill, Some(Effect::Killed), Ending::Enforced),
            (Mode::Enforce, Action::Kill, Some(Effect::Exited), Ending::NotEnforced),
            (Mode::Enforce, Action::Block, Some(Effect::Reported), Ending::NotEnforced),
            (Mode::Enforce, Action::Block, None, Ending::NotEnforced),
            (Mode::Audit, Action::Block, None, Ending::WouldBlock),
            (Mode::Audit, Action::Kill, Some(Effect::Reported), Ending::WouldBlock),
            (Mode::Enforce, Action::Alert, None, Ending::Alert),
            (Mode::Audit, Action::Alert, None, Ending::Alert),
        ];
        for (mode, action, effect, expected) in cases {
            let d = decision(mode, action, effect);
            assert_eq!(Ending::of(&d, mode, action), expected, "{mode:?} {action:?} {effect:?}");
        }
    }

    /// An audit record counts only when its event was not read.
    #[test]
    fn audit_records_count_only_for_events_not_read() {
        let mut tally = Tally::new(5);
        let d = Decision {
            suppressed: Some(vec![Suppressed {
                exception: "EX".into(),
                expires: None,
                owner: None,
                reason: None,
                rule: "R".into(),
            }]),
            ..Decision::default()
        };
        let event = View {
            id: "e1".into(),
            kind: "process_exec".into(),
            node: "n".into(),
            cluster: None,
            process: None,
            container: None,
            pod: None,
            decision: Some(d),
            event_id: None,
            exception: None,
        };
        tally.add(&event, 0);
        for (id, of) in [("a1", "e1"), ("a2", "e2")] {
            let audit = View {
                id: id.into(),
                kind: "exception_used".into(),
                decision: None,
                event_id: Some(of.into()),
                exception: event.decision.as_ref().unwrap().suppressed.clone().unwrap().pop(),
                ..event.clone()
            };
            tally.add(&audit, 1);
        }
        let policy = crate::policy::load::compile(&Bundle::embedded()).unwrap();
        let args = ReportArgs {
            events: Vec::new(),
            policy: None,
            since: None,
            until: None,
            expiring_within: Duration::from_secs(86_400),
            suppressed_share: 0.5,
            top: 5,
            json: false,
            html: None,
        };
        let input = Input {
            files: Vec::new(),
            records: 3,
            skipped: 0,
            duplicates: 0,
            outside_window: 0,
            unreadable: 0,
            decided: 1,
            eval_errors: 0,
            bundles_seen: Vec::new(),
        };
        let report = tally.finish(&args, &policy, 0, input, None, None);
        assert_eq!(report.rules[0].counts.suppressed, 2, "e1's suppression once, e2's audit once");
        assert_eq!(report.unknown_exceptions, [Count { name: "EX".into(), count: 2 }]);
        assert!(report.break_glass_uses.is_empty());
        assert_eq!(report.mostly_suppressed[0].rule, "R");
        assert!(!report.rules[0].in_bundle);
    }
}
