#!/usr/bin/env python3
"""File-heavy A/B for the file sensor (docs/performance.md, "file activity").

Untars a tar of /usr/include (about 8,800 files), without and with `palisade
run` (the embedded baseline), interleaved N times; reports the wall times,
their ratio, and the in-kernel time per call of the agent's three busiest
programs during each untar, from /proc/<agent>/fdinfo with
kernel.bpf_stats_enabled on (reset to 0 at the end). Run as root, alone on
the kernel's eBPF (e.g. under flock /tmp/palisade-kernel.lock):

    xtask/bench/file_untar.py PATH/TO/palisade [N]
"""
import os, subprocess, time, statistics, sys
AGENT = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 6
WORK = "/tmp/fa-bench"
os.makedirs(WORK, exist_ok=True)
if not os.path.exists(f"{WORK}/src.tar"):
    subprocess.run(["tar", "cf", f"{WORK}/src.tar", "-C", "/usr", "include"], check=True)

def untar():
    subprocess.run(f"rm -rf {WORK}/out && mkdir {WORK}/out", shell=True, check=True)
    t = time.perf_counter()
    subprocess.run(["tar", "xf", f"{WORK}/src.tar", "-C", f"{WORK}/out"], check=True)
    return time.perf_counter() - t

NAMES = {}
def progs(pid):
    out = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            info = open(f"/proc/{pid}/fdinfo/{fd}").read()
        except OSError:
            continue
        f = dict(l.split(":\t", 1) for l in info.strip().splitlines() if ":\t" in l)
        if "tp_name" in f:
            NAMES.setdefault(int(f["prog_id"]), set()).add(f["tp_name"])
        if "run_cnt" not in f:
            continue
        out[int(f["prog_id"])] = (int(f["run_time_ns"]), int(f["run_cnt"]))
    return out

open("/proc/sys/kernel/bpf_stats_enabled", "w").write("1")
without, with_, per_call = [], [], []
try:
    untar()  # warm the page cache
    for i in range(N):
        without.append(untar())
        log = open(f"{WORK}/agent.log", "w")
        agent = subprocess.Popen([AGENT, "run"], stdout=subprocess.DEVNULL, stderr=log)
        for _ in range(600):
            time.sleep(0.1)
            if "palisade is running" in open(f"{WORK}/agent.log").read():
                break
        time.sleep(1)
        before = progs(agent.pid)
        with_.append(untar())
        after = progs(agent.pid)
        deltas = sorted(((after[k][1] - before[k][1], after[k][0] - before[k][0], k) for k in after if k in before), reverse=True)
        per_call.append([(cnt, ns / cnt if cnt else 0, ",".join(sorted(NAMES.get(k, {"?"})))[:60]) for cnt, ns, k in deltas[:3]])
        agent.terminate(); agent.wait()
finally:
    open("/proc/sys/kernel/bpf_stats_enabled", "w").write("0")
    subprocess.run(f"rm -rf {WORK}/out", shell=True)
print("agent", AGENT)
print("without", [round(x, 3) for x in without], "median", round(statistics.median(without), 3))
print("with   ", [round(x, 3) for x in with_], "median", round(statistics.median(with_), 3))
print("ratio of medians", round(statistics.median(with_) / statistics.median(without), 3))
print("ratios per pair", [round(w / o, 3) for w, o in zip(with_, without)])
for row in per_call:
    print("top programs by calls during the untar (calls, ns/call, tracepoints):", [(c, round(n), t) for c, n, t in row])
