//! What the stream said over a rolling window, grouped the way the reports
//! show it: one result per rule, outcome, workload (the pod; the node for
//! host processes) and exception, with how often and when.
//!
//! A matched rule whose action is block or kill is a `fail` result, whether
//! it was enforced or, in audit mode, would have blocked (as Kyverno reports
//! an audit-mode violation); an alert-only rule's match is a `warn`; a match
//! an exception suppressed is a `skip` that names the exception. Results of
//! pods with a namespace go to that namespace's PolicyReport; the rest (host
//! processes, containers outside Kubernetes, pods whose namespace is not
//! known) to the ClusterPolicyReport, under the node.
//!
//! Counts are kept per minute, so a result's `count` is the events of the
//! window; a result read back from a report the API server holds (after a
//! restart) keeps its count until its last event leaves the window.

use std::collections::{BTreeMap, HashMap};

use super::model::{
    ObjectReference, Outcome, PolicyReport, ReportResult, SOURCE, Scope, Severity, Timestamp,
};
use crate::{
    model::time::{parse_rfc3339_ns, rfc3339_ns},
    report::record::{Ending, View},
};

const MINUTE: i128 = 60 * 1_000_000_000;
/// Longest command line kept in a result (characters).
const COMMAND_MAX: usize = 256;
/// Results' `category`.
const CATEGORY: &str = "Palisade runtime";

/// Identifies one result.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Key {
    scope: Scope,
    policy: String,
    /// `Kind:uid-or-name` of each resource, joined.
    subject: String,
    outcome: Outcome,
    exception: Option<String>,
}

#[derive(Debug, Clone)]
struct Group {
    /// Events per minute since the epoch.
    minutes: BTreeMap<i64, u64>,
    first: i128,
    last: i128,
    /// From the latest event.
    message: Option<String>,
    resources: Vec<ObjectReference>,
    properties: BTreeMap<String, String>,
}

/// A rule's metadata as its matches carry it, for its suppressions (which
/// do not).
#[derive(Debug, Clone, Default)]
struct RuleInfo {
    title: Option<String>,
    severity: Option<String>,
}

#[derive(Debug)]
pub struct Findings {
    window: i128,
    groups: HashMap<Key, Group>,
    rules: HashMap<String, RuleInfo>,
    /// The newest event seen.
    newest: Option<i128>,
}

impl Findings {
    pub fn new(window: std::time::Duration) -> Self {
        Self {
            window: window.as_nanos() as i128,
            groups: HashMap::new(),
            rules: HashMap::new(),
            newest: None,
        }
    }

    pub fn newest(&self) -> Option<i128> {
        self.newest
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Adds one record at `ns` (its time). Records without a decision add
    /// nothing; nor do `exception_used` audit records, whose event carries
    /// the same suppression with the pod.
    pub fn add(&mut self, view: &View, ns: i128) {
        let Some(decision) = &view.decision else { return };
        if decision.matched.is_empty() && decision.suppressed().is_empty() {
            return;
        }
        self.newest = Some(self.newest.map_or(ns, |n| n.max(ns)));
        let (scope, resources) = placement(view);
        let subject = subject(&resources);
        let mut common = BTreeMap::new();
        let mut put = |key: &str, value: &str| {
            if !value.is_empty() {
                common.insert(key.to_string(), value.to_string());
            }
        };
        put("node", &view.node);
        put("cluster", view.cluster.as_deref().unwrap_or_default());
        put("binary", view.binary());
        put("command", &view.command(COMMAND_MAX));
        put("actor", decision.actor.as_deref().unwrap_or_default());
        if let Some(c) = &view.container {
            put("container_id", &c.id);
            put("container", c.name.as_deref().unwrap_or_default());
            put("image", c.image.as_deref().unwrap_or_default());
        }
        for m in &decision.matched {
            let info = self.rules.entry(m.rule.clone()).or_default();
            info.title = m.title.clone().or(info.title.take());
            info.severity = m.severity.clone().or(info.severity.take());
            let ending = Ending::of(decision, m.mode, m.action);
            let outcome = if ending == Ending::Alert { Outcome::Warn } else { Outcome::Fail };
            let mut properties = common.clone();
            properties.insert("action".into(), m.action.as_str().into());
            properties.insert("mode".into(), m.mode.as_str().into());
            properties.insert("outcome".into(), ending.as_str().into());
            if let Some(e) = decision.enforcement.as_ref().filter(|_| ending != Ending::Alert) {
                properties.insert(
                    "enforcement".into(),
                    format!("{} by {}", e.result.as_str(), e.mechanism),
                );
            }
            if let Some(mitre) = &m.mitre {
                properties.insert("mitre".into(), mitre.clone());
            }
            let key = Key {
                scope: scope.clone(),
                policy: m.rule.clone(),
                subject: subject.clone(),
                outcome,
                exception: None,
            };
            self.record(key, ns, Some(m.message.clone()), &resources, properties);
        }
        for s in decision.suppressed() {
            let mut properties = common.clone();
            properties.insert("exception".into(), s.exception.clone());
            let mut message =
                format!("{} matched; exception {} suppressed it", s.rule, s.exception);
            if let Some(owner) = &s.owner {
                properties.insert("owner".into(), owner.clone());
                message += &format!(" (owner {owner}");
                message += &match &s.expires {
                    Some(until) => format!(", until {until})"),
                    None => ")".into(),
                };
            }
            if let Some(expires) = &s.expires {
                properties.insert("expires".into(), expires.clone());
            }
            if let Some(reason) = &s.reason {
                properties.insert("reason".into(), reason.clone());
                message += &format!(": {reason}");
            }
            let key = Key {
                scope: scope.clone(),
                policy: s.rule.clone(),
                subject: subject.clone(),
                outcome: Outcome::Skip,
                exception: Some(s.exception.clone()),
            };
            self.record(key, ns, Some(message), &resources, properties);
        }
    }

    fn record(
        &mut self,
        key: Key,
        ns: i128,
        message: Option<String>,
        resources: &[ObjectReference],
        properties: BTreeMap<String, String>,
    ) {
        let group = self.groups.entry(key).or_insert_with(|| Group {
            minutes: BTreeMap::new(),
            first: ns,
            last: ns,
            message: None,
            resources: Vec::new(),
            properties: BTreeMap::new(),
        });
        *group.minutes.entry(ns.div_euclid(MINUTE) as i64).or_default() += 1;
        group.first = group.first.min(ns);
        if ns >= group.last || group.resources.is_empty() {
            group.last = ns;
            group.message = message;
            group.resources = resources.to_vec();
            group.properties = properties;
        }
    }

    /// Forgets what is older than the window before `now`.
    pub fn prune(&mut self, now: i128) {
        let cutoff = now - self.window;
        let first_minute = cutoff.div_euclid(MINUTE) as i64;
        self.groups.retain(|_, g| {
            g.minutes = g.minutes.split_off(&first_minute);
            if g.minutes.is_empty() || g.last < cutoff {
                return false;
            }
            g.first = g.first.max(cutoff);
            true
        });
    }

    /// The reports, one per scope with results. At most `max_results` per
    /// report: the most recently seen.
    pub fn reports(&self, name: &str, max_results: usize) -> BTreeMap<Scope, PolicyReport> {
        let mut by_scope: BTreeMap<Scope, Vec<(&Key, &Group)>> = BTreeMap::new();
        for (key, group) in &self.groups {
            by_scope.entry(key.scope.clone()).or_default().push((key, group));
        }
        by_scope
            .into_iter()
            .map(|(scope, mut groups)| {
                if groups.len() > max_results {
                    groups.sort_by_key(|g| std::cmp::Reverse(g.1.last));
                    groups.truncate(max_results);
                }
                groups.sort_by(|a, b| a.0.cmp(b.0));
                let results = groups.into_iter().map(|(k, g)| self.result(k, g)).collect();
                let report = PolicyReport::new(&scope, name, results);
                (scope, report)
            })
            .collect()
    }

    fn result(&self, key: &Key, group: &Group) -> ReportResult {
        let info = self.rules.get(&key.policy).cloned().unwrap_or_default();
        let mut properties = group.properties.clone();
        let count: u64 = group.minutes.values().sum();
        properties.insert("count".into(), count.to_string());
        properties.insert("first_seen".into(), rfc3339_ns(group.first));
        properties.insert("last_seen".into(), rfc3339_ns(group.last));
        ReportResult {
            source: SOURCE.into(),
            policy: key.policy.clone(),
            rule: info.title,
            category: Some(CATEGORY.into()),
            result: key.outcome,
            severity: Some(Severity::of_rule(info.severity.as_deref())),
            message: group.message.clone(),
            resources: group.resources.clone(),
            timestamp: Timestamp::of_ns(group.last),
            properties,
        }
    }

    /// Takes back the results of a report Palisade wrote before (after a
    /// restart, so the reports do not lose what the window still holds).
    /// Each keeps its count until its last event leaves the window.
    pub fn restore(&mut self, report: &PolicyReport) {
        let Some(scope) = Scope::of(report) else { return };
        for r in report.results.iter().filter(|r| r.source == SOURCE) {
            let last =
                i128::from(r.timestamp.seconds) * 1_000_000_000 + i128::from(r.timestamp.nanos);
            let first = (r.properties.get("first_seen"))
                .and_then(|t| parse_rfc3339_ns(t))
                .map_or(last, |f| f.min(last));
            let count = r.properties.get("count").and_then(|c| c.parse().ok()).unwrap_or(1);
            let key = Key {
                scope: scope.clone(),
                policy: r.policy.clone(),
                subject: subject(&r.resources),
                outcome: r.result,
                exception: r.properties.get("exception").cloned(),
            };
            let mut properties = r.properties.clone();
            for derived in ["count", "first_seen", "last_seen"] {
                properties.remove(derived);
            }
            let info = self.rules.entry(r.policy.clone()).or_default();
            if r.result != Outcome::Skip || info.title.is_none() {
                info.title = info.title.take().or(r.rule.clone());
                let severity = r.severity.and_then(|s| serde_json::to_value(s).ok());
                info.severity = info
                    .severity
                    .take()
                    .or(severity.and_then(|s| s.as_str().map(str::to_string)))
                    .filter(|s| s != "info");
            }
            self.newest = Some(self.newest.map_or(last, |n| n.max(last)));
            self.groups.entry(key).or_insert_with(|| Group {
                minutes: BTreeMap::from([(last.div_euclid(MINUTE) as i64, count)]),
                first,
                last,
                message: r.message.clone(),
                resources: r.resources.clone(),
                properties,
            });
        }
    }
}

/// The report a record's results go to, and the resources they name.
fn placement(view: &View) -> (Scope, Vec<ObjectReference>) {
    let pod = view.pod.as_ref();
    let reference = |kind: &str, name: Option<String>, namespace, uid| ObjectReference {
        api_version: "v1".into(),
        kind: kind.into(),
        name,
        namespace,
        uid,
    };
    let uid = pod.map(|p| p.uid.clone()).filter(|u| !u.is_empty());
    match pod.and_then(|p| p.namespace.clone()) {
        Some(ns) => {
            let name = pod.and_then(|p| p.name.clone());
            (Scope::Namespace(ns.clone()), vec![reference("Pod", name, Some(ns), uid)])
        }
        None => {
            let mut resources = Vec::new();
            if !view.node.is_empty() {
                resources.push(reference("Node", Some(view.node.clone()), None, None));
            }
            if let Some(uid) = uid {
                let name = pod.and_then(|p| p.name.clone());
                resources.push(reference("Pod", name, None, Some(uid)));
            }
            (Scope::Cluster, resources)
        }
    }
}

fn subject(resources: &[ObjectReference]) -> String {
    let parts: Vec<String> = resources
        .iter()
        .map(|r| format!("{}:{}", r.kind, r.uid.as_deref().or(r.name.as_deref()).unwrap_or("")))
        .collect();
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(json: &str) -> View {
        serde_json::from_str(json).unwrap()
    }

    const MIN: i128 = MINUTE;

    fn pod_event(id: &str, rule: &str, action: &str, mode: &str) -> View {
        view(&format!(
            r#"{{"id":"{id}","kind":"process_exec","node":"node-a",
                "process":{{"pid":1,"binary":"/usr/bin/nc","args":["nc","-l"]}},
                "container":{{"id":"c1","image":"img:1"}},
                "pod":{{"uid":"u1","name":"web-0","namespace":"payments","labels_available":true}},
                "decision":{{"action":"alert","actor":"workload","mode":"{mode}","would_block":true,
                  "matched":[{{"rule":"{rule}","title":"Netcat","severity":"high","action":"{action}","mode":"{mode}","message":"nc ran"}}],
                  "suppressed":[]}}}}"#
        ))
    }

    #[test]
    fn results_group_by_rule_pod_and_outcome_and_age_out() {
        let mut f = Findings::new(std::time::Duration::from_secs(3600));
        f.add(&pod_event("e1", "R1", "block", "audit"), 10 * MIN);
        f.add(&pod_event("e2", "R1", "block", "audit"), 20 * MIN);
        f.add(&pod_event("e3", "R2", "alert", "audit"), 30 * MIN);
        let host = view(
            r#"{"id":"h1","kind":"process_exec","node":"node-a","process":{"pid":2,"binary":"/bin/sh","args":[]},
               "decision":{"action":"allow","matched":[],"suppressed":[{"rule":"R1","exception":"EX","owner":"o@x","expires":"2027-01-01T00:00:00Z"}]}}"#,
        );
        f.add(&host, 40 * MIN);
        let reports = f.reports("palisade", 100);
        let ns = &reports[&Scope::Namespace("payments".into())];
        assert_eq!((ns.summary.fail, ns.summary.warn, ns.summary.skip), (1, 1, 0));
        let r1 = &ns.results[0];
        assert_eq!((r1.policy.as_str(), r1.result), ("R1", Outcome::Fail));
        assert_eq!(r1.properties["count"], "2");
        assert_eq!(r1.properties["outcome"], "would_block");
        assert_eq!(r1.resources[0].uid.as_deref(), Some("u1"));
        assert_eq!(r1.severity, Some(Severity::High));
        let cluster = &reports[&Scope::Cluster];
        let skip = &cluster.results[0];
        assert_eq!((skip.result, skip.properties["exception"].as_str()), (Outcome::Skip, "EX"));
        assert_eq!(skip.rule.as_deref(), Some("Netcat"), "title from the rule's matches");
        assert_eq!(skip.resources[0].kind, "Node");

        // An hour after minute 25: R1's first event has left the window.
        f.prune(85 * MIN);
        let reports = f.reports("palisade", 100);
        let ns = &reports[&Scope::Namespace("payments".into())];
        assert_eq!(ns.results[0].properties["count"], "1");
        f.prune(200 * MIN);
        assert!(f.is_empty());

        // Restored from the reports written, the same reports come out.
        let mut g = Findings::new(std::time::Duration::from_secs(3600));
        for report in reports.values() {
            g.restore(report);
        }
        assert_eq!(g.reports("palisade", 100), reports);
    }

    #[test]
    fn a_report_keeps_its_most_recent_results() {
        let mut f = Findings::new(std::time::Duration::from_secs(3600));
        for (i, rule) in ["A", "B", "C"].iter().enumerate() {
            f.add(&pod_event(&format!("e{i}"), rule, "kill", "enforce"), (i as i128 + 1) * MIN);
        }
        let reports = f.reports("palisade", 2);
        let policies: Vec<&str> = reports[&Scope::Namespace("payments".into())]
            .results
            .iter()
            .map(|r| r.policy.as_str())
            .collect();
        assert_eq!(policies, ["B", "C"]);
        let c = &reports[&Scope::Namespace("payments".into())].results[1];
        assert_eq!(c.properties["outcome"], "not_enforced", "kill asked, nothing acted");
    }
}
