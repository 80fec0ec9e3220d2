//! Chores: setting up the toolchain, running the agent and the tests, the VM
//! tests on a second kernel, benches. Not part of the normal build.

mod bench;
mod cmd;
mod coverage;
mod image;
mod manifests;
mod policy_configmap;
mod setup;
mod smoke;
mod test;
mod vm;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "xtask", about = "Palisade's chores")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Install what building the eBPF programs needs (idempotent; as root).
    Setup,
    /// Set up, build in release mode and run `palisade run`; extra arguments
    /// go to `palisade run`.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Set up, then run every check and test, each phase timed: rustfmt,
    /// clippy (the test build lints as it compiles), the deploy/ manifests, the userspace tests (in parallel), the
    /// kernel tests on this kernel (one at a time), the image's smoke test
    /// under podman, then the kernel tests again inside a VM on Debian's 6.1
    /// kernel.
    Test,
    /// Run the agent's tests inside a VM on Debian's 6.1 kernel (BPF-LSM on).
    VmTest,
    /// Benchmarks; see `cargo xtask bench --help`.
    Bench(bench::BenchArgs),
    /// Write deploy/base/policy-bundle.yaml (the policy ConfigMap) from
    /// policies/; with --check, fail if it is out of date instead.
    DeployBundle {
        #[arg(long)]
        check: bool,
    },
    /// Check deploy/ offline: render the overlays with kubectl kustomize,
    /// compare the ConfigMap with policies/, validate against the Kubernetes
    /// schemas, lint with checkov.
    DeployCheck,
    /// Build the container image (localhost/palisade:VERSION) from the
    /// release build, with buildah, and save it as an OCI archive under
    /// target/image/.
    Image,
    /// Build the image and run it with podman as the DaemonSet would: it must
    /// report a host exec, block a denied binary, leave enforcement pinned
    /// when stopped, and `palisade unload` from the image must clean up.
    Smoke,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Setup => setup::run(),
        Command::Run { args } => {
            setup::run()?;
            let bin = cmd::release_agent()?;
            cmd::exec(&bin, std::iter::once("run".to_string()).chain(args))
        }
        Command::Test => test::run(),
        Command::VmTest => {
            setup::run()?;
            vm::run()
        }
        Command::Bench(args) => {
            setup::run()?;
            bench::run(args)
        }
        Command::DeployBundle { check } => policy_configmap::run(check),
        Command::DeployCheck => {
            setup::run()?;
            manifests::validate(&cmd::debug_agent()?)
        }
        Command::Image => {
            setup::run()?;
            image::build(image::Profile::Release).map(|_| ())
        }
        Command::Smoke => {
            setup::run()?;
            smoke::run()
        }
    }
}
