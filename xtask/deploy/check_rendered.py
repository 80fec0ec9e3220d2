"""Checks a rendered Palisade deployment (kubectl kustomize output).

usage: check_rendered.py RENDERED.yaml POLICIES_DIR MODE [--privileged] [--write-bundle DIR]

- the two ConfigMaps hold exactly the bundle's files of POLICIES_DIR (key =
  path with / as .), byte for byte: palisade-policy the Rego modules and
  samples, palisade-policy-data the data files (data.json, data.yaml), the
  mode's (palisade/config/mode/data.json) set to MODE;
- the DaemonSet's projected `policy` volume mounts the first flat and maps
  every key of the second back to its path with `items` (OPA mounts a
  data.json at its directory's path), where its --policy flag points; it
  runs with host PID, and is privileged only with --privileged (then with
  Bidirectional propagation on bpffs); otherwise it drops every capability.
With --write-bundle, the ConfigMaps' files are also written to DIR as the
kubelet would mount that volume (a ..<timestamp> snapshot, the ..data link
to it, top-level links into ..data), with POLICIES_DIR's own mode, so the
caller can check that the mounted bundle decides as POLICIES_DIR does.
Exits non-zero with one line per problem.
"""

import json
import os
import sys

import yaml

BUNDLE_EXTENSIONS = (".rego", ".json", ".jsonl", ".yaml", ".yml")
DATA_FILES = ("data.json", "data.yaml", "data.yml")
MODE_FILE = "palisade/config/mode/data.json"


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
                files[relative] = f.read()
    return files


def is_data(relative):
    return relative.rsplit("/", 1)[-1] in DATA_FILES


def check_config_maps(by_kind, want, mode, problems):
    """The two ConfigMaps against POLICIES_DIR; returns them by name."""
    maps = {cm["metadata"]["name"]: cm.get("data", {}) for cm in by_kind["ConfigMap"]}
    for name, data_files in (("palisade-policy", False), ("palisade-policy-data", True)):
        data = maps.get(name, {})
        expected = {p.replace("/", "."): t for p, t in want.items() if is_data(p) == data_files}
        for key in sorted(set(expected) | set(data)):
            if key == MODE_FILE.replace("/", "."):
                continue
            if key not in data:
                problems.append(f"ConfigMap {name} lacks {key}")
            elif key not in expected:
                problems.append(f"ConfigMap {name} has {key}, which policies/ does not")
            elif data[key] != expected[key]:
                problems.append(f"ConfigMap {name}'s {key} differs from policies/")
    set_mode = maps.get("palisade-policy-data", {}).get(MODE_FILE.replace("/", "."), "null")
    if json.loads(set_mode) != mode:
        problems.append(f"{MODE_FILE} sets mode {set_mode.strip()}, not {mode!r}")
    return maps


def check_volume(volume, want, problems):
    """The projected volume: the modules flat, every data key at its path."""
    sources = [s.get("configMap", {}) for s in volume.get("projected", {}).get("sources", [])]
    by_name = {s.get("name"): s for s in sources}
    if set(by_name) != {"palisade-policy", "palisade-policy-data"} or len(sources) != 2:
        problems.append("the policy volume does not project the two bundle ConfigMaps")
        return {}
    if "items" in by_name["palisade-policy"]:
        problems.append("the modules ConfigMap lists items (a new module would not be mounted)")
    items = {i["key"]: i["path"] for i in by_name["palisade-policy-data"].get("items", [])}
    expected = {p.replace("/", "."): p for p in want if is_data(p)}
    if items != expected:
        problems.append(
            f"the policy volume maps the data keys {items}, not each to its path {expected}"
        )
    return items


def write_mounted(write_to, maps, items, want):
    """The files as the kubelet mounts the projected volume."""
    snapshot = "..2026_01_01_00_00_00.000000001"
    files = dict(maps["palisade-policy"])
    for key, path in items.items():
        files[path] = maps["palisade-policy-data"][key]
    files[MODE_FILE] = want[MODE_FILE]
    for path, text in files.items():
        full = os.path.join(write_to, snapshot, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)
    os.symlink(snapshot, os.path.join(write_to, "..data"))
    for top in sorted({p.split("/")[0] for p in files}):
        os.symlink(f"..data/{top}", os.path.join(write_to, top))


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

    want = bundle_files(policies)
    maps = check_config_maps(by_kind, want, mode, problems)

    (ds,) = by_kind["DaemonSet"]
    pod = ds["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    if not pod.get("hostPID"):
        problems.append("the DaemonSet does not use host PID")
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    policy_dirs = [a.split("=", 1)[1] for a in c["args"] if a.startswith("--policy=")]
    items = check_volume(volumes.get("policy", {}), want, problems)
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
        write_mounted(write_to, maps, items, want)
    print(f"{rendered}: bundle ({len(want)} files), mode {mode}, DaemonSet: ok")


if __name__ == "__main__":
    main()
