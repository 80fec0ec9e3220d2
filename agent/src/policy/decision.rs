//! The decision for one event, as typed data.
//!
//! The bundle's Rego computes it (see policies/main.rego); the evaluator
//! reads its result into a [`Decision`] once, and everything after (the
//! judge, the CLI, export, forensics) reads fields, so a misspelt key is a
//! compile error rather than a silent `null`. Fields outside this shape are
//! not carried.
//!
//! The JSON is the one the agent has always written, which
//! schema/event.schema.json describes and OPA parity compares: fields are
//! declared in alphabetical order (the order the untyped form printed
//! them in), and a field a decision never had stays absent.

use serde::{Deserialize, Serialize};

use super::enforce::Enforcement;

/// What a decision asks for, weakest first: the strongest wins.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Allow,
    Alert,
    Block,
    Kill,
}

impl Action {
    /// Every action, weakest first.
    pub const ALL: [Action; 4] = [Action::Allow, Action::Alert, Action::Block, Action::Kill];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Alert => "alert",
            Action::Block => "block",
            Action::Kill => "kill",
        }
    }

    /// The action called `name` (a rule's `meta.action`).
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// Whether a rule (or the bundle) acts or only reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Audit,
    Enforce,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Audit => "audit",
            Mode::Enforce => "enforce",
        }
    }

    /// The mode config `mode` sets: `audit` unless it says `enforce`, as
    /// main.rego reads it.
    pub fn of_config(mode: &str) -> Self {
        if mode == "enforce" { Mode::Enforce } else { Mode::Audit }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub action: Action,
    /// Who is acting (`data.palisade.actor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Short digest of the bundle that decided (added by the agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    /// The revision of the bundle that decided, from its manifest (added
    /// by the agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// What the agent or a kernel hook did about it (added by the agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforcement: Option<Enforcement>,
    /// Why the evaluation failed; the rest is then the fail mode's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The rules that matched and no exception suppressed.
    #[serde(default)]
    pub matched: Vec<Match>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// The exceptions used. Absent (as `would_block`) from the decision of
    /// a failed evaluation; read it with [`Decision::suppressed`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<Vec<Suppressed>>,
    /// A matched rule in audit mode would have blocked or killed; read it
    /// with [`Decision::would_block`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub would_block: Option<bool>,
}

impl Decision {
    /// The decision main.rego gives when nothing matches (less the actor),
    /// for an event no Rego judged.
    pub fn nothing_matched(mode: Mode) -> Self {
        Self {
            mode: Some(mode),
            suppressed: Some(Vec::new()),
            would_block: Some(false),
            ..Self::default()
        }
    }

    pub fn suppressed(&self) -> &[Suppressed] {
        self.suppressed.as_deref().unwrap_or_default()
    }

    pub fn would_block(&self) -> bool {
        self.would_block == Some(true)
    }
}

/// One matched rule. `title`, `severity` and `mitre` come from the rule's
/// `meta`; a bundle may leave them out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Match {
    /// The rule's action, whatever its mode.
    pub action: Action,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mitre: Option<String>,
    pub mode: Mode,
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// One use of an exception: it suppressed `rule` for this event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suppressed {
    pub exception: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub rule: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read and written back, a decision is the same bytes: the baseline's
    /// shape, and a bundle's leaner one (no actor, matches without meta,
    /// suppressions with the owner only).
    #[test]
    fn decisions_read_and_write_the_same_json() {
        for text in [
            r#"{"action":"alert","actor":"workload","matched":[{"action":"block","message":"nc executed","mitre":"T1095","mode":"audit","rule":"PAL-001","severity":"high","title":"Netcat"}],"mode":"audit","suppressed":[{"exception":"EX-1","expires":"2027-03-31T00:00:00Z","owner":"team","reason":"probe","rule":"PAL-005"}],"would_block":true}"#,
            r#"{"action":"allow","matched":[],"mode":"enforce","suppressed":[{"exception":"EX-1","owner":"sec-team","rule":"T-001"}],"would_block":false}"#,
            r#"{"action":"kill","bundle":"39e23de0c564","enforcement":{"mechanism":"pidfd-sigkill","result":"exited"},"matched":[{"action":"kill","message":"m","mode":"enforce","rule":"T-001"}],"mode":"enforce","suppressed":[],"would_block":false}"#,
            r#"{"action":"block","bundle":"39e23de0c564","enforcement":{"detail":"d","mechanism":"none","result":"reported"},"error":"e","matched":[],"mode":"audit"}"#,
        ] {
            let decision: Decision = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_string(&decision).unwrap(), text);
        }
        let d: Decision = serde_json::from_str(r#"{"action":"alert","matched":[]}"#).unwrap();
        assert_eq!((d.suppressed(), d.would_block()), (&[][..], false));
        assert!(serde_json::from_str::<Decision>(r#"{"action":"maybe"}"#).is_err());
        assert!(serde_json::from_str::<Decision>(r#"{"matched":[]}"#).is_err());
    }

    #[test]
    fn nothing_matched_is_what_main_rego_says_less_the_actor() {
        assert_eq!(
            serde_json::to_string(&Decision::nothing_matched(Mode::Audit)).unwrap(),
            r#"{"action":"allow","matched":[],"mode":"audit","suppressed":[],"would_block":false}"#
        );
    }

    /// One order of strength: the baseline's Rego (main.rego's `levels`,
    /// which its `action` follows) orders the actions as `Action` does.
    #[test]
    fn actions_order_as_the_baselines_rego_does() {
        use crate::policy::{
            bundle::Bundle,
            engine::{TIME_LIMIT, add_module, limited_engine},
        };
        let bundle = Bundle::embedded();
        let mut engine = limited_engine(TIME_LIMIT);
        for m in &bundle.modules {
            add_module(&mut engine, &m.path, &m.text).unwrap();
        }
        engine.add_data(regorus::Value::from(bundle.data.clone())).unwrap();
        let levels = engine.eval_rule("data.palisade.main.levels".to_string()).unwrap();
        let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(serde_json::to_value(&levels).unwrap(), serde_json::json!(names));
    }

    #[test]
    fn actions_order_by_strength_and_keep_their_names() {
        assert!(Action::Allow < Action::Alert && Action::Alert < Action::Block);
        assert!(Action::Block < Action::Kill);
        for (i, a) in Action::ALL.into_iter().enumerate() {
            assert_eq!(a as usize, i, "Stats::decisions is indexed by the discriminant");
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
            assert_eq!(Action::named(a.as_str()), Some(a));
        }
        assert_eq!(Action::named("quarantine"), None);
        assert_eq!(
            (Mode::of_config("enforce"), Mode::of_config("audit")),
            (Mode::Enforce, Mode::Audit)
        );
    }
}
