//! Benchmarks, run A/B interleaved on one machine so noise from neighbours
//! hits both sides alike; results are ratios.
//!
//! `connect`: a loop of TCP connects to a loopback listener, the same way;
//! checks that every connect is accounted for in the agent's events
//! (`network_connect`, with folded repeats counted) and that the kernel
//! dropped nothing.
//!
//! `exec`: a spawn+exec+wait loop of /bin/true without the agent (A) and with
//! `palisade run` attached and writing every event to a file (B), alternating
//! A, B, A, B, ... Reports the B/A ratio of the loop's time, the agent's CPU
//! time and its peak RSS, and checks that the agent reported every exec.
//! With `--vs-agent-arg`, a third arm (C) runs the agent with those
//! arguments in the same rounds, and the agent's CPU per exec of C is
//! compared with B's: a sink's cost, A/B in one run. `{receiver}` in an
//! agent argument is replaced by the address of an HTTP receiver the bench
//! starts, which takes every POST, answers 200 and counts the execs an OTLP
//! request carries (see `exec::NullReceiver`).
//!
//! `policy`: the baseline bundle over its corpus and a node's recorded
//! activity, in Palisade and in OPA's engine, alternating.

mod connect;
mod exec;
mod policy;

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use anyhow::{Context, bail};

use self::{
    connect::connect,
    exec::{Arm, NullReceiver, exec},
    policy::policy,
};
use crate::cmd;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    which: Which,
}

#[derive(Debug, clap::Subcommand)]
enum Which {
    /// spawn+exec+wait of /bin/true, without and with the agent.
    Exec {
        /// A/B pairs to run.
        #[arg(long, default_value_t = 10)]
        rounds: u32,
        /// Execs per half-round.
        #[arg(long, default_value_t = 2000)]
        iterations: u32,
        /// An argument for `palisade run` (repeat for several), e.g.
        /// `--agent-arg=--sink=file,path=/tmp/e.jsonl` to measure a sink.
        #[arg(long = "agent-arg", allow_hyphen_values = true)]
        agent_args: Vec<String>,
        /// An argument for a second agent arm in the same rounds (repeat
        /// for several), e.g. `--vs-agent-arg=--sink=stdout
        /// --vs-agent-arg=--sink=otlp,endpoint=http://{receiver}` to measure
        /// the OTLP sink against stdout alone.
        #[arg(long = "vs-agent-arg", allow_hyphen_values = true)]
        vs_agent_args: Vec<String>,
        /// Another agent binary for the second arm (with `--vs-agent-arg`s,
        /// else the first arm's arguments): an A/B between two builds,
        /// interleaved in the same rounds.
        #[arg(long, value_name = "PATH")]
        vs_agent_bin: Option<PathBuf>,
        /// Also run a bare tracer in the same rounds, as a peer doing far
        /// less: bpftrace printing the pid and file name of every exec
        /// (Debian's `bpftrace`).
        #[arg(long)]
        peer_bpftrace: bool,
        #[command(flatten)]
        setup: Setup,
    },
    /// TCP connect+close to a loopback listener, without and with the agent.
    Connect {
        /// A/B pairs to run.
        #[arg(long, default_value_t = 10)]
        rounds: u32,
        /// Connects per half-round.
        #[arg(long, default_value_t = 5000)]
        iterations: u32,
        /// Another agent binary, run in the same rounds: an A/B between two
        /// builds whose loop times and CPU are compared round by round.
        #[arg(long, value_name = "PATH")]
        vs_agent_bin: Option<PathBuf>,
        #[command(flatten)]
        setup: Setup,
    },
    /// Policy evaluation: the baseline bundle over its sample corpus (mostly
    /// attacks) and over a node's recorded activity (xtask/bench/), in
    /// Palisade (the agent's path, and the whole decision on regorus's RVM)
    /// and in OPA's engine, alternating.
    Policy {
        /// A/B pairs to run.
        #[arg(long, default_value_t = 5)]
        rounds: u32,
        /// The agent binary to measure (e.g. one built from another commit,
        /// for an A/B between versions). Default: this tree's release build.
        #[arg(long, value_name = "PATH")]
        agent_bin: Option<PathBuf>,
    },
    /// Detection coverage: public Linux atomics (Red Canary's Atomic Red
    /// Team, loopback only, cleaned up) run one by one against the real
    /// agent (embedded baseline, audit mode); per test, whether it was
    /// detected and with the right ATT&CK technique, and every alert
    /// outside the tests (false positives). See docs/coverage.md.
    Coverage(crate::coverage::CoverageArgs),
}

/// What the exec and connect benches run against.
#[derive(Debug, clap::Args)]
struct Setup {
    /// The agent binary to measure (e.g. one built from another commit,
    /// for an A/B between versions). Default: this tree's release build.
    #[arg(long, value_name = "PATH")]
    agent_bin: Option<PathBuf>,
    /// Make this many cgroups (workloads the agent tracks) under the cgroup
    /// v2 root first, and run the measured loop from inside the last one.
    #[arg(long, value_name = "N", default_value_t = 0)]
    workloads: u32,
}

impl Setup {
    fn agent(&self) -> anyhow::Result<PathBuf> {
        match &self.agent_bin {
            Some(bin) => Ok(bin.clone()),
            None => cmd::release_agent(),
        }
    }
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.which {
        Which::Exec {
            rounds,
            iterations,
            agent_args,
            vs_agent_args,
            vs_agent_bin,
            peer_bpftrace,
            setup,
        } => {
            let _workloads = Workloads::make(setup.workloads)?;
            let receiver = NullReceiver::start_if_named(&[&agent_args, &vs_agent_args])?;
            let fill = |args: &[String]| -> Vec<String> {
                let address = receiver.as_ref().map_or(String::new(), |r| r.address.clone());
                args.iter().map(|a| a.replace("{receiver}", &address)).collect()
            };
            let bin = setup.agent()?;
            let mut arms = vec![Arm::new("agent", bin.clone(), fill(&agent_args))];
            if !vs_agent_args.is_empty() || vs_agent_bin.is_some() {
                let args = if vs_agent_args.is_empty() { &agent_args } else { &vs_agent_args };
                arms.push(Arm::new("agent (vs)", vs_agent_bin.unwrap_or(bin), fill(args)));
            }
            exec(rounds, iterations, &mut arms, peer_bpftrace, receiver.as_ref())
        }
        Which::Connect { rounds, iterations, vs_agent_bin, setup } => {
            let _workloads = Workloads::make(setup.workloads)?;
            let mut bins = vec![setup.agent()?];
            bins.extend(vs_agent_bin);
            connect(rounds, iterations, &bins)
        }
        Which::Policy { rounds, agent_bin } => {
            let bin = match agent_bin {
                Some(bin) => bin,
                None => cmd::release_agent()?,
            };
            policy(rounds, &bin)
        }
        Which::Coverage(args) => crate::coverage::run(args),
    }
}

/// Cgroups made for a bench, this process moved into the last one; undone
/// when dropped.
struct Workloads {
    root: PathBuf,
    made: Vec<PathBuf>,
}

impl Workloads {
    fn make(n: u32) -> anyhow::Result<Self> {
        let root = cmd::cgroup2_root()?;
        let mut made = Vec::new();
        for i in 0..n {
            let dir = root.join(format!("palisade-bench-{i}"));
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            made.push(dir);
        }
        if let Some(last) = made.last() {
            std::fs::write(last.join("cgroup.procs"), std::process::id().to_string())
                .context("moving the bench into its cgroup")?;
            eprintln!("bench: {n} cgroups made; measuring from {}", last.display());
        }
        Ok(Self { root, made })
    }
}

impl Drop for Workloads {
    fn drop(&mut self) {
        if self.made.is_empty() {
            return;
        }
        let _ = std::fs::write(self.root.join("cgroup.procs"), std::process::id().to_string());
        for dir in &self.made {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// The agent, started for one B half-round (or for the coverage bench).
pub(crate) struct RunningAgent {
    child: Child,
    events_path: PathBuf,
    /// Drop warnings the agent logged.
    drops: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl RunningAgent {
    pub(crate) fn start(bin: &Path, events_path: &Path, extra: &[String]) -> anyhow::Result<Self> {
        let mut child = Command::new(bin)
            .args(["run", "--log", "warn,palisade::run=info"])
            .args(extra)
            .stdout(File::create(events_path)?)
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stderr = child.stderr.take().expect("piped");
        let mut lines = BufReader::new(stderr).lines();
        let mut logged = Vec::new();
        loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("palisade is running") => break,
                Some(Ok(line)) => logged.push(line),
                _ => bail!("the agent exited before it was running:\n{}", logged.join("\n")),
            }
        }
        // Keep draining its logs so it never blocks on a full pipe; count
        // drop warnings.
        let drops = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = std::sync::Arc::clone(&drops);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if line.contains("dropped") {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    eprintln!("bench: agent reported drops: {line}");
                }
            }
        });
        Ok(Self { child, events_path: events_path.to_path_buf(), drops })
    }

    /// User+system CPU time of the agent so far.
    fn cpu_time(&self) -> anyhow::Result<Duration> {
        process_cpu_time(self.child.id())
    }

    /// Total time the kernel spent running this agent's programs, and how
    /// many runs, from its program fds' fdinfo (needs kernel.bpf_stats_enabled).
    fn bpf_run_time(&self) -> anyhow::Result<(Duration, u64)> {
        let (mut ns, mut runs) = (0u64, 0u64);
        for entry in std::fs::read_dir(format!("/proc/{}/fdinfo", self.child.id()))? {
            let info = std::fs::read_to_string(entry?.path()).unwrap_or_default();
            if !info.contains("prog_type:") {
                continue;
            }
            let field = |name: &str| -> u64 {
                info.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0)
            };
            ns += field("run_time_ns:");
            runs += field("run_cnt:");
        }
        Ok((Duration::from_nanos(ns), runs))
    }

    fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).context("no VmHWM")?;
        Ok(line.split_whitespace().nth(1).context("VmHWM value")?.parse()?)
    }

    /// Stops the agent and returns the events it wrote.
    pub(crate) fn stop(mut self) -> anyhow::Result<Vec<serde_json::Value>> {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait()?;
        let file = BufReader::new(File::open(&self.events_path)?);
        Ok(file
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str(&l).ok())
            .collect())
    }

    /// Drop warnings logged so far.
    pub(crate) fn drops(&self) -> u64 {
        self.drops.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// User+system CPU time of process `pid` so far, all threads.
fn process_cpu_time(pid: u32) -> anyhow::Result<Duration> {
    // The process's CPU clock, in ns, every thread included (those gone
    // too): `/proc/<pid>/stat` counts 10 ms ticks, as coarse as a whole
    // round's agent CPU on the connect bench.
    let mut clock: libc::clockid_t = 0;
    let pid = libc::pid_t::try_from(pid)?;
    // SAFETY: a valid out pointer.
    let rc = unsafe { libc::clock_getcpuclockid(pid, &mut clock) };
    if rc != 0 {
        bail!("no CPU clock for process {pid}: {}", std::io::Error::from_raw_os_error(rc));
    }
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a clock id from clock_getcpuclockid and a valid out pointer.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        bail!("reading process {pid}'s CPU clock: {}", std::io::Error::last_os_error());
    }
    Ok(Duration::new(u64::try_from(ts.tv_sec)?, u32::try_from(ts.tv_nsec)?))
}

/// `kernel.bpf_stats_enabled` on for the bench, restored when dropped.
struct BpfStats {
    previous: String,
}

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

impl BpfStats {
    fn enable() -> anyhow::Result<Self> {
        let previous = std::fs::read_to_string(BPF_STATS)?;
        std::fs::write(BPF_STATS, "1").context("enabling kernel.bpf_stats_enabled")?;
        Ok(Self { previous })
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        let _ = std::fs::write(BPF_STATS, self.previous.trim());
    }
}

/// `ratio with/without: <overall> (95% CI ...); per round median, min, max`.
fn ratio_line(without: &[Duration], with: &[Duration]) -> String {
    let total = |v: &[Duration]| v.iter().sum::<Duration>().as_secs_f64();
    let mut ratios: Vec<f64> =
        with.iter().zip(without).map(|(b, a)| b.as_secs_f64() / a.as_secs_f64()).collect();
    ratios.sort_by(f64::total_cmp);
    let (low, high) = bootstrap_ci(without, with);
    format!(
        "ratio with/without: {:.3} overall (95% CI {low:.3}-{high:.3}, bootstrap over rounds); per round median {:.3}, min {:.3}, max {:.3}",
        total(with) / total(without),
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    )
}

/// A 95% confidence interval of the overall ratio sum(with)/sum(without):
/// the rounds resampled with replacement, 2,000 times (a fixed-seed
/// xorshift, so a run's numbers can be reproduced from its rounds).
fn bootstrap_ci(without: &[Duration], with: &[Duration]) -> (f64, f64) {
    let n = without.len().min(with.len());
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut ratios: Vec<f64> = (0..2000)
        .map(|_| {
            let (mut a, mut b) = (0.0, 0.0);
            for _ in 0..n {
                let i = (next() % n as u64) as usize;
                a += without[i].as_secs_f64();
                b += with[i].as_secs_f64();
            }
            b / a
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    (ratios[50], ratios[1949])
}

fn per_exec_us(d: Duration, n: u32) -> f64 {
    d.as_secs_f64() * 1e6 / f64::from(n)
}
