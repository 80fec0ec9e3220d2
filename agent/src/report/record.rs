//! The part of a native record (schema/event.schema.json) the reports read,
//! as types: who and where (process, container, pod, node), the decision,
//! and for `exception_used` audit records the exception and the event it
//! was used on. Fields outside this shape are not read.

use serde::Deserialize;

use crate::policy::{
    decision::{Action, Decision, Mode, Suppressed},
    enforce::Effect,
};

#[derive(Debug, Clone, Deserialize)]
pub struct View {
    pub id: String,
    pub kind: String,
    #[serde(default)]
    pub node: String,
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default)]
    pub process: Option<Process>,
    #[serde(default)]
    pub container: Option<Container>,
    #[serde(default)]
    pub pod: Option<Pod>,
    /// A decision the agent did not write (it does not parse) is read as
    /// none, as `palisade events` does.
    #[serde(default, deserialize_with = "lenient")]
    pub decision: Option<Decision>,
    /// `exception_used`: the event whose match the exception suppressed.
    #[serde(default)]
    pub event_id: Option<String>,
    /// `exception_used`: the exception and the rule.
    #[serde(default, deserialize_with = "lenient")]
    pub exception: Option<Suppressed>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Process {
    #[serde(default)]
    pub binary: Text,
    #[serde(default)]
    pub args: Vec<Text>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Container {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Pod {
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
}

/// A byte string as the schema writes it (a string, or `{base64, text}`
/// when it is not UTF-8), read as its text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Plain(String),
            Marked { text: String },
        }
        Ok(Text(match Form::deserialize(d)? {
            Form::Plain(s) | Form::Marked { text: s } => s,
        }))
    }
}

/// One line of the stream: a native record (its `schema` is Palisade's)
/// with its time in ns, or None.
pub fn parse_line(line: &[u8]) -> Option<(i128, View)> {
    #[derive(Deserialize)]
    struct Head<'a> {
        #[serde(borrow)]
        schema: std::borrow::Cow<'a, str>,
        #[serde(borrow)]
        time: std::borrow::Cow<'a, str>,
    }
    let head: Head = serde_json::from_slice(line).ok()?;
    if !head.schema.starts_with("palisade.event/") {
        return None;
    }
    let ns = crate::model::time::parse_rfc3339_ns(&head.time)?;
    Some((ns, serde_json::from_slice(line).ok()?))
}

fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

/// The workload an event came from: the pod's namespace and the container's
/// image; neither for a host process.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Workload {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.namespace, &self.image) {
            (None, None) => f.write_str("host"),
            (Some(ns), Some(image)) => write!(f, "{ns}/{image}"),
            (Some(ns), None) => write!(f, "{ns}/?"),
            (None, Some(image)) => write!(f, "(no pod)/{image}"),
        }
    }
}

impl View {
    pub fn workload(&self) -> Workload {
        Workload {
            namespace: self.pod.as_ref().and_then(|p| p.namespace.clone()),
            image: self.container.as_ref().and_then(|c| c.image.clone()),
        }
    }

    /// Where friction is counted: the pod's namespace; `(no pod)` for a
    /// container outside Kubernetes; `(host)` for a host process.
    pub fn namespace_label(&self) -> String {
        match (&self.pod, &self.container) {
            (Some(Pod { namespace: Some(ns), .. }), _) => ns.clone(),
            (_, Some(_)) => "(no pod)".into(),
            _ => "(host)".into(),
        }
    }

    pub fn binary(&self) -> &str {
        self.process.as_ref().map_or("", |p| p.binary.0.as_str())
    }

    /// The command line, shortened to `max` characters.
    pub fn command(&self, max: usize) -> String {
        let args = self.process.as_ref().map(|p| &p.args[..]).unwrap_or_default();
        let line = args.iter().map(|a| a.0.as_str()).collect::<Vec<_>>().join(" ");
        if line.chars().count() <= max {
            return line;
        }
        let mut short: String = line.chars().take(max.saturating_sub(1)).collect();
        short.push('…');
        short
    }
}

/// How one matched rule of a decision ended: exactly one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Enforce mode, block or kill, and the agent or a kernel hook denied
    /// or killed.
    Enforced,
    /// Enforce mode, block or kill, and nothing could act (the decision
    /// says `reported`, `exited` or `failed`).
    NotEnforced,
    /// Audit mode, block or kill: reported only.
    WouldBlock,
    /// An alert-only rule.
    Alert,
}

impl Ending {
    pub fn of(decision: &Decision, mode: Mode, action: Action) -> Self {
        let blocking = matches!(action, Action::Block | Action::Kill);
        match (mode, blocking) {
            (Mode::Enforce, true) => {
                let acted = decision
                    .enforcement
                    .as_ref()
                    .is_some_and(|e| matches!(e.result, Effect::Denied | Effect::Killed));
                if acted { Ending::Enforced } else { Ending::NotEnforced }
            }
            (Mode::Audit, true) => Ending::WouldBlock,
            _ => Ending::Alert,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Enforced => "enforced",
            Ending::NotEnforced => "not_enforced",
            Ending::WouldBlock => "would_block",
            Ending::Alert => "alert",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_byte_strings_and_ignores_a_foreign_decision() {
        let v: View = serde_json::from_str(
            r#"{"schema":"palisade.event/v1","id":"e1","time":"2026-01-01T00:00:00Z","node":"n","kind":"process_exec",
                "process":{"pid":7,"binary":{"base64":"eP95","text":"x�y"},"args":["a","b"]},
                "decision":{"verdict":"something else"}}"#,
        )
        .unwrap();
        assert_eq!(v.binary(), "x�y");
        assert_eq!(v.command(80), "a b");
        assert_eq!(v.command(2), "a…");
        assert!(v.decision.is_none());
        assert_eq!(v.workload().to_string(), "host");
        assert_eq!(v.namespace_label(), "(host)");
    }
}
