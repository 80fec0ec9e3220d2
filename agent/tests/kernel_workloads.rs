//! Kernel enforcement that follows the workload, end to end: real runc
//! containers in different pod namespaces (the CRI annotations containerd
//! writes), a host process, and bundles whose kernel rules are scoped to a
//! namespace, to pod labels or to the host, or carved out for one namespace
//! by an exception. Asserted on what the kernel does to the process (killed
//! before its first instruction, or an errno), never on the agent's word.
//!
//! Each container runs a copy of busybox named `scoped-tool`: run, it
//! prints "applet not found" and exits 127; stopped at exec by SIGKILL, the
//! shell that ran it reports 137; refused by BPF-LSM, 126. The 6.1 VM has no
//! runc, so there these tests print why and check nothing.

mod support;

use std::{
    net::TcpListener,
    os::unix::process::ExitStatusExt,
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

use support::{
    Agent, WAIT,
    bundle::TempBundle,
    rfc3339_in,
    runc::{Container, Host, Scratch, fresh_uid, host_or_skip},
};

/// The file name the kernel rules deny.
const TOOL: &str = "scoped-tool";
const RULE_ID: &str = "T-SCOPED";
/// Denied for every protocol and port by the scoped rule.
const DENIED_ANY: &str = "127.0.0.4";

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Outcome {
    Ran,
    Stopped,
}

/// Runs the tool in `c` and says what became of it.
fn run_in(c: &Container) -> Outcome {
    let (status, text) = c.exec(&["/bin/sh", "-c", &format!("/bin/{TOOL}; echo rc=$?")]);
    assert!(status.success(), "runc exec: {status}: {text}");
    if text.contains("rc=127") {
        Outcome::Ran
    } else if text.contains("rc=137") || text.contains("rc=126") {
        Outcome::Stopped
    } else {
        panic!("unexpected output of {TOOL} in {}: {text}", c.id)
    }
}

/// Runs the host's copy of the tool (a copy of `true`).
fn run_on_host(tool: &PathBuf) -> Outcome {
    match Command::new(tool).status() {
        Ok(status) if status.success() => Outcome::Ran,
        Ok(status) if status.signal() == Some(libc::SIGKILL) => Outcome::Stopped,
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => Outcome::Stopped,
        other => panic!("unexpected result of the host's {TOOL}: {other:?}"),
    }
}

/// Runs the host's tool from a cgroup made inside `c`'s (as a process in
/// the container can make one), at once: before the agent has registered
/// the new cgroup, the hooks find the container's cgroup as its nearest
/// registered ancestor.
fn run_in_child_cgroup(c: &Container, tool: &PathBuf) -> Outcome {
    let child = c.cgroup_dir().join("made-inside");
    // The shell makes the cgroup, moves itself into it, then becomes the
    // tool, within a millisecond.
    let status = Command::new("/bin/sh")
        .args(["-c", r#"mkdir "$1" && echo 0 > "$1/cgroup.procs" && exec "$2""#, "sh"])
        .arg(&child)
        .arg(tool)
        .status()
        .expect("sh");
    let _ = std::fs::remove_dir(&child);
    match (status.code(), status.signal()) {
        (Some(0), _) => Outcome::Ran,
        (_, Some(libc::SIGKILL)) | (Some(126), _) => Outcome::Stopped,
        other => panic!("unexpected result of {TOOL} in a cgroup inside {}: {other:?}", c.id),
    }
}

/// Polls `what` until it gives `want` (a workload is placed in the kernel
/// tens of milliseconds after its container starts); panics naming `why`.
fn eventually(want: Outcome, why: &str, mut what: impl FnMut() -> Outcome) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = what();
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{why}: still {got:?} after {WAIT:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A bundle in enforce mode with one blocking rule: `scope` (a Rego
/// value) for the tool by name, TCP to 127.0.0.1:`port`, anything to
/// DENIED_ANY and packet sockets.
fn scoped_bundle(name: &str, scope: &str, port: u16) -> TempBundle {
    let b = TempBundle::new(name);
    b.write(
        "rules/scoped.rego",
        &format!(
            r#"package palisade.rules.scoped

import rego.v1

meta := {{"id": "{RULE_ID}", "title": "scoped", "severity": "high", "mitre": "T1059", "action": "block", "kinds": ["process_exec", "network_connect", "network_socket"]}}

kernel := {{
	"scope": {scope},
	"exec": {{"names": ["{TOOL}"]}},
	"socket": {{"families": ["packet"]}},
	"connect": [
		{{"cidr": "127.0.0.1", "ports": [{port}], "protocols": ["tcp"]}},
		{{"cidr": "{DENIED_ANY}"}},
	],
}}

hits contains "never" if false
"#
        ),
    )
    .write(support::bundle::CONFIG_FILE, r#"{"mode": "enforce", "rule_modes": {}}"#);
    b
}

/// What the tests share: the scratch directory (runc state, bundles), the
/// host's copy of the tool, and a listener on a loopback port.
struct Setup {
    host: Host,
    scratch: Scratch,
    host_tool: PathBuf,
    port: u16,
}

impl Setup {
    fn new(test: &str) -> Option<Self> {
        let host = host_or_skip(test)?;
        let scratch = Scratch::new(test);
        let host_tool = scratch.0.join(TOOL);
        std::fs::copy("/usr/bin/true", &host_tool).expect("copy true");
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
        let port = listener.local_addr().unwrap().port();
        // Accepts and closes: a connected client sees EOF and exits.
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                drop(conn);
            }
        });
        Some(Self { host, scratch, host_tool, port })
    }

    /// A running container of a fresh pod in `namespace`, holding the tool.
    fn container(&self, namespace: &str) -> Container<'_> {
        self.container_of(&fresh_uid(), namespace)
    }

    fn container_of(&self, pod_uid: &str, namespace: &str) -> Container<'_> {
        let c = Container::in_namespace(
            &self.host,
            &self.scratch,
            pod_uid,
            "app",
            namespace,
            &["/bin/sleep", "600"],
        );
        c.install(TOOL, std::path::Path::new("/bin/busybox"));
        c.run(true);
        c
    }

    fn agent(&self, bundle: &TempBundle, extra: &[&str]) -> Agent {
        let root = self.scratch.state_root();
        let mut args = vec![
            "--policy",
            bundle.path().to_str().unwrap(),
            "--runtime-state-dir",
            root.to_str().unwrap(),
        ];
        args.extend(extra);
        Agent::start_with(&args)
    }
}

/// Runs busybox `arping` in `c`, whose first act is to open a packet
/// socket: Stopped when the kernel killed it there (137), Ran when it got
/// the socket (and then found loopback has no ARP).
fn arping_in(c: &Container) -> Outcome {
    let (_, text) = c.exec(&["/bin/sh", "-c", "arping -c 1 -w 1 -I lo 127.0.0.1; echo rc=$?"]);
    if text.contains("rc=137") {
        Outcome::Stopped
    } else if text.contains("not ARPable") {
        Outcome::Ran
    } else {
        panic!("unexpected output of arping in {}: {text}", c.id)
    }
}

/// Connects from inside `c` to 127.0.0.1:`port`: whether it connected.
fn connects_from(c: &Container, port: u16) -> bool {
    let (_, text) =
        c.exec(&["/bin/sh", "-c", &format!("echo hi | nc -w 2 127.0.0.1 {port}; echo rc=$?")]);
    if text.contains("rc=0") {
        true
    } else if text.contains("ermitted") {
        false
    } else {
        panic!("unexpected output of nc in {}: {text}", c.id)
    }
}

#[test]
fn a_rule_scoped_to_a_namespace_is_enforced_there_and_on_the_host_only() {
    let Some(s) = Setup::new("scoped-namespace") else { return };
    let _clean = support::host::CleanKernel::new();
    let b = scoped_bundle("scoped-namespace", r#"[{"namespace": "payments"}, "host"]"#, s.port);
    let mut agent = s.agent(&b, &[]);
    let payments = s.container("payments");
    let sandbox = s.container("sandbox");

    // Until the agent placed it, a container gets no namespace-scoped rule;
    // once placed (tens of ms), the kernel stops the tool there.
    eventually(Outcome::Stopped, "the tool in namespace payments", || run_in(&payments));
    assert_eq!(run_in(&sandbox), Outcome::Ran, "namespace sandbox is not in the rule's scope");
    assert_eq!(run_on_host(&s.host_tool), Outcome::Stopped, "the host is in the rule's scope");
    assert_eq!(run_in(&payments), Outcome::Stopped);
    // A cgroup made inside a container leaves neither the rule nor the
    // container's scope (not the host's either, which the rule names).
    assert_eq!(run_in_child_cgroup(&payments, &s.host_tool), Outcome::Stopped, "payments' child");
    assert_eq!(run_in_child_cgroup(&sandbox, &s.host_tool), Outcome::Ran, "sandbox's child");

    // The same rule's destination: EPERM in payments, connected elsewhere.
    assert!(!connects_from(&payments, s.port), "payments must not reach the denied port");
    assert!(connects_from(&sandbox, s.port), "sandbox reaches it: out of the rule's scope");

    // The same rule's packet sockets (the container holds CAP_NET_RAW, as
    // under containerd): its caller killed in payments, made elsewhere.
    assert_eq!(arping_in(&payments), Outcome::Stopped, "a packet socket in payments");
    assert_eq!(arping_in(&sandbox), Outcome::Ran, "sandbox is out of the rule's scope");
    let socket =
        agent.wait_for("the packet socket refused in payments", |e| e["kind"] == "network_socket");
    assert_eq!(socket["pod"]["namespace"], "payments", "{socket}");
    assert_eq!(socket["decision"]["enforcement"]["mechanism"], "sigkill-at-syscall", "{socket}");
    let host = std::net::TcpStream::connect(("127.0.0.1", s.port));
    assert_eq!(
        host.map_err(|e| e.raw_os_error()).err(),
        Some(Some(libc::EPERM)),
        "the host is in the rule's scope"
    );
}

/// An MPTCP subflow the kernel's path manager opens (from a kernel worker,
/// whose own cgroup is the root's) is judged by the workload whose socket
/// it serves: a rule scoped to that workload holds for it.
#[test]
fn an_mptcp_subflow_is_judged_by_the_workload_that_made_the_socket() {
    let Some(s) = Setup::new("scoped-mptcp") else { return };
    let _clean = support::host::CleanKernel::new();
    let b = scoped_bundle("scoped-mptcp", r#"[{"namespace": "payments"}]"#, s.port);
    let mut agent = s.agent(&b, &[]);
    let payments = s.container("payments");
    eventually(Outcome::Stopped, "the tool in namespace payments", || run_in(&payments));

    let Some((subflows, data)) =
        support::mptcp::subflows_to(DENIED_ANY, Some(&payments.cgroup_dir()))
    else {
        return;
    };
    assert_eq!(subflows, 0, "a subflow to {DENIED_ANY} was established from payments");
    assert!(data, "the connection carries data over its first subflow");
    let refused = agent.wait_for("the subflow refused on egress", |e| {
        e["kind"] == "network_connect"
            && e["network"]["daddr"] == DENIED_ANY
            && e["network"]["hook"] == "egress"
    });
    // Attributed to the workload (the process is the kernel's worker).
    assert_eq!(refused["pod"]["namespace"], "payments", "{refused}");
    assert_eq!(refused["decision"]["enforcement"]["mechanism"], "cgroup-skb", "{refused}");
    assert_eq!(refused["decision"]["enforcement"]["rule"], RULE_ID, "{refused}");
    // The host is out of the rule's scope: its subflow is established.
    assert_eq!(support::mptcp::subflows_to(DENIED_ANY, None), Some((1, true)));
}

#[test]
fn an_exception_for_one_namespace_opens_that_workload_only_until_it_expires() {
    let Some(s) = Setup::new("scoped-exception") else { return };
    let _clean = support::host::CleanKernel::new();
    let b = scoped_bundle("scoped-exception", r#""all""#, s.port);
    let expires = rfc3339_in(25);
    b.write(
        support::bundle::EXCEPTIONS_FILE,
        &format!(
            r#"[{{"id": "EX-GPU", "rules": ["{RULE_ID}"], "scope": {{"namespace": "gpu-benchmarks"}}, "owner": "ml-platform@example.com", "reason": "benchmark run", "expires": "{expires}"}}]"#
        ),
    );
    // Beside stdout, the same records as OCSF, checked at the end.
    let ocsf = s.scratch.0.join("ocsf.jsonl");
    let sink = format!("file,path={},format=ocsf", ocsf.display());
    let mut agent = s.agent(&b, &["--sink", "stdout", "--sink", &sink]);
    let gpu = s.container("gpu-benchmarks");
    let payments = s.container("payments");

    // Unplaced, the gpu container gets no carve-out (fail closed); placed,
    // the exception opens it, and only it.
    eventually(Outcome::Ran, "the tool in the excepted namespace", || run_in(&gpu));
    assert_eq!(run_in(&payments), Outcome::Stopped, "another namespace stays denied");
    assert_eq!(run_on_host(&s.host_tool), Outcome::Stopped, "the host stays denied");
    assert!(connects_from(&gpu, s.port), "the exception covers the rule's destination too");
    assert!(!connects_from(&payments, s.port));
    let line = agent.wait_for_log("an exception carves this kernel rule out");
    assert!(line.contains(RULE_ID) && line.contains("EX-GPU"), "{line}");

    // After the expiry the agent re-arms exactly that workload, by itself.
    eventually(Outcome::Stopped, &format!("the excepted namespace after {expires}"), || {
        run_in(&gpu)
    });
    assert!(!connects_from(&gpu, s.port));
    let line = agent.wait_for_log("no longer carves this kernel rule out");
    assert!(line.contains("EX-GPU"), "{line}");

    // Every OCSF record of the run is valid, the container's denials and
    // their findings among them.
    drop(agent);
    let records = support::ocsf::assert_valid_file(&ocsf);
    let in_container = |process: &serde_json::Value| process["container"]["uid"].is_string();
    let denied = |class: u64, activity: u64| {
        records.iter().any(|r| {
            r["class_uid"] == class
                && r["activity_id"] == activity
                && r["action_id"] == 2
                && in_container(if class == 1007 { &r["process"] } else { &r["actor"]["process"] })
        })
    };
    assert!(denied(1007, 1), "no OCSF record of an exec denied in a container");
    assert!(denied(4001, 5), "no OCSF record of a connect refused in a container");
    assert!(
        records.iter().any(|r| r["class_uid"] == 2004
            && r["action_id"] == 2
            && in_container(&r["evidences"][0]["process"])),
        "no Detection Finding of a denial in a container"
    );
}

#[test]
fn pod_labels_from_the_api_server_put_a_workload_in_a_rules_scope() {
    let Some(s) = Setup::new("scoped-labels") else { return };
    let _clean = support::host::CleanKernel::new();
    let api = support::kube_api::KubeApi::start();
    let token = s.scratch.0.join("token");
    std::fs::write(&token, "test-token\n").unwrap();
    // The recorded list has web-0 without `release`; the watch that
    // follows adds `release: canary` to it.
    let b = scoped_bundle("scoped-labels", r#"{"pod_labels": {"release": "canary"}}"#, s.port);
    let url = format!("http://127.0.0.1:{}", api.port);
    let mut agent =
        s.agent(&b, &["--kube-api", &url, "--kube-token-file", token.to_str().unwrap()]);
    agent.wait_for_log("pod labels listed");
    // The recorded pod list's web-0, by its UID.
    let labelled = s.container_of("3b6f8e2a-1c4d-4f7a-9e2b-5d8c1a0f6e3b", "payments");
    let other = s.container("payments");
    eventually(Outcome::Stopped, "the tool in the pod labelled release=canary", || {
        run_in(&labelled)
    });
    assert_eq!(run_in(&other), Outcome::Ran, "a pod without the label is out of scope");
    assert_eq!(run_on_host(&s.host_tool), Outcome::Ran, "the host is out of scope");
}

/// `unshare --pid --fork` puts a host process in a nested PID namespace;
/// by PID namespace it would look like a container and leave a host-scoped
/// rule. Its cgroup is the host's, registered as such: it stays in scope.
/// Needs no runc: runs in the VM too.
#[test]
fn a_host_process_in_a_new_pid_namespace_stays_in_the_hosts_scope() {
    let _clean = support::host::CleanKernel::new();
    let scratch = Scratch::new("scoped-unshare");
    let tool = scratch.0.join(TOOL);
    std::fs::copy("/usr/bin/true", &tool).expect("copy true");
    let b = scoped_bundle("scoped-unshare", r#""host""#, 1);
    let _agent = Agent::start_with(&["--policy", b.path().to_str().unwrap()]);
    assert_eq!(run_on_host(&tool), Outcome::Stopped, "the host is in the rule's scope");
    for args in [&["--pid", "--fork"][..], &["--user", "--map-root-user", "--pid", "--fork"]] {
        // A shell in the new PID namespace runs the tool and says how it
        // ended: 137 (SIGKILL at exec), 126 (EPERM from BPF-LSM), 0 (ran).
        let out = Command::new("/usr/bin/unshare")
            .args(args)
            .args(["/bin/sh", "-c", r#""$0"; echo rc=$?"#])
            .arg(&tool)
            .output()
            .expect("unshare");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("rc=137") || text.contains("rc=126"),
            "unshare {args:?} {TOOL} escaped the host's scope: {}: {text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
