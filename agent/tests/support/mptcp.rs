//! MPTCP subflows the kernel opens by itself: a connection whose peer
//! announces another address (`ADD_ADDR`) gets a second subflow there from
//! the client's path manager, a connect no process asked for, made in a
//! kernel worker on behalf of the socket's owner.

use std::{path::Path, process::Command};

/// Given to `sh` in single quotes: it must hold none.
const SCRIPT: &str = r#"
import socket, subprocess, sys, threading, time
announced = sys.argv[1]
try:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_MPTCP)
except OSError:
    print("unsupported"); sys.exit(0)
srv.bind(("0.0.0.0", 0)); srv.listen(4)
port = srv.getsockname()[1]
got = []
def serve():
    conn, _ = srv.accept()
    got.append(conn.recv(16))
threading.Thread(target=serve, daemon=True).start()
client = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_MPTCP)
client.connect(("127.0.0.1", port))
# Up to 5 s for the path manager to open the subflow (at once when nothing stops it):
# a subflow established late counts too.
deadline = time.time() + 5
while True:
    ss = subprocess.run(["ss", "-tnH", "state", "established", "dst", announced],
                        capture_output=True, text=True, check=True).stdout
    if ss.strip() or time.time() > deadline:
        break
    time.sleep(0.1)
client.sendall(b"ping")
time.sleep(0.3)
print(len(ss.splitlines()), got == [b"ping"])
"#;

/// An MPTCP connection to 127.0.0.1 in a network namespace of its own,
/// whose server announces `announced`; run in the cgroup `cgroup` (a
/// directory under the cgroup v2 mount) when given. Returns how many
/// subflows to `announced` were established and whether data went
/// through; None where the kernel has no MPTCP (or the machine lacks
/// `ip`, Python or `unshare`).
pub fn subflows_to(announced: &str, cgroup: Option<&Path>) -> Option<(usize, bool)> {
    let join =
        cgroup.map_or(String::new(), |dir| format!("echo $$ > {}/cgroup.procs && ", dir.display()));
    // The 6.1 VM's image has neither `ip` nor Python.
    let tools =
        "for t in ip python3; do command -v $t >/dev/null || { echo unsupported; exit 0; }; done";
    let setup = format!(
        "{tools}; {join}ip link set lo up && ip addr add {announced}/8 dev lo && \
         ip mptcp limits set subflows 2 add_addr_accepted 2 && \
         ip mptcp endpoint add {announced} signal && exec python3 -c '{SCRIPT}' {announced}"
    );
    let Ok(out) = Command::new("unshare").args(["-n", "sh", "-c", &setup]).output() else {
        eprintln!("no unshare here: MPTCP not tried");
        return None;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stdout.trim() == "unsupported" || stderr.contains("mptcp") && !out.status.success() {
        eprintln!("no MPTCP here: {stdout} {stderr}");
        return None;
    }
    assert!(out.status.success(), "the MPTCP script failed: {stdout} {stderr}");
    let (subflows, data) = stdout.trim().split_once(' ').expect("two fields");
    Some((subflows.parse().expect("a count"), data == "True"))
}
