//! The friction report as text, for a terminal.

use std::fmt::Write;

use super::friction::{Count, ExceptionStatus, Report};

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_report(&mut out, r);
    out
}

fn list(counts: &[Count]) -> String {
    counts.iter().map(|c| format!("{} ({})", c.name, c.count)).collect::<Vec<_>>().join(", ")
}

fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

fn write_report(out: &mut String, r: &Report) -> std::fmt::Result {
    let i = &r.input;
    writeln!(
        out,
        "Policy report for {} (digest {}, mode {}; {} rules, {} exceptions), made {}",
        r.bundle.origin,
        r.bundle.digest,
        r.bundle.mode,
        r.bundle.rules,
        r.bundle.exceptions,
        r.generated
    )?;
    writeln!(
        out,
        "{} records from {} files ({} with a decision; {} outside the window, {} lines skipped, {} duplicates, {} unreadable), {} to {}",
        i.records,
        i.files.len(),
        i.decided,
        i.outside_window,
        i.skipped,
        i.duplicates,
        i.unreadable,
        r.window.first.as_deref().unwrap_or("-"),
        r.window.last.as_deref().unwrap_or("-"),
    )?;
    if r.window.since.is_some() || r.window.until.is_some() {
        writeln!(
            out,
            "window: since {} until {}",
            r.window.since.as_deref().unwrap_or("the first record"),
            r.window.until.as_deref().unwrap_or("the last record")
        )?;
    }
    if i.eval_errors > 0 {
        writeln!(out, "{} decisions are a failed evaluation's (fail mode)", i.eval_errors)?;
    }
    if i.bundles_seen.len() > 1 || i.bundles_seen.first().is_some_and(|b| b.name != r.bundle.digest)
    {
        writeln!(out, "decided by bundles: {}", list(&i.bundles_seen))?;
    }

    writeln!(out, "\nRules that fired ({}):", r.rules.len())?;
    writeln!(
        out,
        "  {:<12} {:>8} {:>8} {:>9} {:>11} {:>7} {:>10} {:>9}  title",
        "rule",
        "matches",
        "enforced",
        "unenforced",
        "would_block",
        "alerts",
        "suppressed",
        "workloads"
    )?;
    for rule in &r.rules {
        let c = &rule.counts;
        writeln!(
            out,
            "  {:<12} {:>8} {:>8} {:>9} {:>11} {:>7} {:>10} {:>9}  {}{}",
            rule.rule,
            c.matches,
            c.enforced,
            c.not_enforced,
            c.would_block,
            c.alerts,
            c.suppressed,
            rule.workloads,
            rule.title.as_deref().unwrap_or(""),
            if rule.in_bundle { "" } else { " (not in this bundle)" }
        )?;
        let workloads: Vec<String> =
            rule.top_workloads.iter().map(|w| format!("{} ({})", w.workload, w.count)).collect();
        writeln!(out, "      workloads: {}", workloads.join(", "))?;
        writeln!(out, "      actors: {}", list(&rule.actors))?;
        if !rule.exceptions.is_empty() {
            writeln!(out, "      exceptions: {}", list(&rule.exceptions))?;
        }
        writeln!(out, "      binaries: {}", list(&rule.binaries))?;
        if !rule.commands.is_empty() {
            writeln!(out, "      commands: {}", list(&rule.commands))?;
        }
    }
    let t = &r.totals;
    writeln!(
        out,
        "  {:<12} {:>8} {:>8} {:>9} {:>11} {:>7} {:>10}",
        "total", t.matches, t.enforced, t.not_enforced, t.would_block, t.alerts, t.suppressed
    )?;

    writeln!(out, "\nRules that never fired ({}):", r.never_fired.len())?;
    for rule in &r.never_fired {
        writeln!(
            out,
            "  {:<12} {:<8} {:<6} {}",
            rule.rule, rule.severity, rule.action, rule.title
        )?;
    }

    writeln!(
        out,
        "\nMostly suppressed, candidates for rewriting ({}):",
        r.mostly_suppressed.len()
    )?;
    for c in &r.mostly_suppressed {
        writeln!(
            out,
            "  {:<12} {} of {} hits suppressed ({}) by {}",
            c.rule,
            c.suppressed,
            c.hits,
            percent(c.share),
            list(&c.exceptions)
        )?;
    }

    writeln!(out, "\nExceptions ({}):", r.exceptions.len())?;
    for e in &r.exceptions {
        let when = match e.status {
            ExceptionStatus::Expired => format!("EXPIRED {:.1} days ago", -e.days_left),
            ExceptionStatus::Expiring => format!("expires in {:.1} days", e.days_left),
            ExceptionStatus::Active => format!("{:.0} days left", e.days_left),
        };
        writeln!(
            out,
            "  {:<28} uses {:>6}  {} ({})  owner {}  rules {}",
            e.id,
            e.uses,
            e.expires,
            when,
            e.owner,
            e.rules.join(",")
        )?;
    }
    let days = r.expiring_within_seconds as f64 / 86_400.0;
    writeln!(out, "  never used: {}", none_or(&r.exceptions_never_used))?;
    writeln!(
        out,
        "  expired or expiring within {days:.0} days: {}",
        none_or(&r.exceptions_expiring)
    )?;
    if !r.unknown_exceptions.is_empty() {
        writeln!(out, "  used but not in this bundle: {}", list(&r.unknown_exceptions))?;
    }
    if !r.break_glass_uses.is_empty() {
        writeln!(out, "  break-glass overrides used: {}", list(&r.break_glass_uses))?;
    }

    writeln!(out, "\nFriction by namespace:")?;
    writeln!(
        out,
        "  {:<24} {:>8} {:>8} {:>9} {:>11} {:>7} {:>10}  rules",
        "namespace", "matches", "enforced", "unenforced", "would_block", "alerts", "suppressed"
    )?;
    for n in &r.namespaces {
        let c = &n.counts;
        writeln!(
            out,
            "  {:<24} {:>8} {:>8} {:>9} {:>11} {:>7} {:>10}  {}",
            n.namespace,
            c.matches,
            c.enforced,
            c.not_enforced,
            c.would_block,
            c.alerts,
            c.suppressed,
            list(&n.rules)
        )?;
    }
    Ok(())
}

fn none_or(ids: &[String]) -> String {
    if ids.is_empty() { "none".into() } else { ids.join(", ") }
}
