//! `palisade`: runtime enforcement agent for Linux and Kubernetes nodes.

mod container;
mod drift;
mod enrich;
mod errors;
mod event;
mod export;
mod forensics;
mod http_client;
mod kernel;
mod model;
mod network;
mod observe;
mod pipeline;
mod policy;
mod process;
mod redact;
mod report;
mod run;
mod sensor;
mod stats;
#[cfg(test)]
mod test_support;
mod unload;
mod workloads;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "palisade",
    version,
    about = "Runtime enforcement agent for Linux and Kubernetes nodes"
)]
struct Cli {
    /// Log filter for the agent's own logs on stderr (tracing's EnvFilter
    /// syntax, e.g. `debug` or `palisade=debug`). Overrides RUST_LOG. The
    /// eBPF programs' own log is on only when this enables
    /// `palisade::kernel::log` at debug.
    #[arg(long, global = true, default_value = "info", env = "PALISADE_LOG")]
    log: String,

    /// Write the agent's own logs as JSON lines instead of text.
    #[arg(long, global = true, default_value_t = false)]
    log_json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent: watch every exec, exit and connection on this node,
    /// judge them, enforce, and export one JSON record per event (to stdout
    /// unless --sink says otherwise). Needs root.
    Run(run::RunArgs),
    /// Report what this kernel supports and which enforcement mechanism each
    /// capability will use. Needs root.
    Probe {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove everything the agent left in the kernel (pinned programs and
    /// enforcement maps under /sys/fs/bpf/palisade): enforcement stops. An
    /// `unload` record goes to the sinks first.
    Unload(unload::UnloadArgs),
    /// Override rules for some workloads for a while, without a bundle
    /// change: writes a break-glass order that every agent reading the
    /// directory applies within the bundle's limits (config.break_glass),
    /// records (start and end) and ends by itself.
    BreakGlass(policy::break_glass::BreakGlassArgs),
    /// Rebuild what happened from exported files: the process tree and
    /// timeline of a pid, a container or a pod.
    Events(forensics::EventsArgs),
    /// Work with policy bundles: check, test, eval, replay, report.
    Policy {
        #[command(subcommand)]
        command: policy::cli::PolicyCommand,
    },
    /// Publish what the policy found where other tools read it:
    /// `kubernetes` keeps wgpolicyk8s.io PolicyReports current.
    Report {
        #[command(subcommand)]
        command: report::kube::ReportCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_new(&cli.log).unwrap_or_else(|err| {
        eprintln!("palisade: invalid --log filter `{}`: {err}", cli.log);
        std::process::exit(2)
    });
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if cli.log_json {
        logs.json().init();
    } else {
        logs.init();
    }
    if !matches!(cli.command, Command::Run(_) | Command::Report { .. }) {
        // The one-shot commands end quietly when their reader goes away
        // (`palisade policy check ... | head`), as other CLI tools do. The
        // agent keeps Rust's default (SIGPIPE ignored): a closed stdout is a
        // sink failure it counts, not a reason to die.
        // SAFETY: setting a signal's disposition has no preconditions.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Probe { json } => kernel::cli::probe(json),
        Command::Unload(args) => unload::run(args),
        Command::BreakGlass(args) => policy::break_glass::cli(args),
        Command::Policy { command } => policy::cli::run(command),
        Command::Events(args) => forensics::run(args),
        Command::Report { command } => report::kube::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("palisade: {err:#}");
            ExitCode::FAILURE
        }
    }
}
