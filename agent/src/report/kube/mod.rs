//! `palisade report kubernetes`: the exported stream as
//! `wgpolicyk8s.io/v1alpha2` PolicyReports, one per namespace, and a
//! ClusterPolicyReport for host processes, over a rolling window; one
//! instance per cluster (a Deployment, deploy/components/policy-reports).
//!
//! It receives the stream over HTTP: every agent adds a webhook sink
//! pointing at it ([`receiver`]). A cluster-wide Deployment cannot read the
//! nodes' files, and the webhook sink already spools, batches and retries,
//! so nothing is lost while this pod restarts. Files can be read too
//! (`--events`), to seed the window or, with `--once`, to write (or
//! `--print`) the reports of recorded files and exit.
//!
//! Every `--interval` the window is cut to `--window` before now and each
//! report is written through [`api`]; reports whose scope has no results
//! left are deleted. At start the reports Palisade wrote before are read
//! back ([`findings::Findings::restore`]), so a restart does not empty them.

pub mod api;
pub mod findings;
pub mod model;
mod receiver;

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex, atomic::Ordering},
    time::Duration,
};

use anyhow::{Context, bail};
use tracing::{info, warn};

use self::{
    api::{Api, ApiConfig, Written},
    findings::Findings,
    model::{PolicyReport, Scope},
    receiver::{Received, Receiver},
};
use crate::report::record::View;

#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// Keep `wgpolicyk8s.io/v1alpha2` PolicyReports (one per namespace) and
    /// a ClusterPolicyReport (host processes) current from the agents'
    /// exported records, over a rolling window. One per cluster. Each rule
    /// is a policy; a block or kill rule's match is `fail` (enforced or, in
    /// audit mode, would have blocked), an alert rule's `warn`, a match an
    /// exception suppressed `skip` naming the exception.
    Kubernetes(KubernetesArgs),
}

#[derive(Debug, clap::Args)]
pub struct KubernetesArgs {
    /// Receive records here: the agents' webhook sink
    /// (`--sink=webhook,url=http://ADDR/v1/records`) POSTs native NDJSON.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Exported files to read first (native JSON lines; `P` brings its
    /// rotated `P.1`, ...), or directories of them. May be repeated.
    #[arg(long = "events", value_name = "FILE|DIR")]
    pub events: Vec<PathBuf>,
    /// Results cover this long back (`24h`, `7d`, ...). With --once the
    /// window ends at the newest record read, otherwise now.
    #[arg(long, default_value = "24h", value_parser = crate::report::parse_span)]
    pub window: Duration,
    /// How often the reports are written.
    #[arg(long, default_value = "30s", value_parser = crate::report::parse_span)]
    pub interval: Duration,
    /// Write the reports of --events once and exit (reports Palisade wrote
    /// before for other scopes are deleted).
    #[arg(long, requires = "events", conflicts_with = "listen")]
    pub once: bool,
    /// With --once: print the reports (a JSON `List`) instead of writing them.
    #[arg(long, requires = "once")]
    pub print: bool,
    /// The API server, e.g. `https://10.0.0.1:6443`. Default: the one of the
    /// pod this runs in (KUBERNETES_SERVICE_HOST, the service account's
    /// token and CA).
    #[arg(long, value_name = "URL")]
    pub api_server: Option<String>,
    /// Bearer token for the API server (default with --api-server: none).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// CA certificates (PEM) that sign the API server's certificate.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Require `Authorization: Bearer <the file's content>` from senders
    /// (the webhook sink's `token_file`); re-read per request.
    #[arg(long, value_name = "FILE")]
    pub receiver_token_file: Option<PathBuf>,
    /// The name of every report written.
    #[arg(long, default_value = "palisade")]
    pub name: String,
    /// Most results per report (each a rule, a pod, an outcome); the most
    /// recently seen are kept.
    #[arg(long, default_value_t = 1000)]
    pub max_results: usize,
}

pub fn run(command: ReportCommand) -> anyhow::Result<()> {
    match command {
        ReportCommand::Kubernetes(args) => kubernetes(args),
    }
}

fn kubernetes(args: KubernetesArgs) -> anyhow::Result<()> {
    if !args.once && args.listen.is_none() {
        bail!("give --listen ADDR to receive the agents' records (or --once with --events)");
    }
    let mut findings = Findings::new(args.window);
    if !args.events.is_empty() {
        let counts = crate::forensics::load::visit(&args.events, |record| {
            if let Ok(view) = serde_json::from_value::<View>(record.value) {
                findings.add(&view, record.ns);
            }
        })
        .map_err(crate::report::ReportError::Load)?;
        info!(records = counts.records, files = counts.files.len(), "read exported records");
    }
    if args.once {
        let now = findings.newest().unwrap_or_else(crate::report::now_ns);
        findings.prune(now);
        let reports = findings.reports(&args.name, args.max_results);
        if args.print {
            let list = serde_json::json!({
                "apiVersion": "v1",
                "kind": "List",
                "items": reports.values().collect::<Vec<&PolicyReport>>(),
            });
            println!("{}", serde_json::to_string_pretty(&list)?);
            return Ok(());
        }
        let api = Api::new(api_config(&args)?)?;
        let mut known: BTreeSet<Scope> = api
            .list_managed()
            .context("listing the reports Palisade wrote")?
            .iter()
            .filter(|r| r.metadata.name == args.name)
            .filter_map(Scope::of)
            .collect();
        let failed = sync(&api, &reports, &mut known, &args.name);
        if failed > 0 {
            bail!("{failed} reports could not be written (see above)");
        }
        return Ok(());
    }
    serve(args, findings)
}

fn api_config(args: &KubernetesArgs) -> anyhow::Result<ApiConfig> {
    match &args.api_server {
        Some(url) => Ok(ApiConfig {
            url: url.clone(),
            token_file: args.token_file.clone(),
            ca_file: args.ca_file.clone(),
        }),
        None => {
            let mut config = ApiConfig::in_cluster().context(
                "not in a pod (no KUBERNETES_SERVICE_HOST): give --api-server, or --once --print",
            )?;
            if args.token_file.is_some() {
                config.token_file = args.token_file.clone();
            }
            if args.ca_file.is_some() {
                config.ca_file = args.ca_file.clone();
            }
            Ok(config)
        }
    }
}

/// Writes each report and deletes the known ones with no results left;
/// the number that failed.
fn sync(
    api: &Api,
    reports: &BTreeMap<Scope, PolicyReport>,
    known: &mut BTreeSet<Scope>,
    name: &str,
) -> usize {
    let mut failed = 0;
    for (scope, report) in reports {
        match api.write(scope, report) {
            Ok(written) => {
                known.insert(scope.clone());
                if written != Written::Unchanged {
                    let s = &report.summary;
                    info!(
                        report = %scope,
                        results = report.results.len(),
                        fail = s.fail,
                        warn = s.warn,
                        skip = s.skip,
                        "{}",
                        if written == Written::Created { "created" } else { "updated" }
                    );
                }
            }
            Err(err) => {
                failed += 1;
                warn!(report = %scope, "cannot write the report: {}", crate::errors::chain(&err));
            }
        }
    }
    let stale: Vec<Scope> = known.iter().filter(|s| !reports.contains_key(*s)).cloned().collect();
    for scope in stale {
        match api.delete(&scope, name) {
            Ok(()) => {
                info!(report = %scope, "deleted: no results left in the window");
                known.remove(&scope);
            }
            Err(err) => {
                failed += 1;
                warn!(report = %scope, "cannot delete the report: {}", crate::errors::chain(&err));
            }
        }
    }
    failed
}

fn serve(args: KubernetesArgs, mut findings: Findings) -> anyhow::Result<()> {
    let listen = args.listen.context("--listen is required")?;
    let api = Api::new(api_config(&args)?)?;
    let mut known = BTreeSet::new();
    match api.list_managed() {
        Ok(existing) => {
            for report in existing.iter().filter(|r| r.metadata.name == args.name) {
                findings.restore(report);
                known.extend(Scope::of(report));
            }
            info!(reports = known.len(), "read back the reports written before");
        }
        Err(err) => warn!(
            "cannot read back the reports written before (they are rewritten from what arrives): {}",
            crate::errors::chain(&err)
        ),
    }
    let findings = Arc::new(Mutex::new(findings));
    let received = Arc::new(Received::default());
    {
        let findings = Arc::clone(&findings);
        let received = Arc::clone(&received);
        let (interval, name, max) = (args.interval, args.name.clone(), args.max_results);
        std::thread::Builder::new().name("palisade-reports".into()).spawn(move || {
            loop {
                std::thread::sleep(interval);
                let reports = {
                    let mut f = findings.lock().unwrap_or_else(|e| e.into_inner());
                    f.prune(crate::report::now_ns());
                    f.reports(&name, max)
                };
                sync(&api, &reports, &mut known, &name);
                tracing::debug!(
                    batches = received.batches.load(Ordering::Relaxed),
                    records = received.records.load(Ordering::Relaxed),
                    ignored = received.ignored.load(Ordering::Relaxed),
                    refused = received.refused.load(Ordering::Relaxed),
                    "received so far"
                );
            }
        })?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        info!(%addr, window = ?args.window, interval = ?args.interval, "receiving records for PolicyReports");
        let receiver =
            Arc::new(Receiver { findings, token_file: args.receiver_token_file, received });
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            () = receiver::serve(listener, receiver) => {}
            _ = term.recv() => info!("terminating"),
            _ = tokio::signal::ctrl_c() => info!("interrupted"),
        }
        Ok(())
    })
}
