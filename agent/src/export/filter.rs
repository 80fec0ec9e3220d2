//! Which records a sink takes: terms joined by `|`, any of which admits a
//! record. `all` (the default), `alerts` (a rule matched), `suppressed` (an
//! exception suppressed a match), a record kind (`process_exec`,
//! `exception_used`, ...), or `severity>=LEVEL` (an alert whose most severe
//! matched rule is at least LEVEL).

use palisade_common::kind;

use crate::policy::decision::Decision;

/// What a filter looks at, taken from the record once.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub kind: &'a str,
    /// A policy rule matched (in any mode), or a kernel hook acted.
    pub alert: bool,
    /// An exception suppressed a match.
    pub suppressed: bool,
    /// Highest severity among the matched rules, as an index of
    /// [`SEVERITIES`]; `None` when nothing matched.
    pub severity: Option<u8>,
    /// The record's decision, for the formats that map it (OCSF).
    pub decision: Option<&'a Decision>,
}

pub const SEVERITIES: [&str; 4] = ["low", "medium", "high", "critical"];

/// Record kinds a filter may name: the exported ones.
const KINDS: [&str; 16] = [
    kind::name(kind::EXEC),
    kind::name(kind::EXIT),
    kind::name(kind::NET_CONNECT),
    kind::name(kind::NET_LISTEN),
    kind::name(kind::NET_ACCEPT),
    kind::name(kind::FILE_OPEN),
    kind::name(kind::FILE_UNLINK),
    kind::name(kind::FILE_RENAME),
    kind::name(kind::FILE_CHMOD),
    kind::name(kind::NET_SOCKET),
    crate::event::EXCEPTION_USED,
    crate::event::BREAK_GLASS,
    crate::event::UNLOAD,
    crate::event::POLICY_CHANGE,
    crate::event::TAMPER,
    crate::event::CONNECTION_ENDED,
];

#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Empty: every record.
    terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq)]
enum Term {
    All,
    Alerts,
    Suppressed,
    Kind(&'static str),
    MinSeverity(u8),
}

impl Filter {
    pub fn parse(text: &str) -> Result<Self, String> {
        let terms = text
            .split('|')
            .map(|term| {
                let term = term.trim();
                if let Some(level) = term.strip_prefix("severity>=") {
                    return SEVERITIES
                        .iter()
                        .position(|s| *s == level)
                        .map(|i| Term::MinSeverity(i as u8))
                        .ok_or_else(|| format!("unknown severity `{level}` (one of {SEVERITIES:?})"));
                }
                match term {
                    "all" => Ok(Term::All),
                    "alerts" => Ok(Term::Alerts),
                    "suppressed" => Ok(Term::Suppressed),
                    kind => KINDS.iter().find(|k| **k == kind).map(|k| Term::Kind(k)).ok_or_else(
                        || {
                            format!(
                                "unknown filter term `{kind}` (all, alerts, suppressed, severity>=LEVEL or a kind: {KINDS:?})"
                            )
                        },
                    ),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { terms })
    }

    pub fn admits(&self, facts: &Facts) -> bool {
        self.terms.is_empty()
            || self.terms.iter().any(|term| match term {
                Term::All => true,
                Term::Alerts => facts.alert,
                Term::Suppressed => facts.suppressed,
                Term::Kind(k) => *k == facts.kind,
                Term::MinSeverity(min) => facts.alert && facts.severity.is_some_and(|s| s >= *min),
            })
    }
}

/// The severity index of `name`, if it is one.
pub fn severity_index(name: &str) -> Option<u8> {
    SEVERITIES.iter().position(|s| *s == name).map(|i| i as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXEC: Facts = Facts {
        kind: "process_exec",
        alert: false,
        suppressed: false,
        severity: None,
        decision: None,
    };
    const HIGH: Facts = Facts { alert: true, severity: Some(2), ..EXEC };
    const SUPPRESSED: Facts = Facts { suppressed: true, ..EXEC };
    const AUDIT: Facts = Facts { kind: "exception_used", ..EXEC };

    #[test]
    fn terms_admit_what_they_name() {
        let all = Filter::default();
        assert!(all.admits(&EXEC) && all.admits(&HIGH));
        let alerts = Filter::parse("alerts|exception_used").unwrap();
        assert!(!alerts.admits(&EXEC) && alerts.admits(&HIGH) && alerts.admits(&AUDIT));
        let critical = Filter::parse("severity>=critical").unwrap();
        assert!(!critical.admits(&HIGH));
        assert!(Filter::parse("severity>=medium").unwrap().admits(&HIGH));
        assert!(Filter::parse("severity>=urgent").unwrap_err().contains("urgent"));
        let decisions = Filter::parse("alerts|suppressed").unwrap();
        assert!(
            decisions.admits(&SUPPRESSED) && decisions.admits(&HIGH) && !decisions.admits(&EXEC)
        );
    }
}
