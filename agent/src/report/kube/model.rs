//! `wgpolicyk8s.io/v1alpha2` PolicyReport and ClusterPolicyReport, the
//! fields Palisade writes, as the CRD defines them
//! (deploy/crds/wgpolicyk8s.io/, from kubernetes-sigs/wg-policy-prototypes).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const GROUP_VERSION: &str = "wgpolicyk8s.io/v1alpha2";
/// The label on every report Palisade writes, to find them again.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "palisade");
/// Every result's `source`.
pub const SOURCE: &str = "palisade";

/// A PolicyReport (namespaced) or ClusterPolicyReport: the same shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyReport {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub summary: Summary,
    #[serde(default)]
    pub results: Vec<ReportResult>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Set from the object read back, for an update (optimistic
    /// concurrency: the API server refuses a stale one with 409).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// How many results of each kind the report holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    #[serde(default)]
    pub pass: u64,
    #[serde(default)]
    pub fail: u64,
    #[serde(default)]
    pub warn: u64,
    #[serde(default)]
    pub error: u64,
    #[serde(default)]
    pub skip: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportResult {
    pub source: String,
    /// The rule id.
    pub policy: String,
    /// The rule's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub result: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ObjectReference>,
    /// When it was last seen.
    pub timestamp: Timestamp,
    /// Strings only (the CRD says so): counts and times as text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Warn,
    Error,
    Skip,
}

/// The CRD's severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Info,
}

impl Severity {
    /// A rule's `meta.severity` (low, medium, high, critical); anything
    /// else, or none, is `info`.
    pub fn of_rule(severity: Option<&str>) -> Self {
        match severity {
            Some("critical") => Severity::Critical,
            Some("high") => Severity::High,
            Some("medium") => Severity::Medium,
            Some("low") => Severity::Low,
            _ => Severity::Info,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timestamp {
    pub seconds: i64,
    pub nanos: i32,
}

impl Timestamp {
    pub fn of_ns(ns: i128) -> Self {
        Self {
            seconds: ns.div_euclid(1_000_000_000) as i64,
            nanos: ns.rem_euclid(1_000_000_000) as i32,
        }
    }
}

/// A list the API server answers (`PolicyReportList`, ...): the items only.
#[derive(Debug, Deserialize)]
pub struct List {
    #[serde(default)]
    pub items: Vec<PolicyReport>,
}

/// Where a report lives: a namespace's PolicyReport or the
/// ClusterPolicyReport.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Namespace(String),
    Cluster,
}

impl Scope {
    pub fn kind(&self) -> &'static str {
        match self {
            Scope::Namespace(_) => "PolicyReport",
            Scope::Cluster => "ClusterPolicyReport",
        }
    }

    pub fn of(report: &PolicyReport) -> Option<Self> {
        match (report.kind.as_str(), &report.metadata.namespace) {
            ("PolicyReport", Some(ns)) => Some(Scope::Namespace(ns.clone())),
            ("ClusterPolicyReport", _) => Some(Scope::Cluster),
            _ => None,
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Namespace(ns) => write!(f, "PolicyReport {ns}"),
            Scope::Cluster => f.write_str("ClusterPolicyReport"),
        }
    }
}

impl PolicyReport {
    /// A report named `name` in `scope` holding `results`, summarised.
    pub fn new(scope: &Scope, name: &str, results: Vec<ReportResult>) -> Self {
        let mut summary = Summary::default();
        for r in &results {
            *match r.result {
                Outcome::Pass => &mut summary.pass,
                Outcome::Fail => &mut summary.fail,
                Outcome::Warn => &mut summary.warn,
                Outcome::Error => &mut summary.error,
                Outcome::Skip => &mut summary.skip,
            } += 1;
        }
        let namespace = match scope {
            Scope::Namespace(ns) => Some(ns.clone()),
            Scope::Cluster => None,
        };
        Self {
            api_version: GROUP_VERSION.into(),
            kind: scope.kind().into(),
            metadata: ObjectMeta {
                name: name.into(),
                namespace,
                labels: BTreeMap::from([(MANAGED_BY.0.into(), MANAGED_BY.1.into())]),
                ..ObjectMeta::default()
            },
            summary,
            results,
        }
    }
}
