//! The process sensor on the real kernel: real programs loaded by the real
//! agent binary, real processes started here, exact events asserted.
//! Runs as root (CI and `cargo xtask test` do), on the host kernel and in the
//! 6.1 VM (`cargo xtask vm-test`).

mod support;

use std::{
    ffi::OsStr,
    io::Write,
    os::unix::{
        ffi::OsStrExt,
        fs::{MetadataExt, PermissionsExt},
    },
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use support::{Agent, is, str_of};

/// A fresh directory for one test.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("palisade-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir.canonicalize().expect("canonical scratch dir")
}

fn canonical(path: &str) -> String {
    std::fs::canonicalize(path).expect("path exists").to_str().expect("utf-8").to_string()
}

fn args_of(event: &Value) -> Vec<&str> {
    event["process"]["args"]
        .as_array()
        .unwrap_or_else(|| panic!("args is not an array in {event}"))
        .iter()
        .map(|a| a.as_str().unwrap_or_else(|| panic!("arg is not a string in {event}")))
        .collect()
}

#[test]
fn exec_and_exit_carry_binary_args_ids_cwd_ancestry_and_status() {
    let mut agent = Agent::start();
    let me = std::process::id();
    let cwd = scratch_dir("cwd");
    let mut child = Command::new("/bin/sh")
        .args(["-c", r#"exec /usr/bin/env true one "two words""#])
        .current_dir(&cwd)
        .spawn()
        .expect("spawn sh");
    let pid = child.id();
    assert!(child.wait().expect("wait").success());

    // sh itself, then env replacing it (same pid), then true replacing env.
    let sh = agent.wait_for("exec of sh", is("process_exec", pid, Some(&canonical("/bin/sh"))));
    assert_eq!(args_of(&sh), ["/bin/sh", "-c", r#"exec /usr/bin/env true one "two words""#]);
    let env = agent.wait_for("exec of env", is("process_exec", pid, Some("/usr/bin/env")));
    assert_eq!(args_of(&env), ["/usr/bin/env", "true", "one", "two words"]);

    let p = &env["process"];
    assert_eq!(p["ppid"], me);
    // SAFETY: no preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    assert_eq!((p["uid"].clone(), p["gid"].clone()), (uid.into(), gid.into()));
    assert_eq!((p["euid"].clone(), p["egid"].clone()), (uid.into(), gid.into()));
    assert_eq!(str_of(&env, "/process/cwd"), cwd.to_str().unwrap());
    assert_eq!(str_of(&env, "/process/filename"), "/usr/bin/env");
    assert_eq!(str_of(&env, "/process/comm"), "env");
    let meta = std::fs::metadata("/usr/bin/env").unwrap();
    assert_eq!(p["exe"]["inode"], meta.ino());
    assert_eq!(p["exe"]["dev"], meta.dev());
    assert!(p["cgroup_id"].as_u64().is_some_and(|id| id > 0), "cgroup id in {env}");
    assert!(p["args_truncated"].is_null(), "not truncated: {env}");

    // Ancestry: this test process (known from /proc, it predates the agent),
    // then its own parents, up to the top.
    let ancestors = p["ancestors"].as_array().expect("ancestors");
    assert_eq!(ancestors[0]["pid"], me);
    let me_exe = std::env::current_exe().unwrap();
    assert_eq!(ancestors[0]["binary"], me_exe.to_str().unwrap());
    assert!(ancestors.len() >= 2, "parents of the test process are known: {env}");
    assert_eq!(ancestors.last().unwrap()["pid"], 1, "ancestry reaches pid 1: {env}");

    // Envelope.
    assert_eq!(env["schema"], "palisade.event/v1");
    assert!(str_of(&env, "/id").len() > 10);
    let time = str_of(&env, "/time");
    assert!(
        time.len() == 30 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "RFC 3339 ns: {time}"
    );
    assert!(!str_of(&env, "/node").is_empty());

    let tru = agent.wait_for("exec of true", |e| {
        is("process_exec", pid, None)(e) && str_of(e, "/process/binary").ends_with("/true")
    });
    assert_eq!(args_of(&tru), ["true", "one", "two words"]);
    assert_ne!(str_of(&tru, "/id"), str_of(&env, "/id"));

    let exit = agent.wait_for("exit", is("process_exit", pid, None));
    assert_eq!(exit["exit"]["code"], 0);
    assert!(exit["exit"]["signal"].is_null());
    assert!(str_of(&exit, "/process/binary").ends_with("/true"), "exit knows the program: {exit}");
    assert!(exit["exit"]["duration_ns"].as_u64().is_some_and(|d| d > 0));

    let own = agent.pid();
    assert!(
        agent.drain().iter().all(|e| e["process"]["pid"] != own),
        "the agent reported its own activity"
    );
}

#[test]
fn exit_codes_and_killing_signals_are_reported() {
    let mut agent = Agent::start();
    let run = |script: &str| {
        let mut child = Command::new("/bin/sh").args(["-c", script]).spawn().expect("spawn");
        let pid = child.id();
        child.wait().expect("wait");
        pid
    };
    let exited = run("exit 3");
    let killed = run("kill -9 $$");
    let e = agent.wait_for("exit 3", is("process_exit", exited, None));
    assert_eq!((e["exit"]["code"].clone(), e["exit"]["signal"].clone()), (3.into(), Value::Null));
    let e = agent.wait_for("SIGKILL", is("process_exit", killed, None));
    assert_eq!((e["exit"]["code"].clone(), e["exit"]["signal"].clone()), (Value::Null, 9.into()));
}

#[test]
fn huge_argv_is_truncated_and_flagged_and_the_agent_carries_on() {
    // With the eBPF programs' own log asked for: the exec program says
    // where the verifier's bound cut argv, and the agent logs it.
    let mut agent = Agent::start_with(&["--log", "info,palisade::kernel::log=debug"]);
    let many: Vec<String> = (0..5000).map(|i| format!("arg-{i}")).collect();
    let big = "x".repeat(100 * 1024);
    let run = |args: &[String]| {
        let mut child = Command::new("/usr/bin/true").args(args).spawn().expect("spawn true");
        child.wait().expect("wait");
        child.id()
    };

    let pid = run(&many);
    let e = agent.wait_for("exec with 5000 args", is("process_exec", pid, Some("/usr/bin/true")));
    let total: usize = "/usr/bin/true".len() + 1 + many.iter().map(|a| a.len() + 1).sum::<usize>();
    assert_eq!(e["process"]["args_truncated"], true);
    assert_eq!(e["process"]["args_total_bytes"], total);
    let line = agent.wait_for_log(&format!("pid {pid}: argv of {total} bytes cut to its first"));
    assert!(line.contains("DEBUG") && line.contains("palisade::kernel::log"), "{line}");
    assert!(line.contains("ebpf/src/diag.rs:"), "the eBPF source line: {line}");
    let args = args_of(&e);
    assert_eq!(&args[..3], ["/usr/bin/true", "arg-0", "arg-1"]);
    assert!(args.len() > 100 && args.len() < 5001, "a prefix of argv: {} args", args.len());
    // The complete ones are exact; only the last may be cut.
    for (i, a) in args[1..args.len() - 1].iter().enumerate() {
        assert_eq!(*a, format!("arg-{i}"));
    }

    let pid = run(std::slice::from_ref(&big));
    let e =
        agent.wait_for("exec with a 100 KiB arg", is("process_exec", pid, Some("/usr/bin/true")));
    assert_eq!(e["process"]["args_truncated"], true);
    assert_eq!(e["process"]["args_total_bytes"], "/usr/bin/true".len() + 1 + big.len() + 1);
    let args = args_of(&e);
    assert_eq!(args.len(), 2);
    assert!(args[1].len() > 4000 && big.starts_with(args[1]), "a prefix of the big arg");

    // The agent is unharmed and keeps reporting.
    let pid = run(&["after".to_string()]);
    let e =
        agent.wait_for("exec after the big ones", is("process_exec", pid, Some("/usr/bin/true")));
    assert_eq!(args_of(&e), ["/usr/bin/true", "after"]);
    assert!(agent.is_alive());
}

/// The rules an event's decision matched.
fn matched_rules(event: &Value) -> Vec<&str> {
    let matched = event["decision"]["matched"].as_array();
    matched.into_iter().flatten().filter_map(|m| m["rule"].as_str()).collect()
}

#[test]
fn the_environment_at_exec_is_captured_judged_redacted_and_a_padded_one_flagged() {
    // The embedded baseline: its config names the variables to capture,
    // and its rules judge them.
    let mut agent = Agent::start();
    // Command sorts the environment by name: the padding comes first.
    let run = |program: &str, args: &[&str], env: &[(&str, &str)]| {
        let mut child = Command::new(program)
            .args(args)
            .env_clear()
            .envs(env.iter().copied())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        child.wait().expect("wait");
        child.id()
    };

    let vars = [
        ("HISTFILE", "/dev/null"),
        ("HOME", "/root"),
        ("LD_PRELOAD", "/nonexistent.so"),
        ("https_proxy", "http://bob:pa55@proxy.example.com:3128"),
    ];
    let pid = run("/bin/sh", &["-c", "exit 0"], &vars);
    let sh = agent.wait_for("exec of sh", is("process_exec", pid, Some(&canonical("/bin/sh"))));
    let env = &sh["process"]["env"];
    assert_eq!(
        env,
        &serde_json::json!({
            "HISTFILE": "/dev/null",
            "LD_PRELOAD": "/nonexistent.so",
            "https_proxy": "http://bob:[REDACTED]@proxy.example.com:3128",
        }),
        "only the configured variables, the proxy's password redacted: {sh}"
    );
    assert!(sh["process"]["env_truncated"].is_null(), "{sh}");
    let rules = matched_rules(&sh);
    assert!(rules.contains(&"PAL-025"), "LD_PRELOAD from / judged: {sh}");
    assert!(rules.contains(&"PAL-024"), "a shell with HISTFILE=/dev/null judged: {sh}");

    // A padded environment: LD_PRELOAD lies past the kernel's window, and
    // the event says the environment was cut.
    let pad = "x".repeat(8192);
    let padded = [("AAAA_PAD", pad.as_str()), ("LD_PRELOAD", "/nonexistent.so")];
    let pid = run("/usr/bin/true", &[], &padded);
    let e = agent.wait_for("padded exec", is("process_exec", pid, Some("/usr/bin/true")));
    let total: usize = padded.iter().map(|(k, v)| k.len() + 1 + v.len() + 1).sum();
    assert_eq!(e["process"]["env_truncated"], true, "{e}");
    assert_eq!(e["process"]["env_total_bytes"], total, "{e}");
    assert!(e["process"]["env"].is_null(), "nothing captured past the window: {e}");

    // A multi-call binary called by its own name is judged as its applet:
    // `busybox awk` running a shell through system() is a reverse-shell
    // spawn (PAL-002).
    let pid =
        run("/bin/busybox", &["awk", "BEGIN{system(\"/bin/true\"); system(\"sh -c true\")}"], &[]);
    let e =
        agent.wait_for("busybox awk", is("process_exec", pid, Some(&canonical("/bin/busybox"))));
    assert!(matched_rules(&e).contains(&"PAL-002"), "busybox awk judged as awk: {e}");
}

#[test]
fn a_path_with_a_newline_and_non_utf8_bytes_is_kept_exactly() {
    let mut agent = Agent::start();
    let dir = scratch_dir("names");
    let mut path = dir.as_os_str().as_bytes().to_vec();
    path.extend_from_slice(b"/odd\nname \xff\xfe");
    let path = PathBuf::from(OsStr::from_bytes(&path));
    std::fs::copy("/usr/bin/true", &path).expect("copy true");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut child = Command::new(&path).arg(OsStr::from_bytes(b"arg\xff")).spawn().expect("spawn");
    let pid = child.id();
    assert!(child.wait().unwrap().success());

    let e = agent.wait_for("exec of the oddly named binary", is("process_exec", pid, None));
    let binary = &e["process"]["binary"];
    assert_eq!(
        base64_decode(str_of(binary, "/base64")),
        path.as_os_str().as_bytes(),
        "exact bytes: {e}"
    );
    assert!(str_of(binary, "/text").contains("odd\nname "), "a readable rendering: {e}");
    assert_eq!(base64_decode(str_of(&e, "/process/args/1/base64")), b"arg\xff");
    assert_eq!(e["process"]["args"][0]["base64"], e["process"]["filename"]["base64"]);
}

#[test]
fn processes_that_predate_the_agent_are_in_the_ancestry() {
    // A shell that starts before the agent and waits for a line on stdin.
    let mut shell = Command::new("/bin/sh")
        .args(["-c", "read line; /usr/bin/true from-old-shell"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn sh");
    let mut agent = Agent::start();
    shell.stdin.take().unwrap().write_all(b"go\n").unwrap();
    assert!(shell.wait().unwrap().success());

    let e = agent.wait_for("exec from the old shell", |e| {
        e["kind"] == "process_exec" && e["process"]["args"][1] == "from-old-shell"
    });
    let ancestors = e["process"]["ancestors"].as_array().unwrap();
    assert_eq!(ancestors[0]["pid"], shell.id());
    assert_eq!(ancestors[0]["binary"], canonical("/bin/sh"), "known from /proc: {e}");
    assert_eq!(ancestors[1]["pid"], std::process::id());
}

#[test]
fn kernel_drops_are_counted_and_reported_within_a_second() {
    // A 16 KiB ring buffer holds at most one exec record with an 8 KiB argv.
    let mut agent = Agent::start_with(&["--ring-buffer-kib", "16"]);
    let agent_pid = agent.pid() as i32;
    // SAFETY: signals to our own child.
    unsafe { libc::kill(agent_pid, libc::SIGSTOP) };
    let arg = "y".repeat(8000);
    for _ in 0..10 {
        Command::new("/usr/bin/true").arg(&arg).status().expect("run true");
    }
    let resumed = Instant::now();
    // SAFETY: as above.
    unsafe { libc::kill(agent_pid, libc::SIGCONT) };
    let line = agent.wait_for_log("dropped records");
    let waited = resumed.elapsed();
    assert!(line.contains("process_exec"), "the drop names its kind: {line}");
    assert!(waited < Duration::from_secs(1) + support::SLACK, "reported after {waited:?}");
    assert!(agent.is_alive());
}

#[test]
fn not_root_is_refused_with_one_clear_sentence() {
    let out = Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_palisade"))
        .arg("run")
        .output()
        .expect("run setpriv");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("palisade must run as root"), "stderr: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

/// Decodes standard base64, panicking on anything else.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {text}"),
        }
    };
    let mut out = Vec::new();
    for chunk in text.as_bytes().chunks(4) {
        let data: Vec<u8> = chunk.iter().copied().filter(|&c| c != b'=').collect();
        let n = data.iter().enumerate().fold(0u32, |n, (i, &c)| n | value(c) << (18 - 6 * i));
        for i in 0..data.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

#[test]
fn base64_decode_helper_is_right() {
    assert_eq!(base64_decode("Zm9vYmE="), b"fooba");
    assert_eq!(base64_decode("eP95"), b"x\xffy");
}
