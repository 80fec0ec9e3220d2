//! `cargo xtask test`: every check and test, in phases, each timed.
//!
//! Tests are split by what they need. The kernel tests
//! (`agent/tests/kernel_*.rs`) load the real programs into the running
//! kernel; they share its hooks and the pinned maps, so they run one at a
//! time, and they are the only tests the 6.1 VM runs. Everything else (unit
//! tests, the policy CLI, OPA parity) touches no kernel and runs in parallel.
//!
//! The run has a time budget (README, "Tests"). Going over it is not a
//! failure, since these machines are shared and noisy, but it is printed
//! loudly with every phase's time, so growth is seen at the commit that
//! causes it.

use std::{
    fs,
    time::{Duration, Instant},
};

use anyhow::Context;

use crate::{cmd, manifests, setup, smoke, vm};

/// The whole run on a machine whose toolchain is already set up.
const BUDGET: Duration = Duration::from_secs(15 * 60);
/// The whole run on a fresh machine, installing the toolchain included.
const BUDGET_FRESH: Duration = Duration::from_secs(25 * 60);
/// Integration tests whose file name starts with this load eBPF programs.
pub const KERNEL_TEST_PREFIX: &str = "kernel_";

pub fn run() -> anyhow::Result<()> {
    let mut phases = Phases::default();
    phases.time("setup", setup::run)?;
    phases.time("fmt", || cmd::cargo(&["fmt", "--all", "--check"]))?;
    let (kernel, userspace) = integration_tests()?;
    lint_while_building()?;
    phases.time("build tests (with clippy's lints)", || {
        cmd::cargo(&[&["test", "--no-run"], &cmd::TEST_PACKAGES[..]].concat())
    })?;
    // The VM runs its own kernel: it goes on beside the host phases (its
    // console to target/vm/console.log), which mostly wait on the kernel
    // and leave the CPUs to its emulation.
    let mut prepared = None;
    phases.time("VM image (kernel tests and the 6.1 kernel)", || {
        prepared = Some(vm::prepare()?);
        Ok(())
    })?;
    let vm = prepared.expect("prepared above");
    let vm_started = Instant::now();
    let vm = std::thread::spawn(move || vm.boot(vm::Console::LogOnly));
    let host = host_phases(&mut phases, &kernel, &userspace);
    if host.is_err() {
        // Stop the VM rather than leave it running behind a failure.
        vm::abort();
    }
    eprintln!("xtask test: waiting for the kernel tests in the 6.1 VM");
    let result = vm.join().unwrap_or_else(|_| Err(anyhow::anyhow!("the VM thread panicked")));
    phases.record("kernel tests in the 6.1 VM (beside the phases above)", vm_started.elapsed());
    phases.report();
    host?;
    result.context("the kernel tests in the 6.1 VM failed")
}

/// The phases on this machine, while the VM runs.
fn host_phases(phases: &mut Phases, kernel: &[String], userspace: &[String]) -> anyhow::Result<()> {
    // The eBPF crate is not in the test build (it targets the kernel); its
    // lints run on the host as `cargo clippy --workspace` would run them,
    // with the common crate's userspace feature that gives it std.
    phases.time("clippy (eBPF crate)", || {
        cmd::cargo(&[
            "clippy",
            "-p",
            "palisade-ebpf",
            "--features",
            "palisade-common/user",
            "--",
            "-D",
            "warnings",
        ])
    })?;
    phases.time("userspace tests (parallel)", || {
        let mut args = [&["test"], &cmd::TEST_PACKAGES[..], &["--lib", "--bins"]].concat();
        for name in userspace {
            args.extend(["--test", name]);
        }
        cmd::cargo(&args)
    })?;
    // The kernel tests mostly wait (on agents starting, timeouts, restarts):
    // the manifests' checks (Python tools, the bundle's tests) use the CPU
    // beside them. The agent they need is found first, so that no second
    // cargo waits on the lock the kernel tests' cargo holds.
    let agent = cmd::debug_agent()?;
    let deploy = std::thread::spawn(move || {
        let started = Instant::now();
        (manifests::validate(&agent), started.elapsed())
    });
    let kernel_tests = phases.time("kernel tests (one at a time)", || {
        let mut args = [&["test"], &cmd::TEST_PACKAGES[..]].concat();
        for name in kernel {
            args.extend(["--test", name]);
        }
        args.extend(["--", "--test-threads=1"]);
        cmd::cargo(&args)
    });
    let (deploy, took) =
        deploy.join().map_err(|_| anyhow::anyhow!("the deploy checks panicked"))?;
    phases.record("deploy manifests (beside the kernel tests)", took);
    kernel_tests?;
    deploy.context("phase `deploy manifests` failed")?;
    phases.time("image smoke test", smoke::run)?;
    Ok(())
}

/// Makes every cargo command of this run compile the workspace's crates
/// through clippy's driver, as `cargo clippy` does, with warnings denied:
/// the test build then lints as it compiles. A separate `cargo clippy`
/// checked every dependency a second time (2.5 min of the run on these two
/// cores). The driver compiles as rustc does; cargo keeps its outputs
/// apart from a plain build's, so neither rebuilds the other.
fn lint_while_building() -> anyhow::Result<()> {
    let sysroot = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .context("cannot run rustc --print sysroot")?;
    let sysroot = String::from_utf8_lossy(&sysroot.stdout);
    let driver = std::path::Path::new(sysroot.trim()).join("bin/clippy-driver");
    if !driver.exists() {
        anyhow::bail!("{} is missing: run `cargo xtask setup`", driver.display());
    }
    // SAFETY: set before this process starts any thread (the VM's starts
    // after the build), and read only by the cargo commands it spawns.
    unsafe {
        std::env::set_var("RUSTC_WORKSPACE_WRAPPER", &driver);
        // cargo-clippy's encoding of `-- -D warnings`.
        std::env::set_var("CLIPPY_ARGS", "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__");
    }
    Ok(())
}

/// The agent's integration tests by name: (kernel, userspace).
fn integration_tests() -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let dir = cmd::workspace_root().join("agent/tests");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".rs").map(str::to_string))
        .collect();
    names.sort();
    Ok(names.into_iter().partition(|n| n.starts_with(KERNEL_TEST_PREFIX)))
}

struct Phases {
    started: Instant,
    done: Vec<(&'static str, Duration)>,
}

impl Default for Phases {
    fn default() -> Self {
        Self { started: Instant::now(), done: Vec::new() }
    }
}

impl Phases {
    /// Runs one phase; on failure, says which, after the times so far.
    fn time(
        &mut self,
        name: &'static str,
        phase: impl FnOnce() -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        eprintln!("xtask test: {name}");
        let started = Instant::now();
        let result = phase();
        self.done.push((name, started.elapsed()));
        if result.is_err() {
            self.report();
        }
        result.with_context(|| format!("phase `{name}` failed"))
    }

    fn record(&mut self, name: &'static str, took: Duration) {
        self.done.push((name, took));
    }

    fn report(&self) {
        eprintln!("xtask test: time per phase");
        for (name, took) in &self.done {
            eprintln!("  {:>7.1} s  {name}", took.as_secs_f64());
        }
        // Wall time: the VM's phase overlaps others.
        let total = self.started.elapsed();
        let setup = self.done.iter().find(|(n, _)| *n == "setup").map_or(Duration::ZERO, |p| p.1);
        eprintln!("  {:>7.1} s  total (wall clock)", total.as_secs_f64());
        // Setup that took more than a minute installed the toolchain.
        let (budget, which) = if setup > Duration::from_secs(60) {
            (BUDGET_FRESH, "a fresh machine")
        } else {
            (BUDGET, "a machine already set up")
        };
        if total > budget {
            let bar = "!".repeat(72);
            eprintln!(
                "{bar}\nxtask test: OVER BUDGET: {:.1} min, the budget on {which} is {} min \
                 (README, \"Tests\"). Find the phase that grew and make it pay for itself.\n{bar}",
                total.as_secs_f64() / 60.0,
                budget.as_secs() / 60
            );
        }
    }
}
