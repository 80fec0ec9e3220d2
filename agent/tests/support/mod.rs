//! Runs the real `palisade` binary as a child process and reads its events.
//!
//! The agent loads its eBPF programs into the running kernel; the tests then
//! start real processes and wait for the matching events on its stdout.

#![allow(dead_code)] // each test file uses a different part of this module

pub mod bundle;
pub mod bundle_server;
pub mod host;
pub mod kube_api;
pub mod mptcp;
pub mod ocsf;
pub mod otlp;
pub mod receiver;
pub mod records;
pub mod registry;
pub mod report_api;
pub mod runc;
pub mod scrape;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc::{self, Receiver, RecvTimeoutError},
    time::{Duration, Instant},
};

use serde_json::Value;

/// Generous: the same tests run in a VM under software emulation.
pub const WAIT: Duration = Duration::from_secs(60);
/// How long the agent may take to start: under software emulation, attaching
/// the BPF-LSM program waits for an RCU-tasks grace period, seen to exceed a
/// minute in the 6.1 VM.
pub const START_WAIT: Duration = Duration::from_secs(240);
/// Scheduling slack allowed on top of a latency bound: these machines are
/// shared, and the VM runs under software emulation.
pub const SLACK: Duration = Duration::from_secs(1);

pub struct Agent {
    child: Child,
    events: Receiver<Value>,
    /// Every line the agent logged on stderr, for failure messages.
    logs: Receiver<String>,
    seen: Vec<Value>,
    logs_seen: Vec<String>,
}

impl Agent {
    /// Starts `palisade run` and waits until it reports that it is running.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    pub fn start_with(extra_args: &[&str]) -> Self {
        Self::start_with_env(extra_args, &[])
    }

    /// Starts `palisade run` with `extra_args` and environment `env` added.
    pub fn start_with_env(extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        trace("starting the agent", Instant::now());
        let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .arg("run")
            .args(extra_args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("palisade starts");
        let (event_tx, events) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
                    panic!("agent printed a line that is not JSON ({e}): {line}")
                });
                if event_tx.send(value).is_err() {
                    break;
                }
            }
        });
        let (log_tx, logs) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("[agent] {line}");
                if log_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut agent = Agent { child, events, logs, seen: Vec::new(), logs_seen: Vec::new() };
        agent.wait_for_log_within("palisade is running", START_WAIT);
        agent
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The first log line (logged before or arriving now) containing
    /// `needle`; panics if the agent exits or the wait runs out first.
    pub fn wait_for_log(&mut self, needle: &str) -> String {
        self.wait_for_log_within(needle, WAIT)
    }

    pub fn wait_for_log_within(&mut self, needle: &str, wait: Duration) -> String {
        if let Some(line) = self.logs_seen.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.logs.recv_timeout(left) {
                Ok(line) => {
                    self.logs_seen.push(line.clone());
                    if line.contains(needle) {
                        trace(&format!("log `{needle}`"), deadline - wait);
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no agent log line with `{needle}` within {wait:?}")
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().expect("wait");
                    panic!("the agent exited ({status}) before logging `{needle}`")
                }
            }
        }
    }

    /// Waits for the first event (seen before or arriving now) matching
    /// `pred`; panics naming `what` if none arrives in time.
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(found) = self.seen.iter().find(|e| pred(e)) {
            return found.clone();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) => {
                    let matched = pred(&event);
                    self.seen.push(event.clone());
                    if matched {
                        trace(what, deadline - WAIT);
                        return event;
                    }
                }
                Err(_) => panic!(
                    "no event for {what} within {WAIT:?}; {} events seen, agent alive: {}",
                    self.seen.len(),
                    self.is_alive()
                ),
            }
        }
    }

    /// Every event received so far, after draining what is queued.
    pub fn drain(&mut self) -> &[Value] {
        while let Ok(event) = self.events.try_recv() {
            self.seen.push(event);
        }
        &self.seen
    }

    pub fn is_alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // SIGTERM, so the agent detaches and exits cleanly.
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let started = Instant::now();
        let deadline = started + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                trace("the agent's exit after SIGTERM", started);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The event of `kind` for process `pid`, with `binary` (when given).
pub fn is(kind: &str, pid: u32, binary: Option<&str>) -> impl Fn(&Value) -> bool {
    let (kind, binary) = (kind.to_string(), binary.map(str::to_string));
    move |e: &Value| {
        e["kind"] == kind.as_str()
            && e["process"]["pid"] == pid
            && binary.as_deref().is_none_or(|b| e["process"]["binary"] == b)
    }
}

/// A string field as &str, panicking with the event when it is not one.
pub fn str_of<'a>(event: &'a Value, pointer: &str) -> &'a str {
    event
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{pointer} is not a string in {event}"))
}

/// `now + secs` as RFC 3339 UTC, to the second.
pub fn rfc3339_in(secs: u64) -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        + secs;
    let (days, rem) = ((t / 86_400) as i64, t % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's
/// days-to-civil, for the tests' RFC 3339 writers.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Notes on stderr (shown on failure, or with `--nocapture`) when a wait
/// begun at `since` ended, and when since the first note: where a slow test
/// spends its time, e.g. under the VM's emulation.
pub fn trace(what: &str, since: Instant) {
    static FIRST: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let first = FIRST.get_or_init(|| since);
    eprintln!(
        "[test +{:.2}s] {what}: {:.2}s",
        first.elapsed().as_secs_f64(),
        since.elapsed().as_secs_f64()
    );
}

/// `schema/event.schema.json`, compiled: what every native record must match.
pub fn event_schema() -> jsonschema::Validator {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/event.schema.json");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the schema file"))
            .expect("the schema is JSON");
    let started = Instant::now();
    let validator = jsonschema::draft202012::new(&schema).expect("a valid JSON Schema");
    trace("compiling the event schema", started);
    validator
}

/// Panics, naming every error, unless `record` matches the event schema.
pub fn assert_schema(record: &Value) {
    let validator = event_schema();
    let errors: Vec<String> =
        validator.iter_errors(record).map(|e| format!("{e} at {}", e.instance_path)).collect();
    assert!(errors.is_empty(), "record does not match the schema: {errors:#?}\n{record:#}");
}
