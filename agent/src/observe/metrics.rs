//! The Prometheus text exposition (format 0.0.4) of the agent's counters.
//! Names follow Prometheus conventions: `palisade_` prefix, `_total`
//! counters, seconds for durations.

use std::{
    fmt::Write,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
};

use palisade_common::{enforce::WORKLOAD_MAP_ENTRIES, kind};

use crate::{
    export::SinkStats,
    stats::{Histogram, LATENCY_BUCKETS, Stats},
};

/// Renders every metric.
pub fn render(stats: &Stats, enforcement_in_force: bool) -> String {
    let mut out = String::new();
    family(&mut out, "palisade_records_total", "counter", "Kernel records decoded, by kind.");
    for k in 1..kind::COUNT {
        let n = stats.records[k as usize].load(Relaxed);
        let _ = writeln!(out, "palisade_records_total{{kind=\"{}\"}} {n}", kind::name(k));
    }
    family(
        &mut out,
        "palisade_kernel_drops_total",
        "counter",
        "Records the kernel could not deliver (ring buffer full, failed kernel read), by kind.",
    );
    for k in 1..kind::COUNT {
        let n = stats.kernel_drops[k as usize].load(Relaxed);
        let _ = writeln!(out, "palisade_kernel_drops_total{{kind=\"{}\"}} {n}", kind::name(k));
    }
    let simple = [
        ("palisade_events_written_total", "Events written to the output.", &stats.events_written),
        (
            "palisade_redacted_values_total",
            "Secrets in arguments replaced by a marker before records left the agent.",
            &stats.redacted_values,
        ),
        (
            "palisade_decode_errors_total",
            "Kernel records that failed to decode.",
            &stats.decode_errors,
        ),
        (
            "palisade_policy_evaluation_errors_total",
            "Policy evaluations that failed (errors, limits).",
            &stats.eval_errors,
        ),
        (
            "palisade_exceptions_used_total",
            "Matches suppressed by an exception.",
            &stats.exceptions_used,
        ),
        (
            "palisade_exceptions_expired_total",
            "Exceptions seen to expire.",
            &stats.exceptions_expired,
        ),
        (
            "palisade_policy_load_failures_total",
            "New policy bundles rejected (unreadable, invalid, or a failed signature).",
            &stats.policy_load_failures,
        ),
        (
            "palisade_policy_signature_failures_total",
            "New policy bundles rejected because their signature did not hold (with a verification key).",
            &stats.policy_signature_failures,
        ),
    ];
    for (name, help, counter) in simple {
        family(&mut out, name, "counter", help);
        let _ = writeln!(out, "{name} {}", counter.load(Relaxed));
    }
    family(
        &mut out,
        "palisade_decisions_total",
        "counter",
        "Rules matched by decisions, by rule id and the decision's action.",
    );
    if let Ok(map) = stats.rule_decisions.lock() {
        for ((rule, action), n) in map.iter() {
            let _ = writeln!(
                out,
                "palisade_decisions_total{{rule=\"{}\",action=\"{}\"}} {n}",
                escape(rule),
                escape(action)
            );
        }
    }
    rule_outcomes(&mut out, stats);
    family(
        &mut out,
        "palisade_break_glass_total",
        "counter",
        "Break-glass orders seen to start, end (expire) or be revoked.",
    );
    for (phase, n) in crate::stats::BREAK_GLASS_PHASES.iter().zip(&stats.break_glass) {
        let _ =
            writeln!(out, "palisade_break_glass_total{{phase=\"{phase}\"}} {}", n.load(Relaxed));
    }
    family(
        &mut out,
        "palisade_tampered_entries_total",
        "counter",
        "Enforcement map entries (and the active generation) another process changed, found and put back.",
    );
    let _ =
        writeln!(out, "palisade_tampered_entries_total {}", stats.tampered_entries.load(Relaxed));
    family(
        &mut out,
        "palisade_connections_ended_total",
        "counter",
        "Connections open before a rule set that denies their destination, ended when it came into force.",
    );
    let _ =
        writeln!(out, "palisade_connections_ended_total {}", stats.connections_ended.load(Relaxed));
    exceptions(&mut out, stats);
    family(
        &mut out,
        "palisade_policy_bundle_info",
        "gauge",
        "The policy bundle in force, by digest and manifest revision (empty when none).",
    );
    if let (Ok(digest), Ok(revision)) = (stats.bundle_digest.lock(), stats.bundle_revision.lock()) {
        let _ = writeln!(
            out,
            "palisade_policy_bundle_info{{digest=\"{}\",revision=\"{}\"}} 1",
            escape(&digest),
            escape(&revision)
        );
    }
    family(
        &mut out,
        "palisade_enforcement_in_force",
        "gauge",
        "1 when the enforcing programs are attached and pinned.",
    );
    let _ = writeln!(out, "palisade_enforcement_in_force {}", u8::from(enforcement_in_force));
    family(
        &mut out,
        "palisade_policy_evaluation_seconds",
        "histogram",
        "Time to evaluate the policy for one event.",
    );
    histogram(&mut out, "palisade_policy_evaluation_seconds", &stats.eval_latency);
    for (name, help, value) in [
        (
            "palisade_kernel_workloads",
            "Cgroups registered in the kernel's workload map (capacity: palisade_kernel_workloads_capacity).",
            &stats.workloads_tracked,
        ),
        (
            "palisade_kernel_workload_profiles",
            "Distinct kernel rule profiles in force.",
            &stats.workload_profiles,
        ),
    ] {
        family(&mut out, name, "gauge", help);
        let _ = writeln!(out, "{name} {}", value.load(Relaxed));
    }
    family(
        &mut out,
        "palisade_kernel_workloads_capacity",
        "gauge",
        "Cgroups the kernel's workload map holds.",
    );
    let _ = writeln!(out, "palisade_kernel_workloads_capacity {WORKLOAD_MAP_ENTRIES}");
    family(
        &mut out,
        "palisade_kernel_workloads_unplaced_total",
        "counter",
        "Workloads that could not be placed in the kernel (they keep the hooks' fallback: no exception's carve-out).",
    );
    let unplaced = stats.workloads_unplaced.load(Relaxed);
    let _ = writeln!(out, "palisade_kernel_workloads_unplaced_total {unplaced}");
    family(
        &mut out,
        "palisade_kernel_workload_classification_seconds",
        "histogram",
        "From a cgroup's creation to its profile in the kernel.",
    );
    histogram(
        &mut out,
        "palisade_kernel_workload_classification_seconds",
        &stats.workload_classification,
    );
    if let Some(sinks) = stats.sinks.get() {
        export(&mut out, sinks);
    }
    out
}

/// Per rule: what its matches came to.
fn rule_outcomes(out: &mut String, stats: &Stats) {
    family(
        out,
        "palisade_rule_outcomes_total",
        "counter",
        "Matches by rule, the rule's action and mode, and what came of them: denied, killed, exited (gone before the kill), failed, reported (a block nothing here enforces), would_block (audit mode), alerted, suppressed (by an exception).",
    );
    let Ok(map) = stats.rule_outcomes.lock() else { return };
    for (o, n) in map.iter() {
        let _ = writeln!(
            out,
            "palisade_rule_outcomes_total{{rule=\"{}\",action=\"{}\",mode=\"{}\",outcome=\"{}\"}} {n}",
            escape(&o.rule),
            o.action,
            o.mode,
            o.outcome
        );
    }
}

/// Per exception: its uses by rule, and the seconds left before it expires.
fn exceptions(out: &mut String, stats: &Stats) {
    family(
        out,
        "palisade_exception_uses_total",
        "counter",
        "Matches an exception suppressed, by exception id and rule.",
    );
    if let Ok(map) = stats.exception_uses.lock() {
        for ((exception, rule), n) in map.iter() {
            let _ = writeln!(
                out,
                "palisade_exception_uses_total{{exception=\"{}\",rule=\"{}\"}} {n}",
                escape(exception),
                escape(rule)
            );
        }
    }
    family(
        out,
        "palisade_exception_expiry_seconds",
        "gauge",
        "Seconds until each exception of the bundle in force expires (negative once expired).",
    );
    let now = i128::from(crate::model::time::now_ns());
    if let Ok(list) = stats.exceptions.lock() {
        for (id, owner, expires_ns) in list.iter() {
            let _ = writeln!(
                out,
                "palisade_exception_expiry_seconds{{exception=\"{}\",owner=\"{}\"}} {}",
                escape(id),
                escape(owner),
                (expires_ns - now) / 1_000_000_000
            );
        }
    }
}

/// Per sink: what became of the records, and the spool's depth.
fn export(out: &mut String, sinks: &[Arc<SinkStats>]) {
    family(
        out,
        "palisade_export_records_total",
        "counter",
        "Records by sink and result: written (to stdout, the file, or the spool), failed (a write failed), delivered and rejected (by a webhook's or OTLP collector's receiver; rejected includes the records an OTLP partial success refused), dropped (a full spool, or torn by a crash).",
    );
    for sink in sinks {
        let results = [
            ("written", &sink.written),
            ("failed", &sink.failed),
            ("delivered", &sink.delivered),
            ("rejected", &sink.rejected),
            ("dropped", &sink.dropped),
        ];
        for (result, counter) in results {
            let _ = writeln!(
                out,
                "palisade_export_records_total{{sink=\"{}\",kind=\"{}\",result=\"{result}\"}} {}",
                escape(&sink.name),
                sink.kind,
                counter.load(Relaxed)
            );
        }
    }
    let per_sink = [
        (
            "palisade_export_send_failures_total",
            "counter",
            "Webhook and OTLP requests that failed and will be retried.",
            (|s: &SinkStats| &s.send_failures) as fn(&SinkStats) -> &AtomicU64,
        ),
        (
            "palisade_export_spool_records",
            "gauge",
            "Records waiting in a webhook's or OTLP sink's spool.",
            |s: &SinkStats| &s.spool_records,
        ),
        (
            "palisade_export_spool_bytes",
            "gauge",
            "Bytes of a webhook's or OTLP sink's spool: on disk, and (spill_after) waiting in memory.",
            |s: &SinkStats| &s.spool_bytes,
        ),
    ];
    for (name, kind, help, value) in per_sink {
        family(out, name, kind, help);
        for sink in sinks.iter().filter(|s| matches!(s.kind, "webhook" | "otlp")) {
            let _ = writeln!(
                out,
                "{name}{{sink=\"{}\"}} {}",
                escape(&sink.name),
                value(sink).load(Relaxed)
            );
        }
    }
}

/// The `# HELP` and `# TYPE` lines of a metric family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The bucket, sum and count lines of a histogram (its family line first).
fn histogram(out: &mut String, name: &str, h: &Histogram) {
    let mut cumulative = 0;
    for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
        cumulative += h.buckets[i].load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    cumulative += h.buckets[LATENCY_BUCKETS.len()].load(Relaxed);
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
    let sum = h.sum_ns.load(Relaxed) as f64 / 1e9;
    let _ = writeln!(out, "{name}_sum {sum}");
    let _ = writeln!(out, "{name}_count {cumulative}");
}
