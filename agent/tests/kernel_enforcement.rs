//! In-kernel enforcement, end to end: the real agent loads its hooks into the
//! running kernel, a bundle's kernel rules go into the pinned maps, and real
//! processes and sockets meet them. Asserted on what the kernel does (the
//! exit signal, the errno, the file that never appears), not on the agent's
//! word.
//!
//! The same tests run on the host (SIGKILL at exec: trampolines are refused
//! there) and in the 6.1 VM with BPF-LSM active (execve fails with EPERM);
//! `palisade probe` says which, and the tests expect accordingly.

mod support;

use std::{
    io::ErrorKind,
    net::{TcpListener, TcpStream, UdpSocket},
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;
use support::{Agent, WAIT, bundle::TempBundle, host::CleanKernel, rfc3339_in, str_of};

const RULE_ID: &str = "T-KERNEL";
const DENIED_V4_PORT: u16 = 47_001;
const DENIED_V6_PORT: u16 = 47_002;
const DENIED_UDP_PORT: u16 = 47_003;

/// A rule the kernel enforces: the executables at `paths`, TCP to
/// 127.0.0.2:DENIED_V4_PORT, anything to [::1]:DENIED_V6_PORT, UDP to
/// 127.0.0.3. Its Rego never matches, so every match in the events comes
/// from the kernel hook.
fn kernel_rule(paths: &[&Path]) -> String {
    let paths: Vec<String> =
        paths.iter().map(|p| format!("{:?}", p.display().to_string())).collect();
    format!(
        r#"package palisade.rules.kernel_deny

import rego.v1

meta := {{"id": "{RULE_ID}", "title": "denied in the kernel", "severity": "high", "mitre": "T1059", "action": "block", "kinds": ["process_exec", "network_connect"]}}

kernel := {{
	"exec": {{"paths": [{}]}},
	"connect": [
		{{"cidr": "127.0.0.2/32", "ports": [{DENIED_V4_PORT}], "protocols": ["tcp"]}},
		{{"cidr": "::1", "ports": [{DENIED_V6_PORT}]}},
		{{"cidr": "127.0.0.3", "protocols": ["udp"]}},
	],
}}

hits contains "never" if false
"#,
        paths.join(", ")
    )
}

fn bundle(name: &str, mode: &str, denied: &[&Path]) -> TempBundle {
    let b = TempBundle::new(name);
    b.write("rules/kernel_deny.rego", &kernel_rule(denied)).write(
        support::bundle::CONFIG_FILE,
        &format!(r#"{{"mode": "{mode}", "rule_modes": {{}}}}"#),
    );
    b
}

fn palisade(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_palisade")).args(args).output().expect("palisade runs")
}

fn probe() -> Value {
    let out = palisade(&["probe", "--json"]);
    assert!(out.status.success(), "probe: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("probe prints JSON")
}

fn exec_mechanism() -> String {
    probe()["mechanisms"]["exec"].as_str().expect("exec mechanism").to_string()
}

/// Sends one datagram over a UDP-Lite socket (the standard library has no
/// such socket type).
fn udplite_send(ip: &str, port: u16) -> std::io::Result<()> {
    const IPPROTO_UDPLITE: i32 = 136;
    // SAFETY: plain socket calls on a descriptor this function owns.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, IPPROTO_UDPLITE);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let addr = libc::sockaddr_in {
            sin_family: libc::AF_INET as u16,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(ip.parse::<std::net::Ipv4Addr>().unwrap()).to_be(),
            },
            sin_zero: [0; 8],
        };
        let sent = libc::sendto(
            fd,
            b"x".as_ptr().cast(),
            1,
            0,
            (&raw const addr).cast(),
            size_of::<libc::sockaddr_in>() as u32,
        );
        let result = if sent < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) };
        libc::close(fd);
        result
    }
}

/// A scratch directory holding a copy of the system shell as `denied/sh`,
/// a symlink `link/sh` and a hard link `hard/sh` to it. All are called `sh`
/// so a multi-call shell binary still behaves as a shell.
struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("palisade-enforce-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["denied", "link", "hard", "out"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let real_sh = std::fs::canonicalize("/bin/sh").unwrap();
        std::fs::copy(&real_sh, dir.join("denied/sh")).unwrap();
        std::os::unix::fs::symlink(dir.join("denied/sh"), dir.join("link/sh")).unwrap();
        std::fs::hard_link(dir.join("denied/sh"), dir.join("hard/sh")).unwrap();
        Binaries { dir }
    }

    fn denied(&self) -> PathBuf {
        self.dir.join("denied/sh")
    }

    fn spellings(&self) -> [PathBuf; 3] {
        [self.denied(), self.dir.join("link/sh"), self.dir.join("hard/sh")]
    }

    fn out(&self, name: &str) -> PathBuf {
        self.dir.join("out").join(name)
    }
}

impl Drop for Binaries {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How running `shell -c 'echo > file'` ended.
#[derive(Debug, PartialEq)]
enum Outcome {
    Ran,
    Killed,
    Refused,
}

fn run_shell_writing(shell: &Path, file: &Path) -> Outcome {
    match Command::new(shell).arg("-c").arg(format!("echo ran > {}", file.display())).status() {
        Ok(status) if status.signal() == Some(libc::SIGKILL) => Outcome::Killed,
        Ok(status) => {
            assert!(status.success(), "{} failed: {status}", shell.display());
            Outcome::Ran
        }
        Err(err) if err.raw_os_error() == Some(libc::EPERM) => Outcome::Refused,
        Err(err) => panic!("cannot run {}: {err}", shell.display()),
    }
}

fn stopped_outcome(mechanism: &str) -> Outcome {
    match mechanism {
        "bpf-lsm" => Outcome::Refused,
        "sigkill-at-exec" => Outcome::Killed,
        other => panic!("this kernel offers no exec enforcement ({other}); the tests need one"),
    }
}

#[test]
fn probe_picks_the_best_exec_mechanism_the_kernel_allows() {
    let p = probe();
    let cap = |name: &str| {
        p["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no capability {name} in {p}"))["available"]
            .as_bool()
            .unwrap()
    };
    let exec = p["mechanisms"]["exec"].as_str().unwrap();
    if cap("bpf_lsm_active") && cap("lsm_programs") {
        assert_eq!(exec, "bpf-lsm", "{p:#}");
    } else {
        assert!(cap("bpf_send_signal"), "{p:#}");
        assert_eq!(exec, "sigkill-at-exec", "{p:#}");
    }
    assert_eq!(p["mechanisms"]["network"], "cgroup-sock-addr", "{p:#}");
    // The VM runner says which mechanism its kernel must give.
    if let Ok(expected) = std::env::var("PALISADE_EXPECT_EXEC_MECHANISM") {
        assert_eq!(exec, expected, "{p:#}");
    }
    let table = palisade(&["probe"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains(&format!("exec enforcement:    {exec}")), "{table}");
}

#[test]
fn a_denied_binary_is_stopped_before_it_runs_whatever_the_path_spelling() {
    let _clean = CleanKernel::new();
    let bins = Binaries::new("spellings");
    let b = bundle("spellings", "enforce", &[&bins.denied()]);
    let mut agent = Agent::start_with(&["--policy", b.path().to_str().unwrap()]);
    agent.wait_for_log("kernel rules in force");
    let expected = stopped_outcome(&exec_mechanism());

    for (i, shell) in bins.spellings().iter().enumerate() {
        let file = bins.out(&format!("denied-{i}"));
        assert_eq!(run_shell_writing(shell, &file), expected, "{}", shell.display());
        assert!(!file.exists(), "{} ran and wrote {}", shell.display(), file.display());
    }
    // The real shell, a different file, is untouched.
    let allowed = bins.out("allowed");
    assert_eq!(run_shell_writing(Path::new("/bin/sh"), &allowed), Outcome::Ran);
    assert!(allowed.exists());

    // The event says the kernel acted, how, and under which rule.
    let denied = bins.denied();
    let denied = denied.to_str().unwrap();
    let event = agent.wait_for("denied exec event", |e| {
        e["kind"] == "process_exec"
            && e["process"]["exe"].is_object()
            && e["decision"]["enforcement"]["rule"] == RULE_ID
            && (str_of(e, "/process/binary") == denied || str_of(e, "/process/filename") == denied)
    });
    let enforcement = &event["decision"]["enforcement"];
    assert_eq!(enforcement["mechanism"], exec_mechanism().as_str(), "{event:#}");
    let result = if expected == Outcome::Killed { "killed" } else { "denied" };
    assert_eq!(enforcement["result"], result, "{event:#}");
    assert_eq!(event["decision"]["action"], "block", "{event:#}");
    assert_eq!(event["decision"]["matched"][0]["rule"], RULE_ID, "{event:#}");
}

#[test]
fn denied_destinations_fail_with_eperm_and_allowed_ones_connect() {
    let _clean = CleanKernel::new();
    let b = bundle("network", "enforce", &[]);
    let mut agent = Agent::start_with(&["--policy", b.path().to_str().unwrap()]);
    agent.wait_for_log("kernel rules in force");

    let eperm = |result: std::io::Result<()>, what: &str| match result {
        Err(err) if err.raw_os_error() == Some(libc::EPERM) => {}
        other => panic!("{what}: expected EPERM, got {other:?}"),
    };
    eperm(TcpStream::connect(("127.0.0.2", DENIED_V4_PORT)).map(drop), "TCP to 127.0.0.2");
    eperm(TcpStream::connect(("::1", DENIED_V6_PORT)).map(drop), "TCP to [::1]");
    // A dual-stack socket reaching the IPv4 destination through a mapped
    // address is judged by the IPv4 rule.
    eperm(
        TcpStream::connect(("::ffff:127.0.0.2", DENIED_V4_PORT)).map(drop),
        "TCP to [::ffff:127.0.0.2]",
    );
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    eperm(udp.send_to(b"x", ("127.0.0.3", DENIED_UDP_PORT)).map(drop), "UDP to 127.0.0.3");
    // UDP-Lite is a socket type of its own (protocol 136); a rule naming
    // `udp` holds for it too.
    eperm(udplite_send("127.0.0.3", DENIED_UDP_PORT), "UDP-Lite to 127.0.0.3");

    // Allowed: a listener on 127.0.0.1 and one on [::1], on other ports.
    let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
    TcpStream::connect(v4.local_addr().unwrap()).expect("TCP to an allowed IPv4 destination");
    let v6 = TcpListener::bind("[::1]:0").unwrap();
    TcpStream::connect(v6.local_addr().unwrap()).expect("TCP to an allowed IPv6 destination");
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.send_to(b"x", sink.local_addr().unwrap()).expect("UDP to an allowed destination");

    let me = std::process::id();
    for (daddr, dport, protocol, hook) in [
        ("127.0.0.2", DENIED_V4_PORT, "tcp", "connect"),
        ("::1", DENIED_V6_PORT, "tcp", "connect"),
        ("127.0.0.3", DENIED_UDP_PORT, "udp", "sendmsg"),
    ] {
        let event = agent.wait_for(&format!("network_connect to {daddr}"), |e| {
            e["kind"] == "network_connect"
                && e["process"]["pid"] == me
                && e["network"]["daddr"] == daddr
                && e["network"]["dport"] == dport
        });
        assert_eq!(event["network"]["protocol"], protocol, "{event:#}");
        assert_eq!(event["network"]["hook"], hook, "{event:#}");
        let enforcement = &event["decision"]["enforcement"];
        assert_eq!(enforcement["mechanism"], "cgroup-sock-addr", "{event:#}");
        assert_eq!(enforcement["result"], "denied", "{event:#}");
        assert_eq!(enforcement["rule"], RULE_ID, "{event:#}");
    }
    // The allowed connection is reported as an ordinary one: no decision.
    let allowed = v4.local_addr().unwrap();
    let event = agent.wait_for("the allowed connection", |e| {
        e["kind"] == "network_connect"
            && e["network"]["dport"] == allowed.port()
            && e["network"]["daddr"] == "127.0.0.1"
    });
    assert_eq!(event["network"]["result"], "established", "{event:#}");
    assert!(event.get("decision").is_none(), "{event:#}");
}

#[test]
fn audit_mode_reports_would_block_and_stops_nothing() {
    let _clean = CleanKernel::new();
    let bins = Binaries::new("audit");
    let b = bundle("audit", "audit", &[&bins.denied()]);
    let mut agent = Agent::start_with(&["--policy", b.path().to_str().unwrap()]);
    agent.wait_for_log("kernel rules in force");

    let file = bins.out("audited");
    assert_eq!(run_shell_writing(&bins.denied(), &file), Outcome::Ran);
    assert!(file.exists());
    let refused = TcpStream::connect(("127.0.0.2", DENIED_V4_PORT)).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused, "audit mode must not deny");

    let denied = bins.denied();
    let event = agent.wait_for("audited exec", |e| {
        e["kind"] == "process_exec" && e["process"]["binary"] == denied.to_str().unwrap()
    });
    let decision = &event["decision"];
    assert_eq!(decision["would_block"], true, "{event:#}");
    assert_eq!(decision["action"], "alert", "{event:#}");
    assert_eq!(decision["enforcement"]["result"], "reported", "{event:#}");
    assert_eq!(decision["enforcement"]["mechanism"], "none", "{event:#}");
    assert_eq!(decision["matched"][0]["mode"], "audit", "{event:#}");
}

/// Palisade's programs the kernel has loaded, by (kernel-truncated) name.
fn loaded_programs() -> Value {
    probe()["loaded"]["programs"].clone()
}

#[test]
fn enforcement_survives_a_killed_agent_and_the_next_one_takes_over_without_stacking() {
    let _clean = CleanKernel::new();
    let bins = Binaries::new("restart");
    let b = bundle("restart", "enforce", &[&bins.denied()]);
    let policy = b.path().to_str().unwrap();
    let expected = stopped_outcome(&exec_mechanism());

    let mut first = Agent::start_with(&["--policy", policy]);
    first.wait_for_log("kernel rules in force");
    // What one agent has in the kernel: the baseline to compare against.
    let one_agent = loaded_programs();
    assert_eq!(one_agent["palisade_exec"], 1, "{one_agent:#}");
    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(first.pid() as i32, libc::SIGKILL) };
    while first.is_alive() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let file = bins.out("while-down");
    assert_eq!(run_shell_writing(&bins.denied(), &file), expected, "agent down");
    assert!(!file.exists());
    let p = probe();
    assert!(
        p["loaded"]["pinned_links"].as_array().unwrap().iter().any(|l| l == "palisade_exec"),
        "{p:#}"
    );

    let mut second = Agent::start_with(&["--policy", policy]);
    second.wait_for_log("took over the pinned link of an earlier agent");
    second.wait_for_log("kernel rules in force");
    // The first agent's programs go once their pinned links are replaced
    // (the kernel frees them after an RCU grace period): one copy of each
    // program remains, exactly what one agent has.
    let deadline = Instant::now() + WAIT;
    while loaded_programs() != one_agent {
        assert!(
            Instant::now() < deadline,
            "programs loaded: {:#}, one agent has {one_agent:#}",
            loaded_programs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let file = bins.out("after-takeover");
    assert_eq!(run_shell_writing(&bins.denied(), &file), expected, "after takeover");
    assert!(!file.exists());
    drop(second);

    // The documented removal: everything goes, and the binary runs again.
    let out = palisade(&["unload"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("palisade_exec"));
    assert!(!Path::new("/sys/fs/bpf/palisade").exists());
    let file = bins.out("after-unload");
    assert_eq!(run_shell_writing(&bins.denied(), &file), Outcome::Ran);
    assert!(file.exists());
}

/// A pinned enforcement map, opened as another root process on the node
/// would (`bpftool map update pinned ...`).
fn pinned_map(name: &str) -> aya::maps::MapData {
    let path = Path::new(palisade_common::names::PIN_DIR).join("maps").join(name);
    aya::maps::MapData::from_pin(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Another root process rewrites the pinned maps to switch enforcement
/// off: it flips the active generation and deletes the denied binary's
/// entries. The agent finds both within its check period (2 s), puts them
/// back, and exports a `tamper` record saying what it found; the binary is
/// stopped again. (The window in between is the attack's: what closes it
/// is the BPF-LSM `bpf` hook, not used yet, see the README.)
#[test]
fn tampered_enforcement_maps_are_put_back_and_recorded() {
    use aya::maps::{Array, HashMap as BpfHashMap, Map};
    use palisade_common::{
        enforce::{ExecInodeKey, Verdict},
        names,
    };
    let _clean = CleanKernel::new();
    let bins = Binaries::new("tamper");
    let b = bundle("tamper", "enforce", &[&bins.denied()]);
    let expected = stopped_outcome(&exec_mechanism());
    let mut agent = Agent::start_with(&["--policy", b.path().to_str().unwrap()]);
    agent.wait_for_log("kernel rules in force");
    assert_eq!(run_shell_writing(&bins.denied(), &bins.out("before")), expected);

    let mut active: Array<_, u32> =
        Array::try_from(Map::Array(pinned_map(names::MAP_ENFORCE_ACTIVE))).unwrap();
    let generation = active.get(&0, 0).unwrap();
    let mut inodes: BpfHashMap<_, ExecInodeKey, Verdict> =
        BpfHashMap::try_from(Map::HashMap(pinned_map(names::MAP_EXEC_DENY_INODE))).unwrap();
    let keys: Vec<ExecInodeKey> = inodes.keys().map(Result::unwrap).collect();
    assert!(!keys.is_empty(), "the denied binary has an entry");
    for key in &keys {
        inodes.remove(key).unwrap();
    }
    active.set(0, 1 - generation, 0).unwrap();

    let record = agent.wait_for("the tamper record", |e| e["kind"] == "tamper");
    support::assert_schema(&record);
    let tampering = &record["tampering"];
    assert_eq!(tampering["active_generation"], 1 - generation, "{record:#}");
    let inode_map = tampering["maps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["map"] == names::MAP_EXEC_DENY_INODE)
        .unwrap_or_else(|| panic!("no {} in {record:#}", names::MAP_EXEC_DENY_INODE));
    assert_eq!(inode_map["missing"], keys.len(), "{record:#}");
    assert_eq!(active.get(&0, 0).unwrap(), generation, "the generation is put back");
    assert_eq!(inodes.keys().count(), keys.len(), "the entries are put back");
    let file = bins.out("after");
    assert_eq!(run_shell_writing(&bins.denied(), &file), expected, "enforced again");
    assert!(!file.exists());
}

#[test]
fn a_policy_change_swaps_the_kernel_rules() {
    let _clean = CleanKernel::new();
    let (one, two) = (Binaries::new("swap-one"), Binaries::new("swap-two"));
    let b = bundle("swap", "enforce", &[&one.denied()]);
    let mut agent = Agent::start_with(&["--policy", b.path().to_str().unwrap()]);
    agent.wait_for_log("kernel rules in force");
    let expected = stopped_outcome(&exec_mechanism());
    assert_eq!(run_shell_writing(&one.denied(), &one.out("a")), expected);
    assert_eq!(run_shell_writing(&two.denied(), &two.out("a")), Outcome::Ran);

    b.write("rules/kernel_deny.rego", &kernel_rule(&[&two.denied()]));
    agent.wait_for_log("the new bundle's kernel rules are in force");
    assert_eq!(run_shell_writing(&one.denied(), &one.out("b")), Outcome::Ran);
    assert_eq!(run_shell_writing(&two.denied(), &two.out("b")), expected);
}

#[test]
fn an_exception_relaxes_a_kernel_rule_until_it_expires_then_the_kernel_denies_again() {
    let _clean = CleanKernel::new();
    let bins = Binaries::new("exception");
    let b = bundle("exception", "enforce", &[&bins.denied()]);
    // An exception whose scope names no workload (`{}`) carves the rule
    // out for every workload: while it is in force the kernel only reports
    // the rule's matches. (kernel_workloads.rs has exceptions that open one
    // workload and nothing else.)
    let exception = |expires: &str| {
        format!(
            r#"[{{"id": "EX-KERNEL", "rules": ["{RULE_ID}"], "scope": {{}}, "owner": "sre@example.com", "reason": "migration window", "expires": "{expires}"}}]"#
        )
    };
    b.write(support::bundle::EXCEPTIONS_FILE, &exception(&rfc3339_in(3600)));
    let mut agent = Agent::start_with(&["--policy", b.path().to_str().unwrap()]);
    let line = agent.wait_for_log("an exception carves this kernel rule out");
    assert!(line.contains(RULE_ID), "{line}");
    let expected = stopped_outcome(&exec_mechanism());
    assert_eq!(run_shell_writing(&bins.denied(), &bins.out("during")), Outcome::Ran);

    // Shorten it (hot reload); it still applies until it expires.
    let expires = rfc3339_in(4);
    b.write(support::bundle::EXCEPTIONS_FILE, &exception(&expires));
    agent.wait_for_log("the new bundle's kernel rules are in force");

    // After the expiry the agent re-arms the rule in the kernel by itself.
    let deadline = Instant::now() + WAIT;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = run_shell_writing(&bins.denied(), &bins.out(&format!("after-{attempt}")));
        if outcome == expected {
            break;
        }
        assert_eq!(outcome, Outcome::Ran);
        assert!(Instant::now() < deadline, "the rule was not re-armed after {expires}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let line = agent.wait_for_log("the kernel enforces it again");
    assert!(line.contains(RULE_ID), "{line}");
}

/// For the bypass tests: when run as `<this test binary> --exact
/// exec_helper` with `PALISADE_EXECVEAT=<shell>:<file>`, replaces itself
/// with `<shell> -c 'echo ran > <file>'` through `execveat(fd, "",
/// AT_EMPTY_PATH)`, and exits 126 if that fails. Without the variable it is
/// an empty test.
#[test]
fn exec_helper() {
    let Ok(spec) = std::env::var("PALISADE_EXECVEAT") else { return };
    let (shell, file) = spec.split_once(':').expect("shell:file");
    let c = |s: &str| std::ffi::CString::new(s).unwrap();
    let (path, dash_c, script) = (c(shell), c("-c"), c(&format!("echo ran > {file}")));
    let argv = [path.as_ptr(), dash_c.as_ptr(), script.as_ptr(), std::ptr::null()];
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    // SAFETY: NUL-terminated strings and NULL-terminated arrays that outlive
    // the calls; on success execveat does not return.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        assert!(fd >= 0, "cannot open {shell}");
        libc::syscall(
            libc::SYS_execveat,
            fd,
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
        libc::_exit(126);
    }
}

/// How a run of `cmd` that should write `file` ended, judged by the file.
fn wrote(mut cmd: Command, file: &Path) -> bool {
    let quiet = || std::process::Stdio::null();
    let _ = cmd.stdout(quiet()).stderr(quiet()).status();
    file.exists()
}

/// Each way of reaching a denied binary: stopped, or (where the kernel hook
/// cannot see it) documented as not covered in README "Known gaps", and
/// asserted here so the documentation stays true.
#[test]
fn bypass_attempts_are_stopped_or_documented() {
    let _clean = CleanKernel::new();
    let bins = Binaries::new("bypass");
    let b = bundle("bypass", "enforce", &[&bins.denied()]);
    let mut agent = Agent::start_with(&["--policy", b.path().to_str().unwrap()]);
    agent.wait_for_log("kernel rules in force");
    let denied = bins.denied();
    let denied_s = denied.to_str().unwrap();

    // Stopped: /proc/self/fd/N names the same file.
    let file = bins.out("proc-fd");
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(format!("exec 3< {denied_s}; /proc/self/fd/3 -c 'echo ran > {}'", file.display()));
    assert!(!wrote(cmd, &file), "exec through /proc/self/fd ran the denied binary");

    // Stopped: execveat(fd, "", AT_EMPTY_PATH), as fexecve does.
    let file = bins.out("execveat");
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "exec_helper", "--nocapture", "--test-threads=1"])
        .env("PALISADE_EXECVEAT", format!("{denied_s}:{}", file.display()));
    assert!(!wrote(cmd, &file), "execveat ran the denied binary");

    // Not covered: the dynamic loader maps the file instead of exec'ing it,
    // so no exec hook sees the denied file. (Documented.)
    let loader = ["/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    if let Some(loader) = loader {
        let file = bins.out("ld-so");
        let mut cmd = Command::new(loader);
        cmd.arg(&denied).arg("-c").arg(format!("echo ran > {}", file.display()));
        assert!(wrote(cmd, &file), "ld.so is now stopped: update README Known gaps");
    }

    // Not covered: a copy under another name is another file with another
    // name. (Documented; the drift issue addresses copies.)
    let copy = bins.dir.join("out/renamed");
    std::fs::copy(&denied, &copy).unwrap();
    let file = bins.out("copy");
    assert_eq!(run_shell_writing(&copy, &file), Outcome::Ran, "a renamed copy is now stopped");

    // Not covered: a copy in a memfd, executed through its fd. (Documented;
    // the baseline's fileless-exec rule reports it from userspace.)
    let name = std::ffi::CString::new("bypass").unwrap();
    // SAFETY: a valid name; the fd is ours and is inherited by the child.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), 0) };
    assert!(fd >= 0);
    let bytes = std::fs::read(&denied).unwrap();
    // SAFETY: writing our buffer to our fd.
    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    assert_eq!(n as usize, bytes.len());
    let file = bins.out("memfd");
    let ran = run_shell_writing(Path::new(&format!("/proc/self/fd/{fd}")), &file);
    // SAFETY: closing our fd.
    unsafe { libc::close(fd) };
    assert_eq!(ran, Outcome::Ran, "a memfd copy is now stopped: update README Known gaps");
}
