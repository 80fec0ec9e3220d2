//! What a bundle must say, checked before anything is compiled: each
//! rule's `meta`, the config, the exceptions, and each rule's `kernel`
//! section read with the bundle's data. Every failure names `file:line`.

use regorus::{Engine, Value};

use super::{
    PolicyError,
    bundle::Bundle,
    decision::Action,
    kernel_plan,
    meta::{ExceptionInfo, RuleMeta},
    modules::{Module, RULES_PACKAGE},
    one_line,
    triggers::Triggers,
};
use crate::model::time::parse_rfc3339_ns;

const SEVERITIES: &[&str] = &["low", "medium", "high", "critical"];
const MODES: &[&str] = &["audit", "enforce"];
const RULE_MODES: &[&str] = &["audit", "enforce", "off"];

/// The bundle's own list of its malformed exceptions.
const INVALID_EXCEPTIONS: &str = "data.palisade.main.invalid_exceptions";
/// The guardrails on exceptions (policies/lib/exceptions.rego), when the
/// bundle's main.rego exposes them.
const EXCEPTION_VIOLATIONS: &str = "data.palisade.main.exception_violations";
const EXCEPTION_WARNINGS: &str = "data.palisade.main.exception_warnings";

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).map_or(1, |i| i + 1)
}

pub(super) fn read_rule_metas(
    all: &mut Engine,
    modules: &[Module<'_>],
) -> Result<Vec<RuleMeta>, PolicyError> {
    let mut rules: Vec<RuleMeta> = Vec::new();
    for m in modules.iter().filter(|m| m.package.starts_with(RULES_PACKAGE)) {
        let at = format!("{}:{}", m.path, line_of(m.text, "meta"));
        let meta = all.eval_rule(format!("data.{}.meta", m.package)).map_err(|e| {
            PolicyError::invalid(&at, format!("cannot evaluate `meta`: {}", one_line(&e)))
        })?;
        let meta: serde_json::Value = serde_json::to_value(&meta).unwrap_or_default();
        if !meta.is_object() {
            return Err(PolicyError::invalid(
                format!("{}:1", m.path),
                format!(
                    "rule module `{}` must define `meta` (an object with id, title, severity, mitre, action, kinds)",
                    m.package
                ),
            ));
        }
        let field = |name: &str| -> Result<String, PolicyError> {
            meta.get(name)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or_else(|| {
                    PolicyError::invalid(&at, format!("`meta.{name}` must be a non-empty string"))
                })
        };
        let rule = RuleMeta {
            id: field("id")?,
            title: field("title")?,
            severity: field("severity")?,
            mitre: field("mitre")?,
            action: field("action")?,
            kinds: meta
                .get("kinds")
                .and_then(|k| k.as_array())
                .map(|k| {
                    k.iter().filter_map(|v| v.as_str().map(str::to_string)).collect::<Vec<_>>()
                })
                .filter(|k: &Vec<String>| !k.is_empty())
                .ok_or_else(|| {
                    PolicyError::invalid(
                        &at,
                        "`meta.kinds` must be a non-empty array of event kinds",
                    )
                })?,
            package: format!("data.{}", m.package),
            file: m.path.to_string(),
            triggers: Triggers::parse(&meta, &at)?,
            as_written: meta.clone(),
        };
        if !SEVERITIES.contains(&rule.severity.as_str()) {
            return Err(PolicyError::invalid(
                &at,
                format!("unknown severity `{}` (one of {SEVERITIES:?})", rule.severity),
            ));
        }
        if Action::named(&rule.action).is_none_or(|a| a == Action::Allow) {
            let actions: Vec<&str> = Action::ALL[1..].iter().map(|a| a.as_str()).collect();
            return Err(PolicyError::invalid(
                &at,
                format!("unknown action `{}` (one of {actions:?})", rule.action),
            ));
        }
        if !is_mitre_id(&rule.mitre) {
            return Err(PolicyError::invalid(
                &at,
                format!(
                    "`{}` is not a MITRE ATT&CK technique id like T1059 or T1059.004",
                    rule.mitre
                ),
            ));
        }
        if let Some(first) = rules.iter().find(|r| r.id == rule.id) {
            return Err(PolicyError::invalid(
                &at,
                format!("duplicate rule id `{}`: already used by {}", rule.id, first.file),
            ));
        }
        rules.push(rule);
    }
    Ok(rules)
}

/// Each rule module's `kernel`, evaluated with the bundle's data (it must
/// not depend on `input`). A module without one is judged in userspace only.
pub(super) fn read_kernel_sections<'a>(
    all: &mut Engine,
    modules: &[Module<'_>],
    rules: &'a [RuleMeta],
) -> Result<Vec<kernel_plan::Section<'a>>, PolicyError> {
    let mut sections = Vec::new();
    for m in modules.iter().filter(|m| m.package.starts_with(RULES_PACKAGE)) {
        let package = format!("data.{}", m.package);
        let Some(meta) = rules.iter().find(|r| r.package == package) else {
            continue;
        };
        let Some(line) = m.kernel_line else {
            sections.push(kernel_plan::Section {
                meta,
                kernel: None,
                undefined: false,
                at: format!("{}:1", m.path),
            });
            continue;
        };
        let at = format!("{}:{line}", m.path);
        let value = all.eval_rule(format!("{package}.kernel")).map_err(|e| {
            PolicyError::invalid(&at, format!("cannot evaluate `kernel`: {}", one_line(&e)))
        })?;
        let kernel = match value {
            Value::Undefined => None,
            value => Some(serde_json::to_value(&value).map_err(|e| {
                PolicyError::invalid(&at, format!("`kernel` is not plain data: {e}"))
            })?),
        };
        let undefined = kernel.is_none();
        sections.push(kernel_plan::Section { meta, kernel, undefined, at });
    }
    Ok(sections)
}

fn is_mitre_id(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('T') else {
        return false;
    };
    let (main, sub) = rest.split_once('.').unwrap_or((rest, ""));
    main.len() == 4
        && main.bytes().all(|b| b.is_ascii_digit())
        && (sub.is_empty() || (sub.len() == 3 && sub.bytes().all(|b| b.is_ascii_digit())))
}

pub(super) fn check_config(bundle: &Bundle, rules: &[RuleMeta]) -> Result<String, PolicyError> {
    let config = &bundle.data["palisade"]["config"];
    let at = |needle: &str| bundle.locate(needle).unwrap_or_else(|| bundle.origin.clone());
    let mode = config["mode"].as_str().unwrap_or_default();
    if !MODES.contains(&mode) {
        let at = bundle.locate_data(&["palisade", "config", "mode"]);
        return Err(PolicyError::invalid(
            at.unwrap_or_else(|| bundle.origin.clone()),
            format!("`palisade.config.mode` must be one of {MODES:?}, not {}", config["mode"]),
        ));
    }
    if let Some(modes) = config.get("rule_modes").and_then(|m| m.as_object()) {
        for (id, value) in modes {
            if !rules.iter().any(|r| &r.id == id) {
                return Err(PolicyError::invalid(
                    at(id),
                    format!("`rule_modes` names unknown rule `{id}`"),
                ));
            }
            if !value.as_str().is_some_and(|v| RULE_MODES.contains(&v)) {
                return Err(PolicyError::invalid(
                    at(id),
                    format!("rule mode for `{id}` must be one of {RULE_MODES:?}, not {value}"),
                ));
            }
        }
    }
    Ok(mode.to_string())
}

/// The exceptions, read into what the agent keeps of them. Whether each is
/// well formed is the bundle's own Rego's to say
/// (`data.palisade.main.invalid_exceptions`, policies/lib/exceptions.rego):
/// the first problem rejects the bundle. Checked here only what Rego cannot
/// see per event: that the rules an exception covers exist, and that ids
/// are unique. Then the owners' guardrails (`exception_violations`, the
/// first rejects the bundle too); returns the exceptions and the guardrails'
/// warnings.
pub(super) fn check_exceptions(
    bundle: &Bundle,
    rules: &[RuleMeta],
    all: &mut Engine,
    modules: &[Module<'_>],
) -> Result<(Vec<ExceptionInfo>, Vec<String>), PolicyError> {
    let Some(list) = bundle.data["palisade"].get("exceptions") else {
        return Ok(Default::default());
    };
    let at = |needle: &str| bundle.locate(needle).unwrap_or_else(|| bundle.origin.clone());
    let list = list.as_array().ok_or_else(|| {
        PolicyError::invalid(at("exceptions"), "`palisade.exceptions` must be an array")
    })?;
    if list.is_empty() {
        return Ok(Default::default());
    }
    if let Some(problem) = invalid_exceptions(all, modules)?.into_iter().next() {
        let (loc, name) = match problem.id.as_str() {
            "" => (at("exceptions"), format!("#{}", problem.index + 1)),
            id => (at(&format!("\"{id}\"")), format!("`{id}`")),
        };
        return Err(PolicyError::invalid(loc, format!("exception {name} {}", problem.problem)));
    }
    let mut out: Vec<ExceptionInfo> = Vec::new();
    for e in list {
        // Well formed, as the Rego just said: these are all present.
        let text = |name: &str| e[name].as_str().map(str::trim).unwrap_or_default().to_string();
        let id = e["id"].as_str().unwrap_or_default().to_string();
        let expires = text("expires");
        let loc = at(&format!("\"{id}\""));
        let expires_ns = parse_rfc3339_ns(&expires).ok_or_else(|| {
            PolicyError::invalid(
                &loc,
                format!("exception `{id}`: expires `{expires}` is not an RFC 3339 time"),
            )
        })?;
        let mut covers = Vec::new();
        for r in e["rules"].as_array().into_iter().flatten() {
            match r.as_str().filter(|r| rules.iter().any(|known| known.id == *r)) {
                Some(r) => covers.push(r.to_string()),
                None => {
                    return Err(PolicyError::invalid(
                        &loc,
                        format!("exception `{id}` covers unknown rule {r}"),
                    ));
                }
            }
        }
        if out.iter().any(|x| x.id == id) {
            return Err(PolicyError::invalid(&loc, format!("duplicate exception id `{id}`")));
        }
        out.push(ExceptionInfo {
            owner: text("owner"),
            id,
            expires,
            expires_ns,
            rules: covers,
            scope: e["scope"].clone(),
            reason: text("reason"),
            break_glass: e["break_glass"] == true,
        });
    }
    let name = |index: usize, id: &str| match id {
        "" => (at("exceptions"), format!("#{}", index + 1)),
        id => (at(&format!("\"{id}\"")), format!("`{id}`")),
    };
    if let Some(v) = exception_notes(all, EXCEPTION_VIOLATIONS).into_iter().next() {
        let (loc, name) = name(v.index, &v.id);
        return Err(PolicyError::invalid(loc, format!("exception {name} {}", v.text)));
    }
    let warnings = exception_notes(all, EXCEPTION_WARNINGS)
        .into_iter()
        .map(|w| {
            let (loc, name) = name(w.index, &w.id);
            format!("{loc}: exception {name} {}", w.text)
        })
        .collect();
    Ok((out, warnings))
}

/// One entry of `exception_violations` (`problem`) or
/// `exception_warnings` (`warning`).
#[derive(Debug, serde::Deserialize)]
struct Note {
    index: usize,
    id: String,
    #[serde(alias = "problem", alias = "warning")]
    text: String,
}

/// The entries of the set `rule`, sorted by exception; none when the
/// bundle does not define it (guardrails are the baseline's, optional for
/// other bundles).
fn exception_notes(all: &mut Engine, rule: &str) -> Vec<Note> {
    let Ok(value) = all.eval_rule(rule.to_string()) else { return Vec::new() };
    let value = serde_json::to_value(&value).unwrap_or_default();
    let mut notes: Vec<Note> = serde_json::from_value(value).unwrap_or_default();
    notes.sort_by_key(|n| n.index);
    notes
}

/// One problem `data.palisade.main.invalid_exceptions` reports.
#[derive(Debug, serde::Deserialize)]
struct InvalidException {
    index: usize,
    id: String,
    problem: String,
}

/// The bundle's own verdict on its exceptions, by index; main.rego must
/// define it when the bundle has exceptions.
fn invalid_exceptions(
    all: &mut Engine,
    modules: &[Module<'_>],
) -> Result<Vec<InvalidException>, PolicyError> {
    let main =
        (modules.iter().find(|m| m.package == "palisade.main")).map_or("main.rego", |m| m.path);
    let must_define = |what: String| {
        PolicyError::invalid(
            main,
            format!(
                "{what}: the bundle has exceptions, so main.rego must define `invalid_exceptions`, the set of {{index, id, problem}} of the malformed ones (see the baseline's lib/exceptions.rego)"
            ),
        )
    };
    let value = all.eval_rule(INVALID_EXCEPTIONS.to_string()).map_err(|e| {
        must_define(format!("cannot evaluate {INVALID_EXCEPTIONS} ({})", one_line(&e)))
    })?;
    let value = serde_json::to_value(&value).unwrap_or_default();
    let mut problems: Vec<InvalidException> = serde_json::from_value(value.clone())
        .map_err(|_| must_define(format!("{INVALID_EXCEPTIONS} is {value}")))?;
    problems.sort_by_key(|p| p.index);
    Ok(problems)
}
