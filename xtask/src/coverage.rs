//! The coverage bench: public Linux atomics against the real agent.
//!
//! Each test of [`atomics::ATOMICS`] is one of Red Canary's Atomic Red Team
//! tests for Linux, written down again for this harness (the command as
//! the atomic runs it, pointed at loopback; see the table's notes). The
//! bench starts `palisade run` (the embedded baseline, audit mode, events
//! on stdout into a file), then runs each test in turn in three phases:
//! setup (its preconditions), run (the atomic itself) and cleanup (the
//! atomic's cleanup; then the harness puts back every file the test names
//! in `restores`, exactly as it found it). Each phase runs as `bash -c` in
//! its own process group, on the host or, with `--container`, inside a
//! fresh cgroup laid out as containerd lays out a Kubernetes container's,
//! and each phase's time window is recorded.
//!
//! Afterwards every record with a matched rule is placed: an alert from a
//! process the harness started (its pid or an ancestor's is the bench's)
//! inside a test's run window detects that test; inside a setup or cleanup
//! window it is the harness's own doing and is listed apart. Every other
//! alert (another process, or outside every window) is a false positive.
//! A detection has the right technique when one of the matched rules'
//! `mitre` is the atomic's technique, or its parent or sub-technique.

mod atomics;

use std::{
    collections::BTreeMap,
    ffi::CString,
    fmt::Write as _,
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    os::unix::process::CommandExt,
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::{bench::RunningAgent, cmd};
use atomics::{ATOMICS, Atomic, Class};

#[derive(Debug, clap::Args)]
pub struct CoverageArgs {
    /// Run every test inside a fresh cgroup laid out as a Kubernetes
    /// container's under containerd
    /// (`/kubepods.slice/.../cri-containerd-<id>.scope`), so the agent
    /// attributes it to a container; default: on the host.
    #[arg(long)]
    container: bool,
    /// Only the tests whose technique or GUID starts with this (repeat
    /// for several), e.g. `--only T1003 --only T1546.004`.
    #[arg(long)]
    only: Vec<String>,
    /// The agent binary. Default: this tree's release build.
    #[arg(long, value_name = "PATH")]
    agent_bin: Option<PathBuf>,
    /// Also write the results as Markdown tables to this file.
    #[arg(long, value_name = "PATH")]
    markdown: Option<PathBuf>,
    /// Seconds each phase may run before its process group is killed.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

/// Scratch directory the tests work in (`$ART`), removed afterwards.
const SCRATCH: &str = "/tmp/palisade-coverage";
/// Quiet time with the agent running before the first and after the last
/// test: alerts there are false positives too.
const QUIET: Duration = Duration::from_secs(3);
/// Pause between phases, so windows never touch.
const GAP: Duration = Duration::from_millis(250);
/// Allowed difference between the agent's event clock (kernel time turned
/// into wall time) and the harness's wall clock at a window's edges.
const SLACK_NS: i64 = 50_000_000;

pub fn run(args: CoverageArgs) -> anyhow::Result<()> {
    let bin = match &args.agent_bin {
        Some(bin) => bin.clone(),
        None => cmd::release_agent()?,
    };
    let tests: Vec<&Atomic> = ATOMICS
        .iter()
        .filter(|a| {
            args.only.is_empty()
                || args.only.iter().any(|o| a.technique.starts_with(o) || a.guid.starts_with(o))
        })
        .collect();
    if tests.is_empty() {
        bail!("no test matches {:?}", args.only);
    }
    let _ = std::fs::remove_dir_all(SCRATCH);
    std::fs::create_dir_all(SCRATCH)?;
    let out_dir = cmd::target_dir().join("bench");
    std::fs::create_dir_all(&out_dir)?;
    let events_path = out_dir.join("coverage-events.jsonl");
    let log_path = out_dir.join("coverage-commands.log");
    let mut log = std::fs::File::create(&log_path)?;
    let sink = Sink::start()?;
    let cgroup = if args.container { Some(ContainerCgroup::make()?) } else { None };
    // Orphans of a test (`cmd &`) stay the bench's descendants.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let harness = std::process::id();

    let agent = RunningAgent::start(&bin, &events_path, &[])?;
    std::thread::sleep(QUIET);
    let mut windows = Vec::new();
    let place = match &cgroup {
        Some(c) => format!("in container cgroup {}", c.relative),
        None => "on the host".to_string(),
    };
    eprintln!(
        "coverage: {} atomics {place}; agent events in {}",
        tests.len(),
        events_path.display()
    );
    for (i, test) in tests.iter().enumerate() {
        let snapshot = Snapshot::take(test.restores)?;
        let env = Env { sink: &sink.address, cgroup: cgroup.as_ref(), timeout: args.timeout };
        for (phase, script) in
            [(Phase::Setup, test.setup), (Phase::Run, test.run), (Phase::Cleanup, test.cleanup)]
        {
            if script.trim().is_empty() && phase != Phase::Run {
                continue;
            }
            writeln!(log, "== {} {} {phase:?}\n{script}", test.technique, test.guid)?;
            let (start, end, outcome) = env.run(script, &mut log)?;
            writeln!(log, "-- {outcome}")?;
            windows.push(Window { test: i, phase, start, end });
            std::thread::sleep(GAP);
        }
        let start = now_ns();
        snapshot.restore()?;
        windows.push(Window { test: i, phase: Phase::Cleanup, start, end: now_ns() });
        std::thread::sleep(GAP);
        eprintln!("coverage: {}/{} {} {} done", i + 1, tests.len(), test.technique, test.name);
    }
    std::thread::sleep(QUIET);
    let drops = agent.drops();
    let events = agent.stop()?;
    drop(cgroup);
    let _ = std::fs::remove_dir_all(SCRATCH);

    let alerts: Vec<Alert> = events.iter().filter_map(Alert::from_event).collect();
    let results = Results::compute(&tests, &windows, &alerts, harness);
    let text = results.render_text(&tests, &place);
    print!("{text}");
    if drops > 0 {
        println!("warning: the agent reported dropped events {drops} times");
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, results.render_markdown(&tests, &place))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("coverage: wrote {}", path.display());
    }
    Ok(())
}

/// Nanoseconds since the Unix epoch, now.
fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Setup,
    Run,
    Cleanup,
}

/// When one phase of one test ran, in ns since the epoch.
#[derive(Debug, Clone)]
struct Window {
    test: usize,
    phase: Phase,
    start: i64,
    end: i64,
}

/// What a phase's commands get: `$ART` (the scratch directory, also the
/// working directory), `$SINK` (`127.0.0.1:PORT` of the loopback HTTP
/// sink), `$HOME=/root`.
struct Env<'a> {
    sink: &'a str,
    cgroup: Option<&'a ContainerCgroup>,
    timeout: u64,
}

impl Env<'_> {
    /// Runs `script` with `bash -c` in its own process group (in the
    /// container cgroup if any); kills what is left of the group when it
    /// returns or times out. Returns the window and how it ended.
    fn run(&self, script: &str, log: &mut std::fs::File) -> anyhow::Result<(i64, i64, String)> {
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(script)
            .current_dir(SCRATCH)
            .env("ART", SCRATCH)
            .env("SINK", self.sink)
            .env("HOME", "/root")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log.try_clone()?)
            .process_group(0);
        if let Some(cgroup) = self.cgroup {
            let procs = cgroup.procs.clone();
            // SAFETY: only async-signal-safe calls (open, write, close)
            // between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                    if fd < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    let written = libc::write(fd, b"0".as_ptr().cast(), 1);
                    libc::close(fd);
                    if written != 1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let start = now_ns();
        let mut child = command.spawn().context("starting bash")?;
        let deadline = Instant::now() + Duration::from_secs(self.timeout);
        let outcome = loop {
            if let Some(status) = child.try_wait()? {
                break format!("exit {status}");
            }
            if Instant::now() > deadline {
                break "timed out, killed".to_string();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let end = now_ns();
        // Whatever the test left running in its group (its own process
        // group: nothing else of the bench's is in it).
        // SAFETY: a signal to the process group this bench created.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let _ = child.wait();
        Ok((start, end, outcome))
    }
}

/// A cgroup laid out as containerd's for a Kubernetes pod's container,
/// made for the bench and removed when dropped.
struct ContainerCgroup {
    /// The directories made, outermost first.
    made: Vec<PathBuf>,
    /// The leaf's path below the cgroup v2 root.
    relative: String,
    /// The leaf's `cgroup.procs`.
    procs: CString,
}

impl ContainerCgroup {
    fn make() -> anyhow::Result<Self> {
        let root = cmd::cgroup2_root()?;
        let seed = format!("{:x}{:08x}", now_ns(), std::process::id());
        let id: String = seed.chars().cycle().take(64).collect();
        let pod = format!("c0ffee00_{}_4bd0_8e1f_{}", &id[..4], &id[4..16]);
        let parts = [
            "kubepods.slice".to_string(),
            "kubepods-besteffort.slice".to_string(),
            format!("kubepods-besteffort-pod{pod}.slice"),
            format!("cri-containerd-{id}.scope"),
        ];
        let mut made = Vec::new();
        let mut dir = root.clone();
        for part in &parts {
            dir = dir.join(part);
            if !dir.exists() {
                std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
                made.push(dir.clone());
            }
        }
        let procs = CString::new(dir.join("cgroup.procs").to_str().context("utf-8")?.to_string())?;
        Ok(Self { made, relative: format!("/{}", parts.join("/")), procs })
    }
}

impl Drop for ContainerCgroup {
    fn drop(&mut self) {
        for dir in self.made.iter().rev() {
            // Anything a test left behind is killed first.
            let _ = std::fs::write(dir.join("cgroup.kill"), "1");
            for _ in 0..50 {
                if std::fs::remove_dir(dir).is_ok() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// The files a test may change, as they were before it: put back after
/// its cleanup, byte for byte (a file or directory that did not exist is
/// removed).
struct Snapshot {
    saved: Vec<(PathBuf, Option<Saved>)>,
}

enum Saved {
    File(Vec<u8>, u32),
    Dir,
    Symlink(PathBuf),
}

impl Snapshot {
    fn take(paths: &[&str]) -> anyhow::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let mut saved = Vec::new();
        for path in paths {
            let path = PathBuf::from(path);
            let state = match std::fs::symlink_metadata(&path) {
                Err(_) => None,
                Ok(m) if m.file_type().is_symlink() => {
                    Some(Saved::Symlink(std::fs::read_link(&path)?))
                }
                Ok(m) if m.is_dir() => Some(Saved::Dir),
                Ok(m) => Some(Saved::File(std::fs::read(&path)?, m.permissions().mode())),
            };
            saved.push((path, state));
        }
        Ok(Self { saved })
    }

    /// Puts every path back; innermost paths are listed last, so they are
    /// handled first.
    fn restore(&self) -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        for (path, state) in self.saved.iter().rev() {
            let now = std::fs::symlink_metadata(path).ok();
            match state {
                None => {
                    if let Some(m) = now {
                        if m.is_dir() {
                            std::fs::remove_dir_all(path)?;
                        } else {
                            std::fs::remove_file(path)?;
                        }
                    }
                }
                Some(Saved::Dir) => {
                    if now.is_none() {
                        std::fs::create_dir_all(path)?;
                    }
                }
                Some(Saved::Symlink(target)) => {
                    if now.is_some() {
                        std::fs::remove_file(path)?;
                    }
                    std::os::unix::fs::symlink(target, path)?;
                }
                Some(Saved::File(bytes, mode)) => {
                    if now.as_ref().is_some_and(|m| m.is_dir() || m.file_type().is_symlink()) {
                        let _ = std::fs::remove_dir_all(path);
                        let _ = std::fs::remove_file(path);
                    }
                    std::fs::write(path, bytes)
                        .with_context(|| format!("restoring {}", path.display()))?;
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(*mode))?;
                }
            }
        }
        Ok(())
    }
}

/// A loopback HTTP server standing in for every remote end the atomics
/// name (download servers, paste sites, webhooks, proxies): it reads a
/// request and answers 200; a GET gets a harmless shell line, a POST the
/// URL of a "staged" document.
struct Sink {
    address: String,
}

impl Sink {
    fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?.to_string();
        let staged = format!("http://{address}/staged");
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let staged = staged.clone();
                std::thread::spawn(move || {
                    let _ = Self::answer(stream, &staged);
                });
            }
        });
        Ok(Self { address })
    }

    fn answer(mut stream: TcpStream, staged: &str) -> std::io::Result<()> {
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        // Headers, then as much body as Content-Length says.
        loop {
            let n = match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request);
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0usize);
                if request.len() >= end + 4 + length {
                    break;
                }
            }
        }
        let body = if request.starts_with(b"POST") || request.starts_with(b"PUT") {
            format!("{staged}\n")
        } else {
            "echo Hello from the Atomic Red Team\n".to_string()
        };
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes())
    }
}

/// One record with at least one matched rule.
#[derive(Debug, Clone)]
struct Alert {
    time: i64,
    /// The process's pid and its ancestors' pids.
    pids: Vec<u64>,
    kind: String,
    binary: String,
    /// The command line, shortened.
    cmdline: String,
    /// `(rule id, ATT&CK technique)` of each matched rule.
    rules: Vec<(String, String)>,
}

impl Alert {
    fn from_event(event: &Value) -> Option<Self> {
        let matched = event["decision"]["matched"].as_array()?;
        if matched.is_empty() {
            return None;
        }
        let time = parse_rfc3339_ns(event["time"].as_str()?)?;
        let process = &event["process"];
        let mut pids: Vec<u64> = process["pid"].as_u64().into_iter().collect();
        if let Some(ancestors) = process["ancestors"].as_array() {
            pids.extend(ancestors.iter().filter_map(|a| a["pid"].as_u64()));
        }
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Object(o) => o.get("text").and_then(Value::as_str).unwrap_or("").to_string(),
            _ => String::new(),
        };
        Some(Self {
            time,
            pids,
            kind: event["kind"].as_str().unwrap_or("").to_string(),
            binary: text(&process["binary"]),
            cmdline: process["args"]
                .as_array()
                .map(|a| a.iter().map(text).collect::<Vec<_>>().join(" "))
                .unwrap_or_default()
                .chars()
                .take(100)
                .collect(),
            rules: matched
                .iter()
                .map(|m| {
                    (
                        m["rule"].as_str().unwrap_or("?").to_string(),
                        m["mitre"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect(),
        })
    }

    fn rule_list(&self) -> String {
        self.rules
            .iter()
            .map(|(id, mitre)| format!("{id} ({mitre})"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `2026-12-03T12:00:00.123456789Z` (UTC, as the agent writes it) as ns
/// since the Unix epoch.
fn parse_rfc3339_ns(s: &str) -> Option<i64> {
    let (date, rest) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let rest = rest.strip_suffix('Z')?;
    let (hms, frac) = rest.split_once('.').unwrap_or((rest, "0"));
    let mut t = hms.splitn(3, ':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let digits: String = frac.chars().take(9).collect();
    let nanos = digits.parse::<i64>().ok()? * 10i64.pow(9 - digits.len() as u32);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000_000) + nanos)
}

/// `T1548.001` matches `T1548.001`, its parent `T1548`, and, for an
/// expected parent, any of its sub-techniques.
fn technique_matches(expected: &str, got: &str) -> bool {
    let base = |t: &str| t.split('.').next().unwrap_or(t).to_string();
    got == expected
        || (!got.contains('.') && got == base(expected))
        || (!expected.contains('.') && base(got) == expected)
}

/// Where one alert was placed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Placement {
    /// Raised by a test's run phase.
    Detection(usize),
    /// Raised by the harness's own setup or cleanup of a test.
    Harness(usize),
    /// Anything else: a false positive.
    FalsePositive,
}

/// Places `alert` given the phase windows and the bench's pid.
fn place(alert: &Alert, windows: &[Window], harness: u64) -> Placement {
    let from_harness = alert.pids.contains(&harness);
    let window =
        windows.iter().find(|w| alert.time >= w.start - SLACK_NS && alert.time <= w.end + SLACK_NS);
    match (from_harness, window) {
        (true, Some(w)) if w.phase == Phase::Run => Placement::Detection(w.test),
        (true, Some(w)) => Placement::Harness(w.test),
        _ => Placement::FalsePositive,
    }
}

/// Per test: the rules that fired in its run phase.
struct Results {
    /// Per test index: `(rule id, technique)` seen, deduplicated.
    detected: Vec<BTreeMap<String, String>>,
    harness: Vec<Alert>,
    false_positives: Vec<Alert>,
}

impl Results {
    fn compute(tests: &[&Atomic], windows: &[Window], alerts: &[Alert], harness: u32) -> Self {
        let mut detected = vec![BTreeMap::new(); tests.len()];
        let (mut own, mut false_positives) = (Vec::new(), Vec::new());
        for alert in alerts {
            match place(alert, windows, u64::from(harness)) {
                Placement::Detection(i) => {
                    for (id, mitre) in &alert.rules {
                        detected[i].insert(id.clone(), mitre.clone());
                    }
                }
                Placement::Harness(_) => own.push(alert.clone()),
                Placement::FalsePositive => false_positives.push(alert.clone()),
            }
        }
        Self { detected, harness: own, false_positives }
    }

    fn right(&self, i: usize, test: &Atomic) -> bool {
        self.detected[i].values().any(|m| technique_matches(test.technique, m))
    }

    /// `(class, tests, detected, right technique)`, per class then all.
    fn totals(&self, tests: &[&Atomic]) -> Vec<(String, usize, usize, usize)> {
        let mut rows = Vec::new();
        for class in [Some(Class::Exec), Some(Class::Network), Some(Class::File), None] {
            let of: Vec<usize> =
                (0..tests.len()).filter(|&i| class.is_none_or(|c| tests[i].class == c)).collect();
            if of.is_empty() {
                continue;
            }
            let detected = of.iter().filter(|&&i| !self.detected[i].is_empty()).count();
            let right = of.iter().filter(|&&i| self.right(i, tests[i])).count();
            let name = class.map_or("all".to_string(), |c| c.name().to_string());
            rows.push((name, of.len(), detected, right));
        }
        rows
    }

    fn rules_of(&self, i: usize) -> String {
        self.detected[i].iter().map(|(id, m)| format!("{id} ({m})")).collect::<Vec<_>>().join(", ")
    }

    fn render_text(&self, tests: &[&Atomic], place: &str) -> String {
        let mut out = format!("bench coverage: {} Atomic Red Team tests {place}\n", tests.len());
        let _ = writeln!(
            out,
            "  {:<14} {:<9} {:<7} {:<4} {:<5} {:<48} rules",
            "atomic", "guid", "class", "det", "right", "test"
        );
        for (i, t) in tests.iter().enumerate() {
            let yes = |b: bool| if b { "yes" } else { "-" };
            let _ = writeln!(
                out,
                "  {:<14} {:<9} {:<7} {:<4} {:<5} {:<48} {}",
                format!("{} #{}", t.technique, t.number),
                &t.guid[..8],
                t.class.name(),
                yes(!self.detected[i].is_empty()),
                yes(self.right(i, t)),
                t.name.chars().take(48).collect::<String>(),
                self.rules_of(i)
            );
        }
        out += "  totals:\n";
        for (class, n, detected, right) in self.totals(tests) {
            let pct = |k: usize| 100.0 * k as f64 / n as f64;
            let _ = writeln!(
                out,
                "    {class:<8} {n:>3} tests: detected {detected:>3} ({:.0} %), right technique {right:>3} ({:.0} %)",
                pct(detected),
                pct(right)
            );
        }
        let _ = writeln!(
            out,
            "  alerts from the harness's own setup and cleanup: {}",
            self.harness.len()
        );
        let _ =
            writeln!(out, "  false positives (outside the tests): {}", self.false_positives.len());
        for a in &self.false_positives {
            let _ = writeln!(out, "    {} {} `{}`: {}", a.kind, a.binary, a.cmdline, a.rule_list());
        }
        out
    }

    fn render_markdown(&self, tests: &[&Atomic], place: &str) -> String {
        let mut out = format!("### {} tests {place}\n\n", tests.len());
        out += "| # | atomic | test (GUID) | class | detected | right technique | rules | run here as |\n";
        out += "|---|---|---|---|---|---|---|---|\n";
        for (i, t) in tests.iter().enumerate() {
            let yes = |b: bool| if b { "yes" } else { "no" };
            let _ = writeln!(
                out,
                "| {} | {} #{} | {} (`{}`) | {} | {} | {} | {} | {} |",
                i + 1,
                t.technique,
                t.number,
                t.name,
                t.guid,
                t.class.name(),
                yes(!self.detected[i].is_empty()),
                yes(self.right(i, t)),
                self.rules_of(i),
                if t.note.is_empty() { "as published" } else { t.note }
            );
        }
        out += "\n| class | tests | detected | right technique |\n|---|---|---|---|\n";
        for (class, n, detected, right) in self.totals(tests) {
            let pct = |k: usize| 100.0 * k as f64 / n as f64;
            let _ = writeln!(
                out,
                "| {class} | {n} | {detected} ({:.0} %) | {right} ({:.0} %) |",
                pct(detected),
                pct(right)
            );
        }
        let _ = writeln!(
            out,
            "\nFalse positives (alerts outside the tests): {}. Alerts from the harness's own setup and cleanup: {}.",
            self.false_positives.len(),
            self.harness.len()
        );
        for a in &self.false_positives {
            let _ = writeln!(
                out,
                "- `{}` {} (`{}`): {}",
                a.kind,
                a.binary,
                a.cmdline.replace('|', "\\|"),
                a.rule_list()
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(time: i64, pids: &[u64], rules: &[(&str, &str)]) -> Alert {
        Alert {
            time,
            pids: pids.to_vec(),
            kind: "process_exec".into(),
            binary: "/bin/x".into(),
            cmdline: "x".into(),
            rules: rules.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
        }
    }

    #[test]
    fn parses_the_agents_timestamps() {
        assert_eq!(parse_rfc3339_ns("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_ns("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
        // date -d 2026-12-03T12:00:00Z +%s
        assert_eq!(
            parse_rfc3339_ns("2026-12-03T12:00:00.000000007Z"),
            Some(1_796_299_200_000_000_007)
        );
        assert_eq!(parse_rfc3339_ns("2024-02-29T00:00:00Z"), Some(1_709_164_800_000_000_000));
        assert_eq!(parse_rfc3339_ns("not a time"), None);
    }

    #[test]
    fn techniques_match_exactly_or_through_the_parent() {
        assert!(technique_matches("T1548.001", "T1548.001"));
        assert!(technique_matches("T1548.001", "T1548"));
        assert!(technique_matches("T1036", "T1036.005"));
        assert!(!technique_matches("T1036.005", "T1036.003"));
        assert!(!technique_matches("T1070.003", "T1070.002"));
        assert!(!technique_matches("T1105", "T1059.004"));
    }

    #[test]
    fn alerts_are_placed_by_window_and_ancestry() {
        let windows = [
            Window { test: 0, phase: Phase::Setup, start: 100, end: 200 },
            Window { test: 0, phase: Phase::Run, start: 1_000_000_000, end: 2_000_000_000 },
            Window { test: 0, phase: Phase::Cleanup, start: 2_500_000_000, end: 2_600_000_000 },
        ];
        let harness = 42;
        // A descendant of the bench during the run: a detection.
        let a = alert(1_500_000_000, &[7, 6, 42, 1], &[("PAL-1", "T1")]);
        assert_eq!(place(&a, &windows, harness), Placement::Detection(0));
        // Within the clock slack of the run's end.
        let a = alert(2_000_000_000 + SLACK_NS, &[7, 42], &[("PAL-1", "T1")]);
        assert_eq!(place(&a, &windows, harness), Placement::Detection(0));
        // The bench's own cleanup.
        let a = alert(2_550_000_000, &[8, 42], &[("PAL-1", "T1")]);
        assert_eq!(place(&a, &windows, harness), Placement::Harness(0));
        // Another process during the run, and a descendant between windows.
        let a = alert(1_500_000_000, &[9, 1], &[("PAL-1", "T1")]);
        assert_eq!(place(&a, &windows, harness), Placement::FalsePositive);
        let a = alert(2_200_000_000, &[9, 42], &[("PAL-1", "T1")]);
        assert_eq!(place(&a, &windows, harness), Placement::FalsePositive);
    }

    #[test]
    fn totals_count_detection_and_technique() {
        let tests: Vec<&Atomic> = ATOMICS.iter().take(2).collect();
        let windows = [
            Window { test: 0, phase: Phase::Run, start: 0, end: 1_000 },
            Window { test: 1, phase: Phase::Run, start: 1_000_000_000, end: 1_000_001_000 },
        ];
        let alerts = [
            alert(500, &[1, 42], &[("PAL-X", tests[0].technique)]),
            alert(1_000_000_500, &[1, 42], &[("PAL-Y", "T9999")]),
            alert(5_000_000_000, &[3], &[("PAL-Z", "T1")]),
        ];
        let r = Results::compute(&tests, &windows, &alerts, 42);
        let all = r.totals(&tests).pop().expect("an `all` row");
        assert_eq!(all, ("all".to_string(), 2, 2, 1));
        assert_eq!(r.false_positives.len(), 1);
    }

    #[test]
    fn the_table_is_well_formed() {
        let mut guids = std::collections::HashSet::new();
        for a in ATOMICS {
            assert!(a.technique.starts_with('T'), "{}", a.guid);
            assert_eq!(a.guid.len(), 36, "{}", a.guid);
            assert!(guids.insert(a.guid), "{} twice", a.guid);
            assert!(!a.run.trim().is_empty(), "{}", a.guid);
            for p in a.restores {
                assert!(p.starts_with('/'), "{}: {p}", a.guid);
            }
        }
    }
}
