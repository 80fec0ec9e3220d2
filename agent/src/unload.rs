//! `palisade unload`: the one lever that turns all enforcement off on a
//! node. Before it acts it writes an `unload` record (who, why, where) to
//! the sinks given, as the agent would, so the act is in the forensic
//! stream even though no agent may be running to report it.

use std::path::PathBuf;

use crate::{
    enrich,
    event::{Clock, SCHEMA, UNLOAD},
    export::{self, Exporter, SinkSpec},
    redact::Redactor,
};

#[derive(Debug, clap::Args)]
pub struct UnloadArgs {
    /// Where the record goes, as `palisade run --sink` (repeat for several;
    /// a webhook or OTLP sink waits up to 5 s for delivery, then leaves the
    /// record in its spool for the next agent). Default: stdout.
    #[arg(long = "sink", value_name = "SPEC", value_parser = export::spec::parse)]
    sinks: Vec<SinkSpec>,
    /// Who is unloading, for the record.
    #[arg(long, value_name = "WHO", env = "SUDO_USER")]
    by: Option<String>,
    /// Why, for the record.
    #[arg(long)]
    reason: Option<String>,
    /// The cluster's name, as `palisade run --cluster`.
    #[arg(long, value_name = "NAME", env = "PALISADE_CLUSTER")]
    cluster: Option<String>,
}

pub fn run(args: UnloadArgs) -> anyhow::Result<()> {
    crate::kernel::loader::require_root()?;
    let mut origin = enrich::detect_origin();
    origin.cluster = args.cluster.filter(|c| !c.is_empty()).map(|c| &*c.leak());
    let mut specs = args.sinks;
    if specs.is_empty() {
        specs.push(export::spec::parse("stdout")?);
    }
    export::spec::name_uniquely(&mut specs)?;
    let mut out = Exporter::start(&specs, &origin, Redactor::new(&[], &[], true)?)?;
    let now = Clock::monotonic_now_ns();
    let mut record = serde_json::json!({
        "schema": SCHEMA,
        "id": format!("{}-unload-{now:x}", origin.node),
        "time": origin.clock.rfc3339(now),
        "node": origin.node,
        "kind": UNLOAD,
        "by": args.by.unwrap_or_else(|| "unknown".into()),
        "reason": args.reason.unwrap_or_default(),
        "pins": PathBuf::from(crate::kernel::pins::PIN_DIR),
    });
    if let Some(cluster) = origin.cluster {
        record["cluster"] = cluster.into();
    }
    out.export_audit(&record);
    out.stop();
    crate::kernel::cli::unload()
}
