//! `palisade run`: the agent's pipeline.
//!
//! kernel → ring buffer → reader task (drains only) → bounded channel →
//! processing thread ([`crate::pipeline`]: decode, process table, container
//! and pod, the policy's trigger test) → policy workers, for events that
//! trigger a rule (Rego, kill) → back in order → sinks.
//! Beside it: the drop watcher, the policy reloader, and the kernel-rules
//! keeper, which writes each bundle's kernel part into the enforcement maps
//! before the judge sees the bundle, and places every workload the
//! processing thread describes on its kernel profile (`workloads`).

use std::{
    path::{Path, PathBuf},
    sync::{Arc, atomic::Ordering::Relaxed},
    time::Duration,
};

use tokio::{signal::unix::SignalKind, sync::mpsc};
use tracing::{info, warn};

use crate::{
    container::{self, ContainerResolver, DEFAULT_STATE_DIRS},
    enrich,
    errors::chain,
    event::{Clock, Origin},
    export::{self, Exporter, SinkSpec},
    kernel::{files::FileWatch, loader, rules::Applied},
    observe,
    pipeline::{Judges, Pipeline, Workloads},
    policy::{
        compiled::Policy,
        decision::Mode,
        judge::{FailMode, Judge},
        load,
        pool::JudgePool,
        reload::{self, Location, Source},
    },
    process::table::ProcessTable,
    redact::Redactor,
    sensor::{drops, reader},
    stats::Stats,
    workloads::{
        WorkloadUpdate,
        feed::{self, Feed},
        keeper::Keeper,
        sever,
    },
};

/// Messages (batches of records, ticks) buffered between the reader and the
/// processing thread.
const CHANNEL_BATCHES: usize = 64;
/// How often the kernel rules are rebuilt to re-arm the workloads whose
/// exceptions expired and to follow denied binaries replaced on disk
/// (written only when something changed).
const KERNEL_RULES_REFRESH: Duration = Duration::from_secs(2);

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Size of the kernel-to-agent ring buffer in KiB: a power of two, at
    /// least 4. A bigger one absorbs longer bursts before the kernel drops
    /// (and counts) records.
    #[arg(
        long,
        default_value_t = palisade_common::names::EVENTS_RING_BYTES / 1024,
        value_parser = parse_ring_kib
    )]
    ring_buffer_kib: u32,

    /// Policy bundle: a directory (Rego modules, data, tests), an OPA
    /// bundle tarball (`.tar.gz`, e.g. from `palisade policy build`), the
    /// `http(s)://` URL of one on a bundle server, or an
    /// `oci://REGISTRY/REPOSITORY[:TAG|@DIGEST]` reference to one in an OCI
    /// registry. A path is re-read every second and on SIGHUP; a server or
    /// registry is polled (see --policy-poll-seconds) and on SIGHUP. A bad new bundle is rejected
    /// and the previous one stays. Default: the baseline bundle embedded in
    /// the binary.
    #[arg(long, value_name = "DIR|TARBALL|URL|oci://REF")]
    policy: Option<String>,

    #[command(flatten)]
    server: crate::policy::server::ServerArgs,

    #[command(flatten)]
    verify: Box<crate::policy::cli::VerifyArgs>,

    /// Replace the bundle's global mode (`audit` or `enforce`) for this
    /// agent, e.g. to enforce the embedded baseline without copying it.
    /// Per-rule modes in the bundle stay as written. Logged at start.
    #[arg(long, value_name = "MODE", value_parser = parse_mode)]
    mode: Option<Mode>,

    /// Where break-glass orders (`palisade break-glass`) are read: a
    /// directory on the node, or a ConfigMap mounted on every node.
    #[arg(long, value_name = "DIR", default_value = crate::policy::break_glass::DEFAULT_DIR)]
    break_glass_dir: PathBuf,

    /// What a failed policy evaluation (an error, or a limit hit) does to the
    /// event: `open` lets it through, `closed` treats it as a `kill` match.
    #[arg(long, value_enum, default_value_t = FailMode::Open)]
    fail_mode: FailMode,

    /// Threads that run the policy's Rego for events that trigger a rule,
    /// each with its own compiled engine; events still leave in order. 0
    /// runs it on the thread that reads events. Default: half the CPUs, 1
    /// to 4.
    #[arg(long, value_name = "N", default_value_t = default_policy_workers())]
    policy_workers: usize,

    /// A container runtime's state directory (runc-style `<dir>/<id>/state.json`,
    /// or crun's `<dir>/<id>/status`), read for the pod and container names
    /// in the OCI annotations. Repeat for several; replaces the defaults:
    /// /run/containerd/runc/k8s.io, /run/containerd/runc/moby,
    /// /run/docker/runtime-runc/moby, /run/runc, /run/crun.
    #[arg(long = "runtime-state-dir", value_name = "DIR")]
    runtime_state_dirs: Vec<PathBuf>,

    /// Serve Prometheus metrics on /metrics, liveness on /healthz and
    /// readiness on /readyz at this address (e.g. 0.0.0.0:9090). Off when
    /// not given.
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,

    /// Where records go; repeat for several. `stdout`, `file,path=P`
    /// (options `max_size=64MiB`, `keep=5`), `webhook,url=U` (options
    /// `spool_dir=DIR`, `spool_max=256MiB`, `batch=500`, `ca_file=PEM`,
    /// `token_file=F`, `timeout=SECS`); every kind also takes `format=native|ocsf`,
    /// `filter=TERM|TERM...` (all, alerts, severity>=high, a kind) and
    /// `name=N`. Default: `stdout`.
    #[arg(long = "sink", value_name = "SPEC", value_parser = export::spec::parse)]
    sinks: Vec<SinkSpec>,

    /// The cluster's name, written on every record (`cluster`, and
    /// `k8s.cluster.name` in OTLP).
    #[arg(long, value_name = "NAME", env = "PALISADE_CLUSTER")]
    cluster: Option<String>,

    /// Redact what this regular expression's first group (or whole match)
    /// captures in any argument, before records leave the agent; repeat for
    /// several. Added to the built-in patterns (`--password=`,
    /// `*_SECRET*=`, URL credentials, bearer tokens).
    #[arg(long = "redact", value_name = "REGEX")]
    redact: Vec<String>,

    /// Redact the argument after one matching this regular expression
    /// (`--password hunter2`); repeat for several. Added to the built-in
    /// ones (`--password`, `--token`, `-u`, ...).
    #[arg(long = "redact-after", value_name = "REGEX")]
    redact_after: Vec<String>,

    /// Use only the `--redact`/`--redact-after` patterns given.
    #[arg(long)]
    no_default_redactions: bool,

    /// The Kubernetes API server to read pod labels from (this node's pods:
    /// $NODE_NAME, else the host name). Default: the in-cluster server when
    /// KUBERNETES_SERVICE_HOST is set, with the pod's service-account token
    /// and CA; `none` turns it off.
    #[arg(long, value_name = "URL")]
    kube_api: Option<String>,

    /// Bearer token file for --kube-api.
    #[arg(long, value_name = "FILE", requires = "kube_api")]
    kube_token_file: Option<PathBuf>,

    /// CA certificate (PEM) of --kube-api's server.
    #[arg(long, value_name = "FILE", requires = "kube_api")]
    kube_ca_file: Option<PathBuf>,

    /// The node's root directory, under which the policy's executable paths
    /// are resolved for kernel rules. Default: `/`. In a container (the
    /// DaemonSet) use `/proc/1/root` with host PID.
    #[arg(long, value_name = "DIR", env = "PALISADE_HOST_ROOT")]
    host_root: Option<PathBuf>,
}

/// Where `--policy` says the bundle is.
fn bundle_location(args: &RunArgs) -> anyhow::Result<Location> {
    use crate::policy::{oci, server};
    let Some(policy) = &args.policy else { return Ok(Location::Embedded) };
    if !server::is_url(policy) && !server::is_oci(policy) {
        return Ok(Location::Path(PathBuf::from(policy)));
    }
    let plain = policy.starts_with("http://")
        || oci::Reference::parse(policy).is_ok_and(|r| r.base.starts_with("http://"));
    if plain && args.verify.verification_key.is_none() {
        warn!(
            url = %policy,
            "the bundle comes over plain http without --verification-key: anyone on the path can change the policy"
        );
    }
    Ok(Location::server(server::BundleServer::new(args.server.config(policy.clone()))?))
}

fn default_policy_workers() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    (cpus / 2).clamp(1, 4)
}

fn parse_mode(text: &str) -> Result<Mode, String> {
    match text {
        "audit" => Ok(Mode::Audit),
        "enforce" => Ok(Mode::Enforce),
        other => Err(format!("`{other}` is not a mode (audit or enforce)")),
    }
}

fn parse_ring_kib(text: &str) -> Result<u32, String> {
    let kib: u32 = text.parse().map_err(|_| format!("`{text}` is not a whole number of KiB"))?;
    if kib < 4 || !kib.is_power_of_two() || kib > 1 << 20 {
        return Err(format!("{kib} KiB is not a power of two between 4 and 1048576"));
    }
    Ok(kib)
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    // glibc gives each thread that allocates an arena of its own (up to
    // eight per CPU), and an arena keeps what it once held. One per thread
    // that allocates on the hot path (the processing thread and each policy
    // worker) is enough; the others share. Measured: the peak under `bench
    // exec` 0.7-1.3 MiB lower, the CPU per exec the same within noise.
    let arenas = libc::c_int::try_from(args.policy_workers + 1).unwrap_or(libc::c_int::MAX);
    // SAFETY: no preconditions; no other thread exists yet.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: RunArgs) -> anyhow::Result<()> {
    loader::require_root()?;
    if let Some(dir) = &args.host_root {
        crate::kernel::host_root::set(dir)?;
    }
    let stats = Arc::new(Stats::default());
    let mut origin = enrich::detect_origin();
    origin.cluster = args.cluster.clone().filter(|c| !c.is_empty()).map(|c| &*c.leak());
    let redactor = Redactor::new(&args.redact, &args.redact_after, !args.no_default_redactions)?;
    let exporter = open_sinks(args.sinks.clone(), &origin, redactor)?;
    let _ = stats.sinks.set(exporter.stats());
    // Bound first: a taken port fails the start, not later.
    let metrics = match args.metrics_addr {
        Some(addr) => Some(observe::bind(addr).await?),
        None => None,
    };
    if args.verify.verification_key.is_some() && args.policy.is_none() {
        anyhow::bail!("--verification-key needs --policy: the embedded baseline is not signed");
    }
    let source = Source {
        location: bundle_location(&args)?,
        verification: args.verify.load()?.map(Arc::new),
        mode: args.mode,
        break_glass: Some(args.break_glass_dir.clone()),
    };
    let (bundle, refused) = source.read()?;
    reload::log_refusals(&refused);
    if let Some(mode) = args.mode {
        warn!(mode = mode.as_str(), "--mode replaces the bundle's global mode for this agent");
    }
    let policy = load::compile(&bundle)?;
    source.went_live();
    info!(
        origin = policy.origin,
        bundle = policy.short_digest(),
        revision = policy.revision.as_deref().unwrap_or("none"),
        verified = bundle.verified,
        rules = policy.rules.len(),
        mode = policy.mode,
        engines = ?policy.engines(),
        "policy loaded"
    );
    stats.set_bundle(&policy);
    for warning in &policy.exception_warnings {
        warn!("{warning}");
    }
    // The agent's peak memory is the loader's next moments (aya parses the
    // kernel's BTF, some 16 MiB, whatever it is asked): give back to the
    // kernel first what compiling the policy freed.
    // SAFETY: no preconditions.
    unsafe { libc::malloc_trim(0) };
    let mut sensor = loader::load(
        std::process::id(),
        args.ring_buffer_kib * 1024,
        crate::kernel::log::level_asked(),
    )?;
    if let Some(logger) = sensor.kernel_log.take() {
        tokio::spawn(async {
            if let Err(err) = crate::kernel::log::forward(logger).await {
                warn!(%err, "reading the eBPF programs' log failed; it stops");
            }
        });
    }
    let mut files = sensor.files;
    files.apply(&policy.files)?;
    info!(prefixes = files.watched(), "watched file prefixes in the kernel");
    stats.attached.store(true, Relaxed);
    let cgroup2 = crate::kernel::probe::cgroup2_mount().unwrap_or_else(|| {
        warn!("no cgroup v2 mount: events will name no container, pod or host");
        PathBuf::from("/sys/fs/cgroup")
    });
    let mut containers = container_resolver(&cgroup2, &args.runtime_state_dirs);
    let kube = kube_config(&args, &origin.node);
    if let Some(config) = kube.clone() {
        info!(url = config.url, node = config.node, "following this node's pods for their labels");
        match container::follow_pod_labels(config) {
            Ok(labels) => containers.set_pod_labels(labels),
            Err(err) => warn!(%err, "cannot start the pod-labels client: no pod labels"),
        }
    }
    // Every cgroup there is now is placed before the first update, so an
    // agent taking over from an earlier one never leaves a workload on the
    // fallback in between.
    let initial = feed::initial(&mut containers);
    let mut keeper = Keeper::new(sensor.rules, Arc::clone(&policy), initial.clone());
    let denied_at_start =
        rules_in_force(keeper.refresh(wall_now(&origin), &stats)?, &keeper, &stats);
    if let Err(err) = crate::kernel::pins::release_earlier_links() {
        warn!(err = %chain(&err), "cannot release the earlier agent's links: they stay attached beside this agent's");
    }
    let (workload_tx, workload_rx) = mpsc::unbounded_channel();
    let feed = Feed::new(workload_tx, &cgroup2, initial, &containers, kube.is_some());
    // Seed after attaching: a process that starts in between is both in /proc
    // and in the ring buffer, which the table handles; none is missed.
    let table = ProcessTable::seed_from(Path::new("/proc"));
    info!(processes = table.len(), "process table seeded from /proc");

    let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
    let (policy_tx, policy_rx) = std::sync::mpsc::channel();
    let (reload_tx, reload_rx) = mpsc::channel(1);
    let judges = Judges {
        judge: Judge::new(Arc::clone(&policy), args.fail_mode, Some(policy_rx)),
        pool: JudgePool::new(args.policy_workers, &policy, args.fail_mode, origin.clock, &stats)?,
    };
    let workloads = Workloads { containers, feed };
    let pipeline =
        Pipeline::new(origin.clone(), table, workloads, judges, Arc::clone(&stats), exporter);
    let processor = std::thread::Builder::new()
        .name("palisade-process".into())
        .spawn(move || pipeline.run(rx))?;
    let channels = KeeperChannels {
        reloads: reload_rx,
        workloads: workload_rx,
        judge: policy_tx,
        audit: tx.clone(),
    };
    record_denied(denied_at_start, &tx).await;
    let keeper = keep_kernel_rules(keeper, files, channels, &origin, &stats);
    let serving = async {
        match metrics {
            Some(listener) => observe::serve(listener, Arc::clone(&stats)).await,
            None => std::future::pending().await,
        }
    };
    let reloader = async {
        if source.changes() {
            reload::watch(source.clone(), policy.digest.clone(), reload_tx, Arc::clone(&stats))
                .await
        } else {
            // The embedded bundle never changes.
            std::future::pending().await
        }
    };

    let mut terminate = tokio::signal::unix::signal(SignalKind::terminate())?;
    let mut interrupt = tokio::signal::unix::signal(SignalKind::interrupt())?;
    info!("palisade is running");
    tokio::select! {
        result = reader::drain(sensor.events, tx) => {
            if let Err(err) = result {
                warn!(%err, "reading the ring buffer failed");
            }
        }
        () = drops::watch(sensor.drops, &stats) => {}
        () = reloader => {}
        () = keeper => {}
        () = serving => {}
        _ = terminate.recv() => info!("SIGTERM: stopping"),
        _ = interrupt.recv() => info!("SIGINT: stopping"),
    }
    // The reader's sender is gone: the processing thread finishes its queue.
    let _ = processor.join();
    info!(
        events = stats.events_written.load(Relaxed),
        kernel_drops = stats.kernel_drops_total(),
        decode_errors = stats.decode_errors.load(Relaxed),
        eval_errors = stats.eval_errors.load(Relaxed),
        exceptions_used = stats.exceptions_used.load(Relaxed),
        exceptions_expired = stats.exceptions_expired.load(Relaxed),
        policy_load_failures = stats.policy_load_failures.load(Relaxed),
        policy_signature_failures = stats.policy_signature_failures.load(Relaxed),
        records = ?stats.records_by_kind(),
        decisions = ?stats.decisions_by_action(),
        "stopped"
    );
    Ok(())
}

/// Opens the sinks asked for (stdout when none).
fn open_sinks(
    mut specs: Vec<SinkSpec>,
    origin: &Origin,
    redactor: Redactor,
) -> anyhow::Result<Exporter> {
    if specs.is_empty() {
        specs.push(export::spec::parse("stdout")?);
    }
    export::spec::name_uniquely(&mut specs)?;
    Ok(Exporter::start(&specs, origin, redactor)?)
}

/// Where pod labels come from: --kube-api, else the in-cluster API server.
fn kube_config(args: &RunArgs, node: &str) -> Option<container::KubeConfig> {
    match args.kube_api.as_deref() {
        Some("none") => None,
        Some(url) => Some(container::KubeConfig {
            url: url.to_string(),
            node: node.to_string(),
            token_file: args.kube_token_file.clone(),
            ca_file: args.kube_ca_file.clone(),
        }),
        None => container::KubeConfig::in_cluster(node),
    }
}

/// The container resolver, on the cgroup v2 mount and the runtime state
/// directories given (else the defaults).
fn container_resolver(cgroup2: &Path, state_dirs: &[PathBuf]) -> ContainerResolver {
    let state_dirs = if state_dirs.is_empty() {
        DEFAULT_STATE_DIRS.iter().map(PathBuf::from).collect()
    } else {
        state_dirs.to_vec()
    };
    ContainerResolver::new(cgroup2, state_dirs)
}

fn wall_now(origin: &Origin) -> i128 {
    origin.clock.wall_ns(Clock::monotonic_now_ns())
}

/// Logs what a kernel-rules update put in force, ends the open
/// connections it denies and returns every open connection it denies (to
/// be recorded).
fn rules_in_force(
    applied: Option<Applied>,
    keeper: &Keeper,
    stats: &Stats,
) -> Vec<sever::DeniedConnection> {
    let Some(applied) = applied else { return Vec::new() };
    log_applied(&applied, keeper.policy());
    let Some(root) = crate::kernel::probe::cgroup2_mount() else { return Vec::new() };
    match sever::end_denied_connections(keeper.maps(), &root) {
        Ok(found) => {
            let ended = sever::ended(&found);
            stats.connections_ended.fetch_add(ended as u64, Relaxed);
            if !found.is_empty() {
                info!(ended, denied = found.len(), "open connections the rules in force deny");
            }
            found
        }
        Err(err) => {
            warn!(err = %chain(&err), "cannot look for open connections the rules in force deny");
            Vec::new()
        }
    }
}

/// Hands the open connections a rule set denied to the processing thread,
/// which records them.
async fn record_denied(found: Vec<sever::DeniedConnection>, audit: &mpsc::Sender<reader::Message>) {
    if !found.is_empty() {
        let _ = audit.send(reader::Message::DeniedConnections(found)).await;
    }
}

/// Logs what a kernel-rules update put in force.
fn log_applied(applied: &Applied, policy: &Policy) {
    info!(
        bundle = policy.short_digest(),
        generation = applied.generation,
        profiles = applied.profiles,
        workloads = applied.workloads,
        exec_inodes = applied.exec_inodes,
        exec_names = applied.exec_names,
        net4 = applied.net4,
        net6 = applied.net6,
        file = applied.file,
        "kernel rules in force"
    );
    for path in &applied.missing_paths {
        warn!(path = %path.display(), "a path named by a kernel rule does not exist on this host");
    }
}

/// What the kernel-rules keeper hears from and tells the rest.
struct KeeperChannels {
    /// New bundles from the reloader.
    reloads: mpsc::Receiver<Arc<Policy>>,
    /// Workloads described by the processing thread.
    workloads: mpsc::UnboundedReceiver<WorkloadUpdate>,
    /// Each bundle, once its kernel rules are in force, to the judge.
    judge: std::sync::mpsc::Sender<Arc<Policy>>,
    /// Tampering found and open connections denied, to the processing
    /// thread (which records them); a tick when the judge has a bundle.
    audit: mpsc::Sender<reader::Message>,
}

/// Puts each new bundle's kernel rules in force, then hands the bundle to
/// the judge; places the workloads the processing thread describes; between
/// those, refreshes the kernel rules periodically and checks that the maps
/// still hold what was written, putting back what another process changed.
async fn keep_kernel_rules(
    mut keeper: Keeper,
    mut files: FileWatch,
    channels: KeeperChannels,
    origin: &Origin,
    stats: &Stats,
) {
    let KeeperChannels { mut reloads, mut workloads, judge, audit } = channels;
    let mut refresh = tokio::time::interval(KERNEL_RULES_REFRESH);
    let mut open = true;
    loop {
        tokio::select! {
            update = reloads.recv(), if open => {
                let Some(policy) = update else {
                    open = false;
                    continue;
                };
                match keeper.set_policy(Arc::clone(&policy), wall_now(origin), stats) {
                    Ok(applied) => {
                        record_denied(rules_in_force(applied, &keeper, stats), &audit).await;
                        stats.set_bundle(&policy);
                        info!(bundle = policy.short_digest(), "the new bundle's kernel rules are in force");
                    }
                    Err(err) => warn!(err = %chain(&err), "cannot update the kernel rules; the previous ones stay in force"),
                }
                match files.apply(&policy.files) {
                    Ok(()) => info!(prefixes = files.watched(), "the new bundle's watched file prefixes are in force"),
                    Err(err) => warn!(err = %chain(&err), "cannot update the watched file prefixes; some of the previous ones may remain"),
                }
                if judge.send(policy).is_err() {
                    return;
                }
                // The judge swaps on the processing thread's next message:
                // one now, rather than at the next record or idle tick.
                let _ = audit.send(reader::Message::Tick).await;
            }
            Some(update) = workloads.recv() => keeper.update(update, wall_now(origin), stats),
            _ = refresh.tick() => {
                match keeper.verify() {
                    Ok(found) if !found.is_empty() => {
                        stats.tampered_entries.fetch_add(found.entries() as u64, Relaxed);
                        warn!(tampering = ?found, "the enforcement maps were changed behind the agent's back; put back");
                        let _ = audit.send(reader::Message::Tampered(found)).await;
                    }
                    Ok(_) => {}
                    Err(err) => warn!(err = %chain(&err), "cannot check the enforcement maps"),
                }
                match keeper.refresh(wall_now(origin), stats) {
                    Ok(applied) => record_denied(rules_in_force(applied, &keeper, stats), &audit).await,
                    Err(err) => warn!(err = %chain(&err), "cannot update the kernel rules; the previous ones stay in force"),
                }
            }
        }
    }
}
