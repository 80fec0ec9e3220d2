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
//! starts, which takes every POST and answers 200 (an OTLP or webhook sink's
//! far end, at no cost to the agent).

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

use crate::{cmd, setup::DEPLOY_VENV};

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
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised comm: utime and stime are 14 and 15.
    let after_comm = stat.rsplit_once(')').context("malformed stat")?.1;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Ok(Duration::from_nanos(ticks * 1_000_000_000 / hz))
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

/// Runs `iterations` spawn+exec+wait of `binary`; returns the elapsed time.
fn exec_loop(binary: &str, iterations: u32) -> anyhow::Result<Duration> {
    let start = Instant::now();
    for _ in 0..iterations {
        // Without the library path `cargo xtask` sets: with it, the dynamic
        // loader of every exec tried some 80 opens (3 without), which the
        // file tracepoints then counted as the exec's in-kernel cost.
        let status = Command::new(binary).env_remove("LD_LIBRARY_PATH").status()?;
        if !status.success() {
            bail!("{binary} failed: {status}");
        }
    }
    Ok(start.elapsed())
}

/// One configuration of the agent measured in every round of `exec`.
struct Arm {
    name: &'static str,
    bin: PathBuf,
    args: Vec<String>,
    times: Vec<Duration>,
    /// The agent's CPU time, per round.
    cpu: Vec<Duration>,
    bpf_time: Duration,
    bpf_runs: u64,
    peak_rss_kib: u64,
    missing: usize,
}

impl Arm {
    /// Whether the agent writes its events to stdout (the default sink).
    fn prints(&self) -> bool {
        let sinks: Vec<&String> = self.args.iter().filter(|a| a.starts_with("--sink=")).collect();
        sinks.is_empty() || sinks.iter().any(|a| *a == "--sink=stdout")
    }

    /// Whether it sends them to the bench's receiver.
    fn sends(&self) -> bool {
        self.args.iter().any(|a| a.starts_with("--sink=otlp"))
    }

    fn new(name: &'static str, bin: PathBuf, args: Vec<String>) -> Self {
        Self {
            name,
            bin,
            args,
            times: Vec::new(),
            cpu: Vec::new(),
            bpf_time: Duration::ZERO,
            bpf_runs: 0,
            peak_rss_kib: 0,
            missing: 0,
        }
    }
}

fn exec(
    rounds: u32,
    iterations: u32,
    arms: &mut [Arm],
    peer_bpftrace: bool,
    receiver: Option<&NullReceiver>,
) -> anyhow::Result<()> {
    let out_dir = cmd::target_dir().join("bench");
    std::fs::create_dir_all(&out_dir)?;
    let events_path = out_dir.join("exec-events.jsonl");
    let binary = exec_binary()?;
    let binary = binary.to_str().context("utf-8 path")?;

    // Warm up caches and the page cache for both sides.
    exec_loop(binary, iterations / 10)?;
    let mut without = Vec::new();
    let mut peer = Peer::default();
    // Let the kernel account the programs' run time (a few ns per run).
    let stats = BpfStats::enable()?;
    for round in 1..=rounds {
        let a = exec_loop(binary, iterations)?;
        without.push(a);
        let mut line =
            format!("round {round}/{rounds}: without {:.1} µs/exec", per_exec_us(a, iterations));
        for arm in arms.iter_mut() {
            let received_before = receiver.map(NullReceiver::execs).transpose()?;
            let agent = RunningAgent::start(&arm.bin, &events_path, &arm.args)?;
            let cpu_before = agent.cpu_time()?;
            let bpf_before = agent.bpf_run_time()?;
            let b = exec_loop(binary, iterations)?;
            arm.cpu.push(agent.cpu_time()? - cpu_before);
            let (time, runs) = agent.bpf_run_time()?;
            arm.bpf_time += time.saturating_sub(bpf_before.0);
            arm.bpf_runs += runs - bpf_before.1;
            arm.peak_rss_kib = arm.peak_rss_kib.max(agent.peak_rss_kib()?);
            // Give the agent time to write the last events before stopping it.
            std::thread::sleep(Duration::from_millis(300));
            let printed = agent
                .stop()?
                .iter()
                .filter(|e| e["kind"] == "process_exec" && e["process"]["binary"] == binary)
                .count();
            // Each sink the arm writes to must have every exec: stdout, and
            // the receiver for an OTLP sink.
            let mut seen = Vec::new();
            if arm.prints() {
                seen.push(printed);
            }
            if let (Some(receiver), Some(before), true) = (receiver, received_before, arm.sends()) {
                seen.push(receiver.execs()? - before);
            }
            let seen = seen.into_iter().min().unwrap_or(0);
            arm.missing += (iterations as usize).saturating_sub(seen);
            arm.times.push(b);
            line += &format!(
                ", {} {:.1} µs/exec (ratio {:.3}, events {seen}/{iterations})",
                arm.name,
                per_exec_us(b, iterations),
                b.as_secs_f64() / a.as_secs_f64()
            );
        }
        if peer_bpftrace {
            let tracer = Bpftrace::start(&out_dir.join("bpftrace.out"))?;
            let cpu_before = tracer.cpu_time()?;
            let b = exec_loop(binary, iterations)?;
            peer.cpu.push(tracer.cpu_time()? - cpu_before);
            std::thread::sleep(Duration::from_millis(300));
            let seen = tracer.stop(binary)?;
            peer.missing += (iterations as usize).saturating_sub(seen);
            peer.times.push(b);
            line += &format!(
                ", bpftrace {:.1} µs/exec (ratio {:.3}, lines {seen}/{iterations})",
                per_exec_us(b, iterations),
                b.as_secs_f64() / a.as_secs_f64()
            );
        }
        eprintln!("{line}");
    }
    drop(stats);
    let total = |v: &[Duration]| v.iter().sum::<Duration>();
    let execs = u64::from(rounds) * u64::from(iterations);
    println!("bench exec: {rounds} rounds x {iterations} execs of {binary}, A/B interleaved");
    println!("  without agent: {:.1} µs/exec", per_exec_us(total(&without), rounds * iterations));
    for arm in arms.iter() {
        println!(
            "  {} ({}; {}):",
            arm.name,
            arm.bin.display(),
            if arm.args.is_empty() { "stdout".into() } else { arm.args.join(" ") }
        );
        println!(
            "    with agent: {:.1} µs/exec",
            per_exec_us(total(&arm.times), rounds * iterations)
        );
        println!("    {}", ratio_line(&without, &arm.times));
        let cpu = total(&arm.cpu);
        println!(
            "    agent CPU: {:.1} ms total, {:.1} µs per exec (its own process, all threads)",
            cpu.as_secs_f64() * 1e3,
            cpu.as_secs_f64() * 1e6 / execs as f64
        );
        println!(
            "    in-kernel program time: {:.2} µs per exec ({} program runs, {:.0} ns per run)",
            arm.bpf_time.as_secs_f64() * 1e6 / execs as f64,
            arm.bpf_runs,
            arm.bpf_time.as_nanos() as f64 / arm.bpf_runs.max(1) as f64
        );
        println!("    agent peak RSS: {:.1} MiB", arm.peak_rss_kib as f64 / 1024.0);
        println!("    exec events missing: {} of {execs}", arm.missing);
    }
    if peer_bpftrace {
        println!("  peer: bpftrace printing pid and file name of every exec:");
        println!("    {}", ratio_line(&without, &peer.times));
        let cpu = total(&peer.cpu);
        println!(
            "    bpftrace CPU: {:.1} µs per exec; exec lines missing: {} of {execs}",
            cpu.as_secs_f64() * 1e6 / execs as f64,
            peer.missing
        );
    }
    if let [first, second] = arms {
        let mut ratios: Vec<f64> = second
            .cpu
            .iter()
            .zip(&first.cpu)
            .map(|(b, a)| b.as_secs_f64() / a.as_secs_f64().max(1e-9))
            .collect();
        ratios.sort_by(f64::total_cmp);
        let (low, high) = bootstrap_ci(&first.cpu, &second.cpu);
        println!(
            "  agent CPU, {} / {}: {:.3} overall (95% CI {low:.3}-{high:.3}, bootstrap over rounds); per round median {:.3}, min {:.3}, max {:.3}",
            second.name,
            first.name,
            total(&second.cpu).as_secs_f64() / total(&first.cpu).as_secs_f64(),
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1]
        );
    }
    let missing: usize = arms.iter().map(|a| a.missing).sum();
    if missing > 0 {
        bail!("the agent missed {missing} exec events");
    }
    Ok(())
}

/// The binary the exec bench runs, as the agent reports it.
fn exec_binary() -> anyhow::Result<PathBuf> {
    Ok(std::fs::canonicalize("/bin/true")?)
}

/// An HTTP receiver that takes every POST and answers 200 with an empty
/// body (a valid, empty OTLP response), for sinks under a bench. It decodes
/// OTLP logs requests with the official messages (`cargo xtask setup`'s
/// virtualenv) and appends the `log.record.uid` of every exec of the
/// bench's binary to a file, so an OTLP-only arm is checked for missing
/// events as stdout is.
struct NullReceiver {
    child: Child,
    address: String,
    execs_path: PathBuf,
}

const NULL_RECEIVER: &str = r#"
import gzip, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
out = open(sys.argv[1], "a", buffering=1)
binary = sys.argv[2]
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/v1/logs":
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            uids = []
            for rl in ExportLogsServiceRequest.FromString(body).resource_logs:
                for sl in rl.scope_logs:
                    for r in sl.log_records:
                        if r.event_name != "palisade.process_exec":
                            continue
                        a = {kv.key: kv.value.string_value for kv in r.attributes}
                        if a.get("process.executable.path") == binary:
                            uids.append(a.get("log.record.uid", "") + "\n")
            out.write("".join(uids))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

impl NullReceiver {
    /// Starts one when an argument names `{receiver}`.
    fn start_if_named(args: &[&[String]]) -> anyhow::Result<Option<Self>> {
        if !args.iter().flat_map(|a| a.iter()).any(|a| a.contains("{receiver}")) {
            return Ok(None);
        }
        let python = Path::new(DEPLOY_VENV).join("bin/python3");
        if !python.exists() {
            bail!("the bench's OTLP receiver needs {} (run `cargo xtask setup`)", python.display());
        }
        let out_dir = cmd::target_dir().join("bench");
        std::fs::create_dir_all(&out_dir)?;
        let execs_path = out_dir.join("receiver-execs.txt");
        File::create(&execs_path)?;
        let mut child = Command::new(python)
            .args(["-c", NULL_RECEIVER])
            .arg(&execs_path)
            .arg(exec_binary()?)
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the bench's receiver")?;
        let mut port = String::new();
        BufReader::new(child.stdout.take().expect("piped")).read_line(&mut port)?;
        let address = format!("127.0.0.1:{}", port.trim());
        eprintln!("bench: receiver at {address}");
        Ok(Some(Self { child, address, execs_path }))
    }

    /// Distinct execs of the bench's binary received so far (delivery is
    /// at-least-once: a resent record counts once).
    fn execs(&self) -> anyhow::Result<usize> {
        let text = std::fs::read_to_string(&self.execs_path)?;
        Ok(text.lines().collect::<std::collections::HashSet<_>>().len())
    }
}

impl Drop for NullReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

/// The bpftrace arm's measurements.
#[derive(Default)]
struct Peer {
    times: Vec<Duration>,
    cpu: Vec<Duration>,
    missing: usize,
}

/// bpftrace printing the pid and file name of every exec, to a file.
struct Bpftrace {
    child: Child,
    out: PathBuf,
}

const BPFTRACE_PROGRAM: &str =
    r#"tracepoint:sched:sched_process_exec { printf("%d %s\n", pid, str(args->filename)); }"#;

impl Bpftrace {
    fn start(out: &Path) -> anyhow::Result<Self> {
        let mut child = Command::new("bpftrace")
            .args(["-e", BPFTRACE_PROGRAM])
            .stdout(File::create(out)?)
            .stderr(Stdio::piped())
            .spawn()
            .context("starting bpftrace (apt install bpftrace)")?;
        // It prints "Attaching 1 probe..." to stdout once attached.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !std::fs::read_to_string(out)?.contains("Attaching") {
            if Instant::now() > deadline || child.try_wait()?.is_some() {
                let _ = child.kill();
                bail!("bpftrace did not attach");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self { child, out: out.to_path_buf() })
    }

    fn cpu_time(&self) -> anyhow::Result<Duration> {
        process_cpu_time(self.child.id())
    }

    /// Stops it; returns how many lines name `binary`.
    fn stop(mut self, binary: &str) -> anyhow::Result<usize> {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        self.child.wait()?;
        let text = std::fs::read_to_string(&self.out)?;
        Ok(text.lines().filter(|l| l.ends_with(binary)).count())
    }
}

fn per_exec_us(d: Duration, n: u32) -> f64 {
    d.as_secs_f64() * 1e6 / f64::from(n)
}

/// One engine's `bench` output line.
fn bench_line(cmd: &mut Command) -> anyhow::Result<serde_json::Value> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// A node's activity recorded by `palisade run` (builds, shells, git,
/// python, a program run from /tmp), for the policy bench.
const NODE_MIX: &str = "xtask/bench/node-mix.jsonl.gz";

fn policy(rounds: u32, bin: &Path) -> anyhow::Result<()> {
    let root = cmd::workspace_root();
    let bundle = root.join("policies");
    let out_dir = cmd::target_dir().join("bench");
    std::fs::create_dir_all(&out_dir)?;
    let mix = out_dir.join("node-mix.jsonl");
    let unpacked = Command::new("gzip").arg("-dc").arg(root.join(NODE_MIX)).output()?;
    if !unpacked.status.success() {
        bail!("cannot unpack {NODE_MIX}: {}", String::from_utf8_lossy(&unpacked.stderr));
    }
    std::fs::write(&mix, unpacked.stdout)?;
    let ungated = ungated_copy(&bundle, &out_dir.join("policies-ungated"))?;
    let sets = [("corpus", bundle.join("samples/corpus.jsonl"), 50, 10), ("node mix", mix, 3, 1)];
    println!(
        "bench policy: baseline bundle, {rounds} rounds alternating, median of rounds, one core each"
    );
    for (name, events, our_passes, opa_passes) in &sets {
        let (mut ours, mut theirs, mut theirs_ungated) = (Vec::new(), Vec::new(), Vec::new());
        for round in 1..=rounds {
            let a = bench_line(
                Command::new(bin)
                    .args(["policy", "bench"])
                    .arg(&bundle)
                    .arg("--events")
                    .arg(events)
                    .args(["--passes", &our_passes.to_string()]),
            )?;
            let opa = |bundle: &Path| {
                bench_line(
                    Command::new("python3")
                        .arg(root.join("xtask/opa/opa_eval.py"))
                        .arg("bench")
                        .arg(bundle)
                        .arg("--events")
                        .arg(events)
                        .args(["--passes", &opa_passes.to_string()]),
                )
            };
            let (b, c) = (opa(&bundle)?, opa(&ungated)?);
            eprintln!(
                "{name} round {round}/{rounds}: palisade {a}\n  opa {b}\n  opa without the trigger gate {c}"
            );
            ours.push(a);
            theirs.push(b);
            theirs_ungated.push(c);
        }
        let median = |v: &[serde_json::Value], path: &[&str], key: &str| {
            let mut xs: Vec<f64> =
                v.iter().filter_map(|x| path.iter().fold(x, |x, p| &x[p])[key].as_f64()).collect();
            xs.sort_by(f64::total_cmp);
            xs[xs.len() / 2]
        };
        println!(
            "  {name}: {} events, {:.1} % trigger some rule",
            ours[0]["events"],
            100.0 * median(&ours, &[], "triggered_share")
        );
        let rows: [(&str, &[serde_json::Value], &[&str]); 4] = [
            ("palisade, agent path", &ours, &["agent"]),
            ("palisade, whole decision", &ours, &[]),
            ("opa (Go engine, C bridge)", &theirs, &[]),
            ("opa, no trigger gate", &theirs_ungated, &[]),
        ];
        for (engine, v, path) in rows {
            println!(
                "    {engine:<26} {:>9.0} evals/s   p50 {:>8.1} µs   p99 {:>8.1} µs",
                median(v, path, "evals_per_sec"),
                median(v, path, "p50_us"),
                median(v, path, "p99_us")
            );
        }
        // Against OPA's faster figure of the two equivalent bundles.
        let opa = median(&theirs, &[], "evals_per_sec").max(median(
            &theirs_ungated,
            &[],
            "evals_per_sec",
        ));
        println!(
            "    throughput ratio palisade/opa (opa's faster bundle): agent path {:.1}, whole decision {:.1}",
            median(&ours, &["agent"], "evals_per_sec") / opa,
            median(&ours, &[], "evals_per_sec") / opa
        );
    }
    Ok(())
}

/// A copy of `bundle` in `dir` whose trigger gate lets every rule through:
/// the same decisions (triggers only ever skip rules that cannot hit), and
/// OPA, which gains nothing from the gate, skips its cost.
fn ungated_copy(bundle: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    let _ = std::fs::remove_dir_all(dir);
    cmd::run(Command::new("cp").arg("-r").arg(bundle).arg(dir))?;
    std::fs::write(
        dir.join("lib/triggers.rego"),
        "package palisade.lib.triggers\n\nimport rego.v1\n\ntriggered(_) := true\n",
    )?;
    Ok(dir.to_path_buf())
}

/// Runs `iterations` TCP connects to `listener`, each accepted at once on
/// the same thread (a separate accept thread starved of CPU lets the accept
/// queue overflow, and a dropped SYN costs a 1 s retransmit), then closed
/// with a reset (SO_LINGER 0), so no TIME_WAIT sockets pile up and run the
/// ephemeral ports out. Returns the time taken.
fn connect_loop(listener: &std::net::TcpListener, iterations: u32) -> anyhow::Result<Duration> {
    use std::os::fd::AsRawFd;
    let to = listener.local_addr()?;
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    let start = Instant::now();
    for _ in 0..iterations {
        let stream = std::net::TcpStream::connect(to)?;
        drop(listener.accept()?);
        // SAFETY: a valid socket and a correctly sized option value.
        unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        drop(stream);
    }
    Ok(start.elapsed())
}

/// One agent build's measurements in `bench connect`.
struct ConnectArm {
    bin: PathBuf,
    with: Vec<Duration>,
    cpu: Vec<Duration>,
    bpf_time: Duration,
    bpf_runs: u64,
    missing: u64,
    drops: u64,
}

fn connect(rounds: u32, iterations: u32, bins: &[PathBuf]) -> anyhow::Result<()> {
    let out_dir = cmd::target_dir().join("bench");
    std::fs::create_dir_all(&out_dir)?;
    let events_path = out_dir.join("connect-events.jsonl");
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let to = listener.local_addr()?;
    let port = u64::from(to.port());

    connect_loop(&listener, iterations / 10)?;
    let mut without = Vec::new();
    let mut arms: Vec<ConnectArm> = bins
        .iter()
        .map(|bin| ConnectArm {
            bin: bin.clone(),
            with: Vec::new(),
            cpu: Vec::new(),
            bpf_time: Duration::ZERO,
            bpf_runs: 0,
            missing: 0,
            drops: 0,
        })
        .collect();
    for round in 1..=rounds {
        let a = connect_loop(&listener, iterations)?;
        let line =
            format!("round {round}/{rounds}: without {:.1} µs/connect", per_exec_us(a, iterations));
        // Builds take turns going first, so neither always follows the bare loop.
        let mut order: Vec<usize> = (0..arms.len()).collect();
        if round % 2 == 0 {
            order.reverse();
        }
        let mut parts = vec![String::new(); arms.len()];
        for i in order {
            let arm = &mut arms[i];
            let agent = RunningAgent::start(&arm.bin, &events_path, &[])?;
            let cpu_before = agent.cpu_time()?;
            let b = connect_loop(&listener, iterations)?;
            arm.cpu.push(agent.cpu_time()? - cpu_before);
            // The programs' run time from a further loop, untimed: counting
            // it (kernel.bpf_stats_enabled) reads the clock twice per
            // program run, which no production node pays, some fifteen
            // times per loopback connect.
            {
                let _stats = BpfStats::enable()?;
                let bpf_before = agent.bpf_run_time()?;
                connect_loop(&listener, iterations)?;
                let (time, runs) = agent.bpf_run_time()?;
                arm.bpf_time += time.saturating_sub(bpf_before.0);
                arm.bpf_runs += runs - bpf_before.1;
            }
            // The last window of folded repeats closes after a second.
            std::thread::sleep(Duration::from_millis(1500));
            arm.drops += agent.drops();
            let seen: u64 = agent
                .stop()?
                .iter()
                .filter(|e| e["kind"] == "network_connect" && e["network"]["dport"] == port)
                .map(|e| e["network"]["repeats"].as_u64().unwrap_or(1))
                .sum();
            let made = 2 * u64::from(iterations);
            arm.missing += made.saturating_sub(seen);
            parts[i] = format!(
                ", agent {} {:.1} µs/connect (ratio {:.3}, connects accounted {seen}/{made})",
                i + 1,
                per_exec_us(b, iterations),
                b.as_secs_f64() / a.as_secs_f64()
            );
            arm.with.push(b);
        }
        eprintln!("{line}{}", parts.concat());
        without.push(a);
    }
    let total = |v: &[Duration]| v.iter().sum::<Duration>();
    let n = u64::from(rounds) * u64::from(iterations);
    println!("bench connect: {rounds} rounds x {iterations} TCP connects to {to}, A/B interleaved");
    println!(
        "  without agent: {:.1} µs/connect",
        per_exec_us(total(&without), rounds * iterations)
    );
    for (i, arm) in arms.iter().enumerate() {
        println!("  agent {} ({}):", i + 1, arm.bin.display());
        println!(
            "    in-kernel program time: {:.2} µs per connect ({} program runs, {:.0} ns per run; exec/fork/exit included; from an untimed loop with kernel.bpf_stats_enabled)",
            arm.bpf_time.as_secs_f64() * 1e6 / n as f64,
            arm.bpf_runs,
            arm.bpf_time.as_nanos() as f64 / arm.bpf_runs.max(1) as f64
        );
        println!(
            "    with agent:    {:.1} µs/connect",
            per_exec_us(total(&arm.with), rounds * iterations)
        );
        println!("    {}", ratio_line(&without, &arm.with));
        println!(
            "    agent CPU: {:.1} µs per connect; sustained {:.0} connects/s with {} drop reports",
            total(&arm.cpu).as_secs_f64() * 1e6 / n as f64,
            n as f64 / total(&arm.with).as_secs_f64(),
            arm.drops
        );
        println!("    connects not accounted for: {} of {}", arm.missing, 2 * n);
    }
    if let [first, second] = &arms[..] {
        let (low, high) = bootstrap_ci(&first.with, &second.with);
        println!(
            "  loop time, agent 2 / agent 1: {:.3} (95% CI {low:.3}-{high:.3}, bootstrap over rounds)",
            total(&second.with).as_secs_f64() / total(&first.with).as_secs_f64()
        );
        let (low, high) = bootstrap_ci(&first.cpu, &second.cpu);
        println!(
            "  agent CPU, agent 2 / agent 1: {:.3} (95% CI {low:.3}-{high:.3}, bootstrap over rounds)",
            total(&second.cpu).as_secs_f64() / total(&first.cpu).as_secs_f64()
        );
    }
    let (missing, drops) = arms.iter().fold((0, 0), |(m, d), a| (m + a.missing, d + a.drops));
    if missing > 0 || drops > 0 {
        bail!("the agent lost connects ({missing} unaccounted, {drops} drop reports)");
    }
    Ok(())
}
