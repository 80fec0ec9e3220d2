//! Container and pod identity on the real kernel: real containers started by
//! runc from a busybox root filesystem, in the cgroup a Kubernetes node's
//! containerd would give them (`/kubepods.slice/.../cri-containerd-<id>.scope`),
//! with the annotations containerd's CRI plugin writes; the real agent must
//! name the container and its pod on their events, and mark a host process's
//! events as the host's. The running container's records are also written
//! as OCSF, and each must validate against the official OCSF schema.
//!
//! The agent reads the containers' runc state from a state directory of the
//! test's own (`--runtime-state-dir`), as it reads `/run/containerd/runc/k8s.io`
//! on a node.
//!
//! Needs runc (`/usr/sbin/runc` or `/usr/bin/runc`; `cargo xtask setup`
//! installs Debian's), busybox (`/bin/busybox`, Debian's busybox-static) and a
//! cgroup v2 mount. Where one is missing each test prints why and passes
//! without checking anything: so it goes in the 6.1 VM of `cargo xtask
//! vm-test`, which holds only busybox and the programs `xtask/src/vm.rs`
//! copies in, and no runc: there only the host-process test runs (it needs
//! only the cgroup v2 mount and `/usr/bin/true`).

mod support;

use std::process::Command;

use serde_json::Value;
use support::{
    Agent,
    runc::{Container, IMAGE, NAMESPACE, POD_NAME, Scratch, fresh_uid, host_or_skip, skip},
    str_of,
};

/// Asserts the event names container `c` (as container `name`) and its pod.
fn assert_attributed(event: &Value, c: &Container, name: &str) {
    let container = &event["container"];
    assert_eq!(container["id"], c.id.as_str(), "container id: {event}");
    assert_eq!(container["runtime"], "containerd", "runtime: {event}");
    assert_eq!(container["name"], name, "container name: {event}");
    assert_eq!(container["image"], IMAGE, "image: {event}");
    assert_eq!(container["cgroup"], c.cgroup.as_str(), "cgroup path: {event}");
    let pod = &event["pod"];
    assert_eq!(pod["uid"], c.pod_uid.as_str(), "pod uid: {event}");
    assert_eq!(pod["name"], POD_NAME, "pod name: {event}");
    assert_eq!(pod["namespace"], NAMESPACE, "namespace: {event}");
    // No API server here: no labels, and the event says so.
    assert_eq!(pod["labels_available"], false, "{event}");
    assert!(pod.get("labels").is_none(), "no labels without an API server: {event}");
    assert!(event.get("host").is_none(), "a container's process is not the host's: {event}");
}

fn args_are(event: &Value, want: &[&str]) -> bool {
    event["process"]["args"]
        .as_array()
        .is_some_and(|args| args.len() == want.len() && args.iter().zip(want).all(|(a, w)| a == *w))
}

fn start_agent(scratch: &Scratch) -> Agent {
    let root = scratch.state_root();
    Agent::start_with(&["--runtime-state-dir", root.to_str().expect("utf-8 path")])
}

#[test]
fn a_running_containers_execs_name_the_container_and_its_pod() {
    let Some(host) = host_or_skip("a_running_containers_execs_name_the_container_and_its_pod")
    else {
        return;
    };
    let scratch = Scratch::new("containers-running");
    // Beside stdout, the same records as OCSF, checked at the end.
    let ocsf = scratch.0.join("ocsf.jsonl");
    let root = scratch.state_root();
    let mut agent = Agent::start_with(&[
        "--runtime-state-dir",
        root.to_str().expect("utf-8 path"),
        "--sink",
        "stdout",
        "--sink",
        &format!("file,path={},format=ocsf", ocsf.display()),
    ]);
    let uid = fresh_uid();
    let marker = format!("marker-{}", support::host::fresh_hex(12));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback listener");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            drop(conn);
        }
    });
    // A UDP sink for a DNS query (nslookup sends UDP; nothing answers).
    let dns = std::net::UdpSocket::bind("127.0.0.1:0").expect("a loopback UDP socket");
    let dns_port = dns.local_addr().unwrap().port();
    let script = format!(
        ": {marker}; cat /proc/self/cgroup > /dev/null; echo hi | nc -w 5 127.0.0.1 {port}; \
         timeout 3 nslookup example.invalid 127.0.0.1:{dns_port} > /dev/null 2>&1; \
         exec sleep 600"
    );
    let c = Container::new(&host, &scratch, &uid, "app", &["/bin/sh", "-c", &script]);
    c.run(true);

    // The container's first process: the hardest to attribute, since the
    // agent sees its cgroup for the first time.
    let sh = agent.wait_for("exec of the container's shell", |e| {
        e["kind"] == "process_exec" && args_are(e, &["/bin/sh", "-c", &script])
    });
    assert_attributed(&sh, &c, "app");
    assert_eq!(sh["process"]["cgroup_id"], c.cgroup_id(), "the cgroup's id: {sh}");
    let cat = agent.wait_for("exec of cat in the container", |e| {
        e["kind"] == "process_exec"
            && e["container"]["id"] == c.id.as_str()
            && args_are(e, &["cat", "/proc/self/cgroup"])
    });
    assert_attributed(&cat, &c, "app");
    let sleep = agent.wait_for("exec of sleep in the container", |e| {
        e["kind"] == "process_exec" && args_are(e, &["sleep", "600"])
    });
    assert_attributed(&sleep, &c, "app");

    // Its connection, from the container's own process, to the test's
    // listener: exact addresses, the outcome, and the container and pod.
    let connect = agent.wait_for("connect from the container", |e| {
        e["kind"] == "network_connect"
            && e["network"]["dport"] == port
            && e["network"]["daddr"] == "127.0.0.1"
    });
    assert_attributed(&connect, &c, "app");
    assert_eq!(connect["network"]["result"], "established", "{connect:#}");
    assert_eq!(connect["network"]["protocol"], "tcp", "{connect:#}");
    assert!(str_of(&connect, "/process/binary").ends_with("/bin/busybox"), "{connect:#}");
    let send = agent.wait_for("UDP send from the container", |e| {
        e["kind"] == "network_connect"
            && e["network"]["dport"] == dns_port
            && e["network"]["protocol"] == "udp"
    });
    assert_attributed(&send, &c, "app");
    assert_eq!(send["network"]["daddr"], "127.0.0.1", "{send:#}");

    // The kernel placed the process where the event says.
    let pid = c.init_pid();
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read its cgroup");
    let v2 = cgroup.lines().find_map(|l| l.strip_prefix("0::")).expect("a cgroup v2 line");
    assert_eq!(v2, str_of(&sleep, "/container/cgroup"));
    assert_eq!(sleep["process"]["pid"], pid, "sleep replaced the shell, the container's init");

    // Every OCSF record of the run is valid; the container's carry it
    // under their process, with its image and pod.
    agent.wait_for("an exit in the container", |e| {
        e["kind"] == "process_exit" && e["container"]["id"] == c.id.as_str()
    });
    drop(agent);
    let records = support::ocsf::assert_valid_file(&ocsf);
    let of_container = |r: &Value| {
        let process = if r["class_uid"] == 1007 { &r["process"] } else { &r["actor"]["process"] };
        process["container"]["uid"] == c.id.as_str()
    };
    for (what, class, activity) in
        [("an exec", 1007, 1), ("an exit", 1007, 2), ("a connect or a send", 4001, 1)]
    {
        let record = records
            .iter()
            .find(|r| r["class_uid"] == class && r["activity_id"] == activity && of_container(r))
            .unwrap_or_else(|| panic!("no OCSF record of {what} in the container"));
        assert!(record["metadata"]["profiles"].as_array().unwrap().contains(&"container".into()));
    }
    let shell = records
        .iter()
        .find(|r| {
            r["class_uid"] == 1007 && r["process"]["cmd_line"] == format!("/bin/sh -c {script}")
        })
        .expect("the OCSF record of the shell's exec");
    let container = &shell["process"]["container"];
    assert_eq!(container["uid"], c.id.as_str());
    assert_eq!(container["image"]["name"], IMAGE.rsplit_once(':').unwrap().0);
    assert_eq!(container["pod_uuid"], c.pod_uid.as_str());
}

#[test]
fn pod_labels_come_from_the_api_servers_list_and_watch() {
    let Some(host) = host_or_skip("pod_labels_come_from_the_api_servers_list_and_watch") else {
        return;
    };
    let scratch = Scratch::new("containers-labels");
    let api = support::kube_api::KubeApi::start();
    let token = scratch.0.join("token");
    std::fs::write(&token, "test-token\n").unwrap();
    let root = scratch.state_root();
    let export = scratch.0.join("events.jsonl");
    let sink = format!("file,path={}", export.display());
    let mut agent = Agent::start_with_env(
        &[
            "--sink",
            "stdout",
            "--sink",
            &sink,
            "--runtime-state-dir",
            root.to_str().unwrap(),
            "--kube-api",
            &format!("http://127.0.0.1:{}", api.port),
            "--kube-token-file",
            token.to_str().unwrap(),
        ],
        &[("NODE_NAME", "node-a")],
    );
    agent.wait_for_log("pod labels listed");
    // The watch's MODIFIED event (web-0 gains `release: canary`) follows
    // the list at once; let it land before the container starts.
    let deadline = std::time::Instant::now() + support::WAIT;
    while !api.requests.lock().unwrap().iter().any(|(t, _)| t.contains("watch=1")) {
        assert!(std::time::Instant::now() < deadline, "the agent never watched");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));

    // The recorded pod list's web-0, by its UID.
    let uid = "3b6f8e2a-1c4d-4f7a-9e2b-5d8c1a0f6e3b";
    let marker = format!("labels-{}", support::host::fresh_hex(12));
    let script = format!(": {marker}; cat /proc/self/cgroup > /dev/null");
    let c = Container::new(&host, &scratch, uid, "app", &["/bin/sh", "-c", &script]);
    c.run(false);
    let cat = agent.wait_for("exec of cat in the labelled pod", |e| {
        e["kind"] == "process_exec"
            && e["container"]["id"] == c.id.as_str()
            && args_are(e, &["cat", "/proc/self/cgroup"])
    });
    let pod = &cat["pod"];
    assert_eq!(pod["labels_available"], true, "{cat:#}");
    assert_eq!(pod["labels"]["app.kubernetes.io/name"], "web", "from the list: {cat:#}");
    assert_eq!(pod["labels"]["release"], "canary", "from the watch: {cat:#}");

    // From the exported file alone: what ran in this pod and container.
    agent.wait_for("the container's exit", |e| {
        e["kind"] == "process_exit" && e["container"]["id"] == c.id.as_str()
    });
    drop(agent);
    for selector in [["--pod", "payments/web-0"], ["--container", &c.id[..12]]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
            .arg("events")
            .arg(&export)
            .args(selector)
            .arg("--json")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let story: Value = serde_json::from_slice(&out.stdout).unwrap();
        let text = story.to_string();
        assert!(
            text.contains(&marker),
            "{selector:?}: the container's shell is missing: {story:#}"
        );
        assert!(text.contains("cat /proc/self/cgroup"), "{selector:?}: cat is missing");
        // Every process shown is the container's, children included.
        let mut stack: Vec<&Value> = story["processes"].as_array().unwrap().iter().collect();
        assert!(!stack.is_empty());
        while let Some(p) = stack.pop() {
            assert_eq!(p["container"]["id"], c.id.as_str(), "{selector:?}: {p:#}");
            stack.extend(p["children"].as_array().unwrap());
        }
    }

    let requests = api.requests.lock().unwrap().clone();
    let (list, auth) = &requests[0];
    assert_eq!(list, "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a");
    assert_eq!(auth, "Bearer test-token");
    let (watch, _) = requests.iter().find(|(t, _)| t.contains("watch=1")).unwrap();
    assert!(watch.contains("resourceVersion=184467"), "the watch resumes from the list: {watch}");
}

#[test]
fn a_container_that_runs_one_command_and_exits_at_once_is_attributed() {
    let Some(host) =
        host_or_skip("a_container_that_runs_one_command_and_exits_at_once_is_attributed")
    else {
        return;
    };
    let scratch = Scratch::new("containers-short");
    let mut agent = start_agent(&scratch);
    let uid = fresh_uid();
    let marker = format!("marker-{}", support::host::fresh_hex(12));
    let c = Container::new(&host, &scratch, &uid, "once", &["/bin/true", &marker]);
    // In the foreground: when runc returns, the container, its cgroup and
    // its state directory are gone.
    c.run(false);
    assert!(
        !scratch.state_root().join(&c.id).exists(),
        "runc removed the container's state when it exited"
    );

    let exec = agent.wait_for("exec of the short-lived container's command", |e| {
        e["kind"] == "process_exec" && args_are(e, &["/bin/true", &marker])
    });
    assert_attributed(&exec, &c, "once");
    let pid = exec["process"]["pid"].as_u64().expect("pid");
    let exit = agent.wait_for("exit of the short-lived container's command", |e| {
        e["kind"] == "process_exit" && e["process"]["pid"] == pid
    });
    assert_eq!(exit["exit"]["code"], 0);
    assert_attributed(&exit, &c, "once");
}

#[test]
fn a_host_process_is_marked_as_the_hosts() {
    // Needs no runc: runs in the VM too.
    if !support::host::cgroup_mounts().iter().any(|(_, fstype)| fstype == "cgroup2") {
        skip("a_host_process_is_marked_as_the_hosts", "no cgroup v2 mount");
        return;
    }
    let scratch = Scratch::new("containers-host");
    let mut agent = start_agent(&scratch);
    let marker = format!("marker-{}", support::host::fresh_hex(12));
    let status = Command::new("/usr/bin/true").arg(&marker).status().expect("run true");
    assert!(status.success());
    let exec = agent.wait_for("exec of true on the host", |e| {
        e["kind"] == "process_exec" && args_are(e, &["/usr/bin/true", &marker])
    });
    assert_eq!(exec["host"], true, "marked as the host's: {exec}");
    assert!(exec.get("container").is_none(), "no container: {exec}");
    assert!(exec.get("pod").is_none(), "no pod: {exec}");
}
