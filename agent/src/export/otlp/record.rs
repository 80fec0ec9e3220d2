//! One exported record as an OTLP LogRecord: the record itself (native or
//! OCSF JSON) as the body, and what a Collector routes and indexes on as
//! attributes named after OpenTelemetry's semantic conventions where one
//! exists (`process.*`, `container.*`, `k8s.*`, `network.*`,
//! `security_rule.*`), `palisade.*` otherwise. `log.record.uid` carries the
//! record's stable id: a receiver de-duplicates on it, since delivery is
//! at-least-once.

use opentelemetry_proto::tonic::logs::v1::SeverityNumber;

use super::{
    super::Outgoing,
    wire::{self, Any, Message},
};
use crate::{
    event::Event,
    export::filter::SEVERITIES,
    model::{
        bytes::{Bytes, text},
        time::parse_rfc3339_ns,
    },
    policy::decision::Decision,
};

/// Appends the LogRecord of `record`, whose exported form is `body`, to
/// `out`; its `log.record.uid` is `uid` when given (an OCSF Detection
/// Finding goes out beside its activity record, and is de-duplicated on its
/// own id), else the record's id.
pub fn encode(
    record: Outgoing<'_>,
    body: &[u8],
    uid: Option<&str>,
    observed_ns: u64,
    out: &mut Vec<u8>,
) {
    let time_ns = match record {
        Outgoing::Event(event) => Some(event.time.0),
        Outgoing::Audit(audit) => audit["time"].as_str().and_then(parse_rfc3339_ns),
    };
    let (severity_number, severity_text) = severity(record);
    let mut log = Message(out);
    log.fixed64(wire::TIME_UNIX_NANO, time_ns.and_then(|ns| u64::try_from(ns).ok()).unwrap_or(0));
    log.fixed64(wire::OBSERVED_TIME_UNIX_NANO, observed_ns);
    log.varint(wire::SEVERITY_NUMBER, severity_number as u64);
    log.string(wire::SEVERITY_TEXT, &[severity_text]);
    log.any(wire::BODY, &Any::Str(text(body)));
    let mut attributes = Attributes(log);
    match record {
        Outgoing::Event(event) => event_attributes(event, uid, &mut attributes),
        Outgoing::Audit(audit) => audit_attributes(audit, uid, &mut attributes),
    }
    let mut log = attributes.0;
    log.string(wire::EVENT_NAME, &["palisade.", record.kind()]);
}

/// Severity from the decision: the strongest matched rule's; INFO for an
/// exception's use; unspecified for plain activity.
fn severity(record: Outgoing<'_>) -> (SeverityNumber, &'static str) {
    let rule_severity = record.decision().and_then(crate::export::ocsf::highest_severity);
    match (record, rule_severity) {
        (_, Some(index)) => {
            let number = match SEVERITIES[usize::from(index)] {
                "low" => SeverityNumber::Warn,
                "medium" => SeverityNumber::Warn2,
                "high" => SeverityNumber::Error,
                _ => SeverityNumber::Fatal,
            };
            (number, SEVERITIES[usize::from(index)])
        }
        (Outgoing::Audit(a), None) if a["kind"] == crate::event::EXCEPTION_USED => {
            (SeverityNumber::Info, "info")
        }
        // Enforcement relaxed by hand (break-glass) or removed (unload).
        (Outgoing::Audit(_), None) => (SeverityNumber::Warn, "warn"),
        (Outgoing::Event(e), None)
            if e.decision.as_ref().is_some_and(|d| !d.matched.is_empty()) =>
        {
            (SeverityNumber::Warn, "")
        }
        (Outgoing::Event(_), None) => (SeverityNumber::Unspecified, ""),
    }
}

fn event_attributes(event: &Event, uid: Option<&str>, out: &mut Attributes<'_>) {
    out.str("log.record.uid", uid.unwrap_or(&event.id));
    out.str("palisade.event.kind", event.kind);
    let p = &event.process;
    out.int("process.pid", p.pid.into());
    out.int("process.parent_pid", p.ppid.into());
    out.int("process.user.id", p.uid.into());
    if !p.binary.0.is_empty() {
        out.bytes("process.executable.path", &p.binary);
        let name = p.binary.0.rsplit(|b| *b == b'/').next().unwrap_or_default();
        out.push("process.executable.name", Any::Str(text(name)));
    }
    if !p.args.is_empty() {
        let args = p.args.iter().map(|a| Any::Str(a.text())).collect();
        out.push("process.command_args", Any::Array(args));
    }
    if !p.cwd.0.is_empty() {
        out.bytes("process.working_directory", &p.cwd);
    }
    if let Some(container) = &event.container {
        out.str("container.id", &container.id);
        out.str("container.runtime.name", container.runtime);
        if let Some(name) = &container.name {
            out.str("container.name", name);
        }
        if let Some(image) = &container.image {
            out.str("container.image.name", image);
        }
    }
    if let Some(pod) = &event.pod {
        out.str("k8s.pod.uid", &pod.uid);
        if let Some(name) = &pod.name {
            out.str("k8s.pod.name", name);
        }
        if let Some(namespace) = &pod.namespace {
            out.str("k8s.namespace.name", namespace);
        }
        out.str("k8s.node.name", &event.node);
    }
    if let Some(net) = &event.network {
        out.str("network.type", net.family);
        out.str("network.transport", &net.protocol);
        out.str("palisade.network.direction", net.direction);
        if net.direction != "listen" {
            out.str("network.peer.address", &net.daddr.to_string());
            out.int("network.peer.port", net.dport.into());
        }
        if let Some(saddr) = &net.saddr {
            out.str("network.local.address", &saddr.to_string());
        }
        if let Some(sport) = net.sport {
            out.int("network.local.port", sport.into());
        }
    }
    if let Some(decision) = &event.decision {
        decision_attributes(decision, out);
    }
}

/// The matched rules: the strongest one as `security_rule.*` (one rule per
/// record in the conventions), every one in `palisade.rule.ids`.
fn decision_attributes(decision: &Decision, out: &mut Attributes<'_>) {
    out.str("palisade.decision.action", decision.action.as_str());
    if let Some(mode) = decision.mode {
        out.str("palisade.decision.mode", mode.as_str());
    }
    if let Some(would_block) = decision.would_block {
        out.push("palisade.decision.would_block", Any::Bool(would_block));
    }
    if let Some(bundle) = &decision.bundle {
        out.str("security_rule.version", bundle);
    }
    let strongest = decision.matched.iter().max_by_key(|m| m.action);
    if let Some(rule) = strongest {
        out.str("security_rule.uuid", &rule.rule);
        out.str("security_rule.name", rule.title.as_deref().unwrap_or(&rule.rule));
        if let Some(mitre) = &rule.mitre {
            out.str("security_rule.category", mitre);
        }
        out.str("security_rule.ruleset.name", "palisade");
    }
    if !decision.matched.is_empty() {
        let ids = decision.matched.iter().map(|m| Any::Str(m.rule.as_str().into())).collect();
        out.push("palisade.rule.ids", Any::Array(ids));
    }
}

fn audit_attributes(audit: &serde_json::Value, uid: Option<&str>, out: &mut Attributes<'_>) {
    for (key, value) in [
        ("log.record.uid", uid.or(audit["id"].as_str())),
        ("palisade.event.kind", audit["kind"].as_str()),
        ("palisade.event.uid", audit["event_id"].as_str()),
        ("palisade.exception.id", audit["exception"]["exception"].as_str()),
        ("security_rule.uuid", audit["exception"]["rule"].as_str()),
        ("process.executable.path", audit["process"]["binary"].as_str()),
        ("palisade.break_glass.phase", audit["phase"].as_str()),
        ("palisade.break_glass.by", audit["order"]["by"].as_str()),
    ] {
        if let Some(value) = value {
            out.str(key, value);
        }
    }
    if let Some(pid) = audit["process"]["pid"].as_i64() {
        out.int("process.pid", pid);
    }
    // A connection_ended record: the workload whose socket it was, the
    // connection and the rule that ended it.
    for (key, value) in [
        ("container.id", &audit["container"]["id"]),
        ("container.name", &audit["container"]["name"]),
        ("k8s.pod.uid", &audit["pod"]["uid"]),
        ("k8s.pod.name", &audit["pod"]["name"]),
        ("k8s.namespace.name", &audit["pod"]["namespace"]),
        ("network.type", &audit["network"]["family"]),
        ("network.transport", &audit["network"]["protocol"]),
        ("network.peer.address", &audit["network"]["daddr"]),
        ("network.local.address", &audit["network"]["saddr"]),
        ("security_rule.uuid", &audit["rule"]),
        ("palisade.connection.outcome", &audit["outcome"]),
    ] {
        if let Some(value) = value.as_str() {
            out.str(key, value);
        }
    }
    for (key, value) in [
        ("network.peer.port", &audit["network"]["dport"]),
        ("network.local.port", &audit["network"]["sport"]),
    ] {
        if let Some(port) = value.as_i64() {
            out.int(key, port);
        }
    }
}

/// A LogRecord's attributes, written as they come.
struct Attributes<'o>(Message<'o>);

impl Attributes<'_> {
    fn push(&mut self, key: &str, value: Any<'_>) {
        self.0.key_value(wire::ATTRIBUTES, key, &value);
    }
    fn str(&mut self, key: &str, value: &str) {
        self.push(key, Any::Str(value.into()));
    }
    fn bytes(&mut self, key: &str, value: &Bytes) {
        self.push(key, Any::Str(value.text()));
    }
    fn int(&mut self, key: &str, value: i64) {
        self.push(key, Any::Int(value));
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::{
        common::v1::{AnyValue, any_value::Value},
        logs::v1::LogRecord,
    };
    use prost::Message as _;

    use super::*;
    use crate::{
        container::{Container, Pod},
        event::Network,
        policy::decision::{Action, Match, Mode},
    };

    fn attribute<'r>(record: &'r LogRecord, key: &str) -> Option<&'r Value> {
        record.attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?.value.as_ref()
    }

    /// The LogRecord of `record`, decoded as the generated type.
    fn log_record(
        record: Outgoing<'_>,
        body: &[u8],
        uid: Option<&str>,
        observed: u64,
    ) -> LogRecord {
        let mut out = Vec::new();
        encode(record, body, uid, observed, &mut out);
        LogRecord::decode(&out[..]).unwrap()
    }

    fn text(value: String) -> AnyValue {
        AnyValue { value: Some(Value::StringValue(value)) }
    }

    fn string(value: &str) -> Option<Value> {
        Some(Value::StringValue(value.into()))
    }

    #[test]
    fn an_alert_in_a_pod_carries_the_conventions_attributes_and_its_severity() {
        let mut event = crate::test_support::event("network_connect");
        event.process.pid = 42;
        event.process.binary = Bytes(b"/usr/bin/curl".to_vec());
        event.process.args = vec![Bytes(b"curl".to_vec()), Bytes(b"http://x".to_vec())];
        event.container = Some(Container {
            id: "c0ffee".into(),
            runtime: "containerd",
            name: Some("web".into()),
            image: Some("nginx:1.27".into()),
            cgroup: String::new(),
            started_ns: None,
        });
        event.pod = Some(Pod {
            uid: "uid-1".into(),
            name: Some("web-0".into()),
            namespace: Some("payments".into()),
            labels: None,
            labels_available: false,
        });
        event.network = Some(Network {
            family: "ipv4",
            protocol: "tcp".into(),
            direction: "outbound",
            daddr: [169, 254, 169, 254].into(),
            dport: 80,
            saddr: Some([10, 0, 0, 2].into()),
            sport: Some(40000),
            hook: "connect",
            result: None,
            repeats: None,
        });
        let rule = |id: &str, action, severity: &str| Match {
            action,
            message: "m".into(),
            mitre: Some("T1552.005".into()),
            mode: Mode::Enforce,
            rule: id.into(),
            severity: Some(severity.into()),
            title: Some(format!("title of {id}")),
        };
        event.decision = Some(Decision {
            action: Action::Block,
            matched: vec![
                rule("PAL-1", Action::Alert, "medium"),
                rule("PAL-2", Action::Block, "high"),
            ],
            ..Decision::default()
        });
        let log = log_record(Outgoing::Event(&event), b"{\"id\":\"test-1\"}", None, 7);
        assert_eq!(log.time_unix_nano, 1_796_292_000_000_000_001);
        assert_eq!(log.observed_time_unix_nano, 7);
        assert_eq!(log.severity_number, SeverityNumber::Error as i32);
        assert_eq!(log.severity_text, "high");
        assert_eq!(log.event_name, "palisade.network_connect");
        assert_eq!(log.body, Some(text("{\"id\":\"test-1\"}".into())));
        for (key, value) in [
            ("log.record.uid", "test-1"),
            ("process.executable.path", "/usr/bin/curl"),
            ("process.executable.name", "curl"),
            ("container.id", "c0ffee"),
            ("container.image.name", "nginx:1.27"),
            ("k8s.pod.name", "web-0"),
            ("k8s.pod.uid", "uid-1"),
            ("k8s.namespace.name", "payments"),
            ("k8s.node.name", "node-1"),
            ("network.peer.address", "169.254.169.254"),
            ("network.transport", "tcp"),
            ("security_rule.uuid", "PAL-2"),
            ("security_rule.name", "title of PAL-2"),
            ("security_rule.category", "T1552.005"),
            ("palisade.decision.action", "block"),
        ] {
            assert_eq!(attribute(&log, key).cloned(), string(value), "{key}");
        }
        assert_eq!(attribute(&log, "process.pid"), Some(&Value::IntValue(42)));
        assert_eq!(attribute(&log, "network.peer.port"), Some(&Value::IntValue(80)));
        let Some(Value::ArrayValue(args)) = attribute(&log, "process.command_args") else {
            panic!("no args")
        };
        assert_eq!(args.values, [text("curl".into()), text("http://x".into())]);
    }

    /// An OCSF Detection Finding goes out beside its activity record under
    /// its own id.
    #[test]
    fn a_record_can_take_its_own_id() {
        let event = crate::test_support::event("process_exec");
        let log = log_record(Outgoing::Event(&event), b"{}", None, 1);
        assert_eq!(attribute(&log, "log.record.uid").cloned(), string("test-1"));
        let log = log_record(Outgoing::Event(&event), b"{}", Some("test-1-finding"), 1);
        assert_eq!(attribute(&log, "log.record.uid").cloned(), string("test-1-finding"));
    }

    #[test]
    fn an_ended_connection_carries_its_workload_connection_and_rule() {
        let audit = serde_json::json!({
            "id": "n-ended-1-0", "time": "2026-12-04T10:00:00Z", "kind": "connection_ended",
            "container": {"id": "c1", "runtime": "containerd", "name": "app", "cgroup": "/x"},
            "pod": {"uid": "u1", "name": "web-0", "namespace": "payments", "labels_available": false},
            "network": {"family": "ipv4", "protocol": "tcp", "direction": "outbound",
                        "daddr": "10.0.0.9", "dport": 443, "saddr": "10.0.0.1", "sport": 40000,
                        "hook": "sock_diag"},
            "rule": "T-1", "outcome": "ended",
        });
        let log = log_record(Outgoing::Audit(&audit), b"{}", None, 1);
        for (key, want) in [
            ("log.record.uid", "n-ended-1-0"),
            ("container.id", "c1"),
            ("k8s.namespace.name", "payments"),
            ("network.peer.address", "10.0.0.9"),
            ("security_rule.uuid", "T-1"),
            ("palisade.connection.outcome", "ended"),
        ] {
            assert_eq!(attribute(&log, key).cloned(), string(want), "{key}");
        }
        assert_eq!(attribute(&log, "network.peer.port"), Some(&Value::IntValue(443)));
    }

    #[test]
    fn plain_activity_on_the_host_has_no_severity_and_no_workload_attributes() {
        let event = crate::test_support::event("process_exec");
        let log = log_record(Outgoing::Event(&event), b"{}", None, 0);
        assert_eq!(log.severity_number, SeverityNumber::Unspecified as i32);
        assert_eq!(log.severity_text, "");
        for key in ["container.id", "k8s.pod.name", "k8s.node.name", "security_rule.uuid"] {
            assert_eq!(attribute(&log, key), None, "{key}");
        }
    }
}
