"""Checks a rendered Palisade deployment (kubectl kustomize output).

usage: check_rendered.py RENDERED.yaml POLICIES_DIR MODE [--privileged] [--write-bundle DIR]

- the ConfigMap holds exactly the bundle's files of POLICIES_DIR (key = path
  with / as .), byte for byte, except mode.json, which must set MODE;
- the DaemonSet mounts that ConfigMap where its --policy flag points, runs
  with host PID, and is privileged only with --privileged (then with
  Bidirectional propagation on bpffs); otherwise it drops every capability.
With --write-bundle, the ConfigMap's files are also written to DIR as the
kubelet would mount them (flat), with POLICIES_DIR's own mode.json, so the
caller can check that the flat bundle decides as POLICIES_DIR does.
Exits non-zero with one line per problem.
"""

import json
import os
import sys

import yaml

BUNDLE_EXTENSIONS = (".rego", ".json", ".jsonl", ".yaml", ".yml")


def bundle_files(root):
    files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith(".") or not name.endswith(BUNDLE_EXTENSIONS):
                continue
            path = os.path.join(dirpath, name)
            relative = os.path.relpath(path, root)
            with open(path, encoding="utf-8") as f:
                files[relative.replace("/", ".")] = f.read()
    return files


def main():
    rendered, policies, mode = sys.argv[1:4]
    rest = sys.argv[4:]
    privileged = "--privileged" in rest
    write_to = rest[rest.index("--write-bundle") + 1] if "--write-bundle" in rest else None
    with open(rendered, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    problems = []

    (cm,) = by_kind["ConfigMap"]
    data = cm.get("data", {})
    want = bundle_files(policies)
    for key in sorted(set(want) | set(data)):
        if key == "mode.json":
            continue
        if key not in data:
            problems.append(f"ConfigMap lacks {key}")
        elif key not in want:
            problems.append(f"ConfigMap has {key}, which policies/ does not")
        elif data[key] != want[key]:
            problems.append(f"ConfigMap's {key} differs from policies/")
    set_mode = json.loads(data.get("mode.json", "{}"))
    got = set_mode.get("palisade", {}).get("config", {}).get("mode")
    if got != mode:
        problems.append(f"mode.json sets mode {got!r}, not {mode!r}")

    (ds,) = by_kind["DaemonSet"]
    pod = ds["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    if not pod.get("hostPID"):
        problems.append("the DaemonSet does not use host PID")
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    policy_dirs = [a.split("=", 1)[1] for a in c["args"] if a.startswith("--policy=")]
    if volumes.get("policy", {}).get("configMap", {}).get("name") != cm["metadata"]["name"]:
        problems.append("the policy volume is not the bundle's ConfigMap")
    from_server = [p for p in policy_dirs if p.startswith(("$(", "https://", "http://", "oci://"))]
    if from_server:
        # The bundle-server component: the policy comes from a server, is
        # verified with a key from a Secret, and kept on a hostPath.
        args = c["args"]
        key = [a.split("=", 1)[1] for a in args if a.startswith("--verification-key=")]
        cache = [a.split("=", 1)[1] for a in args if a.startswith("--policy-cache-dir=")]
        key_mount = [m for m in c["volumeMounts"] if key and key[0].startswith(m["mountPath"] + "/")]
        if not key_mount or "secret" not in volumes.get(key_mount[0]["name"], {}):
            problems.append("a bundle from a server is not verified with a key from a Secret")
        cache_mount = [m for m in c["volumeMounts"] if cache and m["mountPath"] == cache[0]]
        if not cache_mount or "hostPath" not in volumes.get(cache_mount[0]["name"], {}):
            problems.append("the bundle cache is not on a hostPath (a restart would lose it)")
    elif policy_dirs != [mounts.get("policy", {}).get("mountPath")]:
        problems.append(f"--policy {policy_dirs} is not where the ConfigMap is mounted")
    if "subPath" in mounts.get("policy", {}):
        problems.append("a subPath mount of the ConfigMap would never be updated")
    sc = c["securityContext"]
    propagation = mounts["bpffs"].get("mountPropagation")
    if privileged:
        if not sc.get("privileged") or propagation != "Bidirectional":
            problems.append("the privileged variant is not privileged with Bidirectional bpffs")
    else:
        if sc.get("privileged") or sc.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append("the base is privileged or keeps default capabilities")
        if "SYS_ADMIN" in sc.get("capabilities", {}).get("add", []):
            problems.append("the base adds SYS_ADMIN")
        if propagation == "Bidirectional":
            problems.append("Bidirectional propagation needs a privileged container")

    for p in problems:
        print(f"{rendered}: {p}")
    if problems:
        sys.exit(1)
    if write_to:
        os.makedirs(write_to, exist_ok=True)
        for key, text in data.items():
            if key == "mode.json":
                text = want["mode.json"]
            with open(os.path.join(write_to, key), "w", encoding="utf-8") as f:
                f.write(text)
    print(f"{rendered}: bundle ({len(want)} files), mode {mode}, DaemonSet: ok")


if __name__ == "__main__":
    main()
