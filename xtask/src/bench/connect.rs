//! `bench connect`: TCP connects to a loopback listener, without and with
//! the agent.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::bail;

use super::{BpfStats, RunningAgent, bootstrap_ci, per_exec_us, ratio_line};
use crate::cmd;

/// Runs `iterations` TCP connects to `listener`, each accepted at once on
/// the same thread (a separate accept thread starved of CPU lets the accept
/// queue overflow, and a dropped SYN costs a 1 s retransmit), then closed
/// with a reset (SO_LINGER 0), so no TIME_WAIT sockets pile up and run the
/// ephemeral ports out. Returns the time taken.
pub(super) fn connect_loop(
    listener: &std::net::TcpListener,
    iterations: u32,
) -> anyhow::Result<Duration> {
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
pub(super) struct ConnectArm {
    bin: PathBuf,
    with: Vec<Duration>,
    cpu: Vec<Duration>,
    bpf_time: Duration,
    bpf_runs: u64,
    missing: u64,
    drops: u64,
}

pub(super) fn connect(rounds: u32, iterations: u32, bins: &[PathBuf]) -> anyhow::Result<()> {
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
