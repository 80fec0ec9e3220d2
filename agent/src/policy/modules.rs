//! The bundle's Rego modules, preprocessed: each one's package and, for
//! the per-event programs, its text with the `kernel` rules blanked out.

use regorus::Engine;
// The syntax tree, to find the `kernel` rules (regorus calls it unstable).
use regorus::unstable::{Rule, RuleHead};

use super::{
    PolicyError,
    bundle::Bundle,
    engine::{TIME_LIMIT, add_module, limited_engine},
};

pub(super) const RULES_PACKAGE: &str = "palisade.rules.";

pub(super) struct Module<'a> {
    pub(super) path: &'a str,
    pub(super) text: &'a str,
    pub(super) package: String,
    /// Line of the module's first `kernel` rule, if it has one.
    pub(super) kernel_line: Option<usize>,
    /// What the per-event programs compile: `text` with the `kernel` rules
    /// blanked out (lines kept). `kernel` is read once, at load, and the
    /// RVM would otherwise build it again for every event, as it evaluates
    /// every rule of a package that main.rego reaches by a variable.
    pub(super) judged: String,
}

pub(super) fn parse_modules(bundle: &Bundle) -> Result<Vec<Module<'_>>, PolicyError> {
    let mut modules = Vec::new();
    for file in &bundle.modules {
        let mut engine = limited_engine(TIME_LIMIT);
        add_module(&mut engine, &file.path, &file.text)?;
        let package = engine
            .get_packages()
            .ok()
            .and_then(|p| p.into_iter().next())
            .and_then(|p| p.strip_prefix("data.").map(str::to_string))
            .ok_or_else(|| {
                PolicyError::invalid(format!("{}:1", file.path), "no package declaration")
            })?;
        let kernel = kernel_rule_spans(&mut engine, &file.text);
        let kernel_line = kernel.first().map(|k| k.2);
        let mut judged = file.text.clone();
        for &(start, end, _) in &kernel {
            blank(&mut judged, start..end);
        }
        modules.push(Module { path: &file.path, text: &file.text, package, kernel_line, judged });
    }
    Ok(modules)
}

/// (start, end, line) of each rule defining `kernel` in the one module
/// loaded in `engine`, from regorus's syntax tree.
fn kernel_rule_spans(engine: &mut Engine, text: &str) -> Vec<(usize, usize, usize)> {
    let mut spans = Vec::new();
    for module in engine.get_modules() {
        for rule in &module.policy {
            let name = match rule.as_ref() {
                Rule::Spec { head, .. } => match head {
                    RuleHead::Compr { refr, .. }
                    | RuleHead::Set { refr, .. }
                    | RuleHead::Func { refr, .. } => refr.span().text(),
                },
                Rule::Default { refr, .. } => refr.span().text(),
            };
            let rest = name.strip_prefix("kernel");
            if !rest.is_some_and(|r| r.is_empty() || r.starts_with(['.', '['])) {
                continue;
            }
            let span = rule.span();
            let (start, end) = (span.start as usize, span.end as usize);
            // Only a span that is exactly this text's rule is trusted.
            if text.get(start..end) == Some(span.text()) {
                spans.push((start, end, span.line as usize));
            }
        }
    }
    spans
}

/// Replaces `range` of `text` by spaces, keeping newlines (so lines and
/// byte offsets stay where they were).
fn blank(text: &mut String, range: std::ops::Range<usize>) {
    let blanked: String = text[range.clone()]
        .chars()
        .map(|c| if c == '\n' { "\n".to_string() } else { " ".repeat(c.len_utf8()) })
        .collect();
    text.replace_range(range, &blanked);
}
