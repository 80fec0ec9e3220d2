//! `bench exec`: spawn+exec+wait of /bin/true, without and with the agent.

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

use super::{BpfStats, RunningAgent, bootstrap_ci, per_exec_us, process_cpu_time, ratio_line};
use crate::{cmd, setup::DEPLOY_VENV};

/// Runs `iterations` spawn+exec+wait of `binary`; returns the elapsed time.
pub(super) fn exec_loop(binary: &str, iterations: u32) -> anyhow::Result<Duration> {
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
pub(super) struct Arm {
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

    pub(super) fn new(name: &'static str, bin: PathBuf, args: Vec<String>) -> Self {
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

pub(super) fn exec(
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
pub(super) fn exec_binary() -> anyhow::Result<PathBuf> {
    Ok(std::fs::canonicalize("/bin/true")?)
}

/// An HTTP receiver that takes every POST and answers 200 with an empty
/// body (a valid, empty OTLP response), for sinks under a bench. It decodes
/// OTLP logs requests with the official messages (`cargo xtask setup`'s
/// virtualenv) and appends the `log.record.uid` of every exec of the
/// bench's binary to a file, so an OTLP-only arm is checked for missing
/// events as stdout is.
pub(super) struct NullReceiver {
    child: Child,
    pub(super) address: String,
    execs_path: PathBuf,
}

pub(super) const NULL_RECEIVER: &str = r#"
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
    pub(super) fn start_if_named(args: &[&[String]]) -> anyhow::Result<Option<Self>> {
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

/// The bpftrace arm's measurements.
#[derive(Default)]
pub(super) struct Peer {
    times: Vec<Duration>,
    cpu: Vec<Duration>,
    missing: usize,
}

/// bpftrace printing the pid and file name of every exec, to a file.
pub(super) struct Bpftrace {
    child: Child,
    out: PathBuf,
}

pub(super) const BPFTRACE_PROGRAM: &str =
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
