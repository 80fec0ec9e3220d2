//! Pod labels, from the Kubernetes API server's answers: a `v1 PodList`
//! (`GET /api/v1/pods?fieldSelector=spec.nodeName=<node>`) and then the
//! watch stream from its `resourceVersion` (`...&watch=1`), one JSON event
//! per line: `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`, or `ERROR` (a
//! `Status`; 410 Gone means list again).
//!
//! This parses those bodies and keeps pod UID -> name, namespace, labels;
//! [`super::kube`] fetches them.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::error::LabelsError;

/// What the API server says about one pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodMeta {
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
}

/// Pod UID -> what the API server says, as of `resource_version`.
#[derive(Debug, Default)]
pub struct PodLabels {
    pods: HashMap<String, PodMeta>,
    resource_version: Option<String>,
    /// Items of the last list that were not pods as this client reads them
    /// (a label value that is not a string, ...): skipped, so one bad item
    /// never hides every other pod's labels; the first one's reason.
    pub skipped: Vec<String>,
}

/// What one watch event changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `ADDED` or `MODIFIED`: the pod with this UID is (now) as the event says.
    Upserted(String),
    Deleted(String),
    /// Only the resource version moved on.
    Bookmark,
}

#[derive(Deserialize)]
struct PodList {
    kind: String,
    #[serde(default)]
    metadata: ListMeta,
    /// Read one at a time: a malformed item is skipped, not the list.
    #[serde(default)]
    items: Vec<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct ListMeta {
    #[serde(rename = "resourceVersion")]
    resource_version: Option<String>,
}

#[derive(Deserialize)]
struct Pod {
    metadata: ObjectMeta,
}

#[derive(Deserialize)]
struct ObjectMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    uid: String,
    #[serde(rename = "resourceVersion")]
    resource_version: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct WatchEvent {
    #[serde(rename = "type")]
    kind: String,
    object: serde_json::Value,
}

/// The `Status` an `ERROR` event carries.
#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    code: u32,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    message: String,
}

impl PodLabels {
    /// The pods of a `PodList` response body.
    pub fn from_list(body: &[u8]) -> Result<Self, LabelsError> {
        let list: PodList =
            serde_json::from_slice(body).map_err(|source| LabelsError::Json { source })?;
        if list.kind != "PodList" {
            return Err(LabelsError::NotAPodList { kind: list.kind });
        }
        let mut skipped = Vec::new();
        let pods = list
            .items
            .into_iter()
            .enumerate()
            .filter_map(|(i, item)| match serde_json::from_value::<Pod>(item) {
                Ok(pod) => Some(meta(pod.metadata)),
                Err(e) => {
                    skipped.push(format!("items[{i}]: {e}"));
                    None
                }
            })
            .collect();
        Ok(Self { pods, resource_version: list.metadata.resource_version, skipped })
    }

    /// Applies one line of a watch stream.
    pub fn apply(&mut self, line: &[u8]) -> Result<Change, LabelsError> {
        let event: WatchEvent =
            serde_json::from_slice(line).map_err(|source| LabelsError::Json { source })?;
        let object = || -> Result<ObjectMeta, LabelsError> {
            let pod: Pod = serde_json::from_value(event.object.clone())
                .map_err(|source| LabelsError::Json { source })?;
            Ok(pod.metadata)
        };
        let change = match event.kind.as_str() {
            "ADDED" | "MODIFIED" => {
                let object = object()?;
                self.resource_version.clone_from(&object.resource_version);
                let (uid, meta) = meta(object);
                self.pods.insert(uid.clone(), meta);
                Change::Upserted(uid)
            }
            "DELETED" => {
                let object = object()?;
                self.resource_version.clone_from(&object.resource_version);
                self.pods.remove(&object.uid);
                Change::Deleted(object.uid)
            }
            "BOOKMARK" => {
                self.resource_version = object()?.resource_version;
                Change::Bookmark
            }
            "ERROR" => {
                let status: Status = serde_json::from_value(event.object)
                    .map_err(|source| LabelsError::Json { source })?;
                return Err(LabelsError::WatchError {
                    code: status.code,
                    reason: status.reason,
                    message: status.message,
                });
            }
            other => return Err(LabelsError::UnknownEventType { kind: other.to_string() }),
        };
        Ok(change)
    }

    pub fn get(&self, uid: &str) -> Option<&PodMeta> {
        self.pods.get(uid)
    }

    pub fn len(&self) -> usize {
        self.pods.len()
    }

    /// Where the next watch resumes.
    pub fn resource_version(&self) -> Option<&str> {
        self.resource_version.as_deref()
    }
}

fn meta(object: ObjectMeta) -> (String, PodMeta) {
    (object.uid, PodMeta { name: object.name, namespace: object.namespace, labels: object.labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies every line of a watch stream (blank ones skipped), as the
    /// client does; how many were applied, or the first error.
    fn apply_all(pods: &mut PodLabels, stream: &[u8]) -> Result<usize, LabelsError> {
        let lines = stream.split(|b| *b == b'\n').filter(|l| !l.trim_ascii().is_empty());
        lines.map(|l| pods.apply(l)).try_fold(0, |n, r| r.map(|_| n + 1))
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/k8s/");
        std::fs::read(format!("{path}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    const WEB: &str = "3b6f8e2a-1c4d-4f7a-9e2b-5d8c1a0f6e3b";
    const API: &str = "8d2e4c6a-0b1f-4e3d-a5c7-9f1b3d5e7a9c";
    const REPORT: &str = "c1d2e3f4-5a6b-4c7d-8e9f-0a1b2c3d4e5f";

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_recorded_pod_list_gives_each_pods_labels() {
        let pods = PodLabels::from_list(&fixture("podlist-node-a.json")).unwrap();
        assert_eq!(pods.len(), 2);
        assert_eq!(pods.resource_version(), Some("184467"));
        let web = pods.get(WEB).expect("web-0");
        assert_eq!((web.name.as_str(), web.namespace.as_str()), ("web-0", "payments"));
        assert_eq!(
            web.labels,
            labels(&[
                ("app.kubernetes.io/name", "web"),
                ("app.kubernetes.io/component", "frontend"),
                ("apps.kubernetes.io/pod-index", "0"),
                ("controller-revision-hash", "web-6c9d7f8b5d"),
                ("statefulset.kubernetes.io/pod-name", "web-0"),
                ("tier", "frontend"),
            ])
        );
        let api = pods.get(API).expect("api pod");
        assert_eq!(api.namespace, "shop");
        assert_eq!(api.labels.get("app").map(String::as_str), Some("api"));
        assert!(pods.get("no-such-uid").is_none());
    }

    #[test]
    fn a_recorded_watch_stream_adds_modifies_and_deletes() {
        let mut pods = PodLabels::from_list(&fixture("podlist-node-a.json")).unwrap();
        let stream = fixture("watch-node-a.jsonl");
        let mut changes = Vec::new();
        for line in stream.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            changes.push(pods.apply(line).unwrap());
        }
        assert_eq!(
            changes,
            [
                Change::Upserted(REPORT.into()),
                Change::Upserted(WEB.into()),
                Change::Bookmark,
                Change::Deleted(API.into()),
            ]
        );
        assert_eq!(pods.len(), 2);
        assert!(pods.get(API).is_none(), "deleted");
        let report = pods.get(REPORT).expect("added");
        assert_eq!(report.labels.get("job-name").map(String::as_str), Some("report-28930140"));
        let web = pods.get(WEB).unwrap();
        assert_eq!(web.labels.get("release").map(String::as_str), Some("canary"), "modified");
        assert_eq!(pods.resource_version(), Some("184593"));

        let mut again = PodLabels::from_list(&fixture("podlist-node-a.json")).unwrap();
        assert_eq!(apply_all(&mut again, &stream).unwrap(), 4);
        assert_eq!(again.resource_version(), Some("184593"));
    }

    #[test]
    fn an_expired_watch_says_to_list_again_and_bad_bodies_are_errors() {
        let mut pods = PodLabels::default();
        let err = apply_all(&mut pods, &fixture("watch-expired.jsonl")).unwrap_err();
        assert!(
            matches!(&err, LabelsError::WatchError { code: 410, reason, .. } if reason == "Expired"),
            "{err}"
        );
        assert!(matches!(
            PodLabels::from_list(br#"{"kind":"Status","apiVersion":"v1"}"#),
            Err(LabelsError::NotAPodList { .. })
        ));
        assert!(matches!(PodLabels::from_list(b"<html>"), Err(LabelsError::Json { .. })));
        // One item the client cannot read (a numeric label value) is
        // skipped and named; the other pods keep their labels.
        let list = br#"{"kind":"PodList","items":[
            {"metadata":{"name":"bad","uid":"u1","labels":{"replicas":3}}},
            {"metadata":{"name":"good","namespace":"shop","uid":"u2","labels":{"app":"web"}}}]}"#;
        let partial = PodLabels::from_list(list).unwrap();
        assert_eq!(partial.len(), 1);
        assert_eq!(partial.skipped.len(), 1);
        assert!(partial.skipped[0].starts_with("items[0]: invalid type"), "{:?}", partial.skipped);
        assert!(matches!(
            pods.apply(br#"{"type":"RESYNC","object":{}}"#),
            Err(LabelsError::UnknownEventType { .. })
        ));
    }
}
