//! A real OTLP/HTTP logs receiver: `otlp_receiver.py`, which decodes each
//! request with the official `opentelemetry-proto` messages (installed by
//! `cargo xtask setup` into its virtualenv) and writes what it received,
//! one JSON line per request, to a file that outlives restarts.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use serde_json::Value;

const PYTHON: &str = "/opt/palisade-toolchain/deploy-venv/bin/python";

pub struct OtlpReceiver {
    child: Child,
}

impl OtlpReceiver {
    /// Listens on `port`, appending to `out`; `answers` are used one per
    /// request (`429:SECS`, `partial:N`), then every request is accepted.
    pub fn start(port: u16, out: &Path, answers: &[&str]) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/otlp_receiver.py");
        let mut child = Command::new(PYTHON)
            .arg(script)
            .arg(port.to_string())
            .arg(out)
            .args(answers)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{PYTHON}: {e} (run `cargo xtask setup`)"));
        let mut ready = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut ready).unwrap();
        assert_eq!(ready.trim(), "ready", "the OTLP receiver did not start");
        OtlpReceiver { child }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every request the receiver wrote to `out`, in arrival order.
pub fn requests(out: &PathBuf) -> Vec<Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A LogRecord's attribute `key`, as the protobuf JSON mapping writes it
/// (`{"stringValue": ...}`, `{"intValue": "42"}`, ...).
pub fn attribute<'r>(record: &'r Value, key: &str) -> Option<&'r Value> {
    let attributes = record["attributes"].as_array()?;
    let kv = attributes.iter().find(|kv| kv["key"] == key)?;
    kv["value"].as_object()?.values().next()
}
