//! Which kernel rules apply to a workload (a cgroup) and which exceptions
//! carve them out for it, from the bundle's own Rego
//! (`data.palisade.kernel.rules_for_workload`, policies/kernel.rego),
//! so that scopes mean the same in the kernel as in every decision. It is
//! evaluated when the agent learns a workload, never per event.

use std::collections::BTreeMap;

use regorus::{Engine, Value};
use serde::Serialize;

use super::{PolicyError, one_line};
use crate::model::time::rfc3339_ns;

/// The rule the agent evaluates for each workload.
pub const RULES_FOR_WORKLOAD: &str = "data.palisade.kernel.rules_for_workload";

/// A workload as the kernel policy sees it: the shape of an event's
/// `host`, `container` and `pod` fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct WorkloadFacts {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub host: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodFacts>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ContainerFacts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PodFacts {
    pub uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// None until the API server told the agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

impl WorkloadFacts {
    /// A host cgroup.
    pub fn host() -> Self {
        Self { host: true, ..Self::default() }
    }

    /// A container the agent knows nothing of yet.
    pub fn unclassified() -> Self {
        Self { container: Some(ContainerFacts::default()), ..Self::default() }
    }
}

/// The kernel rules of one workload: rule id -> the unexpired exceptions
/// carving it out there (empty: the rule is enforced as its mode says).
pub type WorkloadRules = BTreeMap<String, Vec<String>>;

/// An evaluator of [`RULES_FOR_WORKLOAD`]: the bundle's modules and data.
pub struct KernelScopes {
    engine: Engine,
}

impl KernelScopes {
    pub(super) fn new(engine: Engine) -> Self {
        Self { engine }
    }

    /// The kernel rules for `facts` at `now_ns` (ns since the epoch).
    pub fn rules_for(
        &mut self,
        facts: &WorkloadFacts,
        now_ns: i128,
    ) -> Result<WorkloadRules, PolicyError> {
        let mut input =
            serde_json::to_value(facts).map_err(|e| PolicyError::Eval(e.to_string()))?;
        input["time"] = rfc3339_ns(now_ns).into();
        self.engine.set_input(Value::from(input));
        let missing = || {
            PolicyError::Eval(format!(
                "the bundle has kernel rules but no {RULES_FOR_WORKLOAD}, which says which workloads each applies to: add the baseline's kernel.rego and lib/workload.rego"
            ))
        };
        let value = match self.engine.eval_rule(RULES_FOR_WORKLOAD.to_string()) {
            Ok(Value::Undefined) => return Err(missing()),
            Ok(value) => value,
            Err(e) if e.to_string().contains("not a valid rule path") => return Err(missing()),
            Err(e) => {
                return Err(PolicyError::Eval(format!("{RULES_FOR_WORKLOAD}: {}", one_line(&e))));
            }
        };
        serde_json::to_value(&value).and_then(serde_json::from_value).map_err(|e| {
            PolicyError::Eval(format!("{RULES_FOR_WORKLOAD}: not rule id -> exception ids: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_take_the_shape_of_event_fields() {
        let host = serde_json::to_value(WorkloadFacts::host()).unwrap();
        assert_eq!(host, serde_json::json!({"host": true}));
        let unknown = serde_json::to_value(WorkloadFacts::unclassified()).unwrap();
        assert_eq!(unknown, serde_json::json!({"container": {}}));
        let pod = WorkloadFacts {
            container: Some(ContainerFacts { id: Some("c1".into()), image: Some("i:1".into()) }),
            pod: Some(PodFacts {
                uid: "u".into(),
                namespace: Some("ns".into()),
                labels: Some(BTreeMap::from([("app".into(), "web".into())])),
            }),
            ..WorkloadFacts::default()
        };
        assert_eq!(
            serde_json::to_value(pod).unwrap(),
            serde_json::json!({"container": {"id": "c1", "image": "i:1"},
                               "pod": {"uid": "u", "namespace": "ns", "labels": {"app": "web"}}})
        );
    }
}
