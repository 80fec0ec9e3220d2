#!/usr/bin/env python3
"""Evaluate a Palisade policy bundle with OPA's own Go engine.

Palisade promises that a bundle gives the same decisions in Palisade
(regorus) and in OPA. This harness is the OPA half of that comparison: it
reads a bundle (a directory or a .tar.gz) the way OPA's bundle loader does
(`opa run --bundle`, a bundle server) and evaluates it with the OPA Go
engine, loaded as a shared library (no `opa` binary needed).

Setup (once; idempotent):  xtask/opa/setup.sh
  puts the library at target/opa/opa_bindings/libopabridge.so. Another path
  can be given with OPA_BRIDGE_LIB=/path/to/libopabridge.so.

Usage:
  opa_eval.py eval BUNDLE [--query Q]   < events.jsonl
      Reads JSON lines on stdin (one event each) and prints one JSON line per
      event on stdout: the value of Q (default data.palisade.main.decision)
      with the event as `input`. Blank lines are skipped. A line that is not
      a JSON object, or whose evaluation fails or is undefined, prints
      {"line": N, "error": "..."} instead (N counts every input line from 1),
      as `palisade policy eval` does, so the two outputs line up. Every
      module of the bundle is loaded, tests too, as OPA loads a bundle.
  opa_eval.py test BUNDLE [-v] [--run REGEX]
      Runs every test_* rule of the bundle's *_test.rego files (those whose
      name matches REGEX), each as the query data.<package>.<rule>: it passes
      when it is true, fails when it is undefined, false or an error. Prints
      failing tests (all tests with -v) and "N passed, M failed"; exits 1
      when a test fails or none was found.
  opa_eval.py bench BUNDLE --events FILE [--passes N]
      Times each evaluation (one call through the C bridge) and prints one
      JSON line like `palisade policy bench`.
  opa_eval.py check BUNDLE
      Loads and compiles the bundle; prints "ok" or the errors (exit 2).
  opa_eval.py compare BUNDLE [--palisade PATH] [-v]   < events.jsonl
      Runs `PATH policy eval BUNDLE` (default: target/release/palisade, else
      target/debug/palisade) and OPA on the same events and compares the
      decisions line by line (two errors count as equal: their wording is
      each engine's own). Prints each difference, then "N events: S same,
      D differ"; exits 1 when any differ.

policies/samples/corpus.jsonl holds events that exercise every rule of the
baseline bundle (matches, near misses, the shipped exception in and out of
scope and after expiry, every actor class, non-UTF-8 values, odd shapes):
  opa_eval.py compare policies < policies/samples/corpus.jsonl

Exit status: 0 on success; 1 on test failures; 2 when the bundle cannot be
loaded or compiled (the message is on stderr).

The bundle is read as OPA's bundle loader reads it (see "bundle" below):
every .rego file a module, data only from data.json/data.yaml/data.yml at
their directory's path, the manifest's roots enforced.

The library's C interface (Go c-shared, from the wheel's own ctypes
bindings): OpaNew() -> handle; OpaAddPolicy(h, path, source);
OpaAddData(h, dotted_path, json); OpaEvalQuery(h, query, input_json,
coverage, trace); OpaFreeString(ptr); OpaDestroy(h). Fallible calls return a
malloc'd JSON envelope {"result": ..., "error": {"code", "message"}}.
"""

import argparse
import time
import ctypes
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LIB = ROOT / "target" / "opa" / "opa_bindings" / "libopabridge.so"
DEFAULT_QUERY = "data.palisade.main.decision"


class OpaError(Exception):
    pass


class Opa:
    """One OPA engine: modules and data added, then queries evaluated."""

    def __init__(self, lib_path):
        if not Path(lib_path).is_file():
            raise OpaError(
                f"{lib_path}: no OPA library; run xtask/opa/setup.sh "
                "(or set OPA_BRIDGE_LIB)"
            )
        lib = ctypes.CDLL(str(lib_path))
        lib.OpaNew.restype = ctypes.c_uint64
        lib.OpaNew.argtypes = []
        lib.OpaDestroy.restype = None
        lib.OpaDestroy.argtypes = [ctypes.c_uint64]
        lib.OpaFreeString.restype = None
        lib.OpaFreeString.argtypes = [ctypes.c_void_p]
        lib.OpaAddPolicy.restype = ctypes.c_void_p
        lib.OpaAddPolicy.argtypes = [ctypes.c_uint64, ctypes.c_char_p, ctypes.c_char_p]
        lib.OpaAddData.restype = ctypes.c_void_p
        lib.OpaAddData.argtypes = [ctypes.c_uint64, ctypes.c_char_p, ctypes.c_char_p]
        lib.OpaEvalQuery.restype = ctypes.c_void_p
        lib.OpaEvalQuery.argtypes = [
            ctypes.c_uint64,
            ctypes.c_char_p,  # query
            ctypes.c_char_p,  # input JSON ("" for none)
            ctypes.c_int,  # coverage
            ctypes.c_int,  # trace
        ]
        self.lib = lib
        self.handle = lib.OpaNew()

    def close(self):
        if self.handle is not None:
            self.lib.OpaDestroy(self.handle)
            self.handle = None

    def _call(self, fn, *args):
        ptr = fn(self.handle, *args)
        if not ptr:
            raise OpaError("the OPA library returned NULL")
        try:
            raw = ctypes.string_at(ptr)
        finally:
            self.lib.OpaFreeString(ptr)
        envelope = json.loads(raw)
        err = envelope.get("error")
        if err:
            raise OpaError(f"{err.get('code', 'error')}: {err.get('message', '')}")
        return envelope

    def add_policy(self, path, source):
        self._call(self.lib.OpaAddPolicy, _c(path), _c(source))

    def add_data(self, value):
        self._call(self.lib.OpaAddData, b"", _json(value))

    def eval(self, query, input_value=None):
        """The value of `query` (a reference), or raises KeyError if undefined."""
        data = b"" if input_value is None else _json(input_value)
        envelope = self._call(self.lib.OpaEvalQuery, _c(query), data, 0, 0)
        for line in envelope.get("prints") or []:
            print(f"{line.get('location')}: {line.get('message')}", file=sys.stderr)
        results = envelope.get("result") or []
        if not results or not results[0].get("expressions"):
            raise KeyError(query)
        return results[0]["expressions"][0]["value"]


def _c(text):
    if "\0" in text:
        raise OpaError("a string holds a NUL character")
    return text.encode("utf-8")


def _json(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# ------------------------------------------------------------------ bundle
#
# OPA's bundle reader (v1/bundle/bundle.go, Reader.Read), which `opa build`,
# `opa run --bundle` and the bundle plugin share; the library exposes OPA's
# engine, not that reader, so its rules are followed here:
# - a bundle is a directory or a .tar.gz; every .rego file is a module
#   (tests included, as `opa build` packs them);
# - data comes only from files named data.json, data.yaml or data.yml,
#   each mounted at its directory's path (a/b/data.json is data.a.b); one
#   at the root must hold an object; other files are ignored;
# - the files merge as OPA's merge.InterfaceMaps does: two values at one
#   path conflict unless both are objects;
# - .manifest: `roots` must not overlap, and bound every module's package
#   and every data path; `rego_version` other than 1 is refused here;
# - .signatures.json is not verified here (Palisade's own tests do that).

DATA_FILES = ("data.json", "data.yaml", "data.yml")


def bundle_files(root):
    """{relative path: bytes} of the bundle at `root` (directory or tarball)."""
    root = Path(root)
    if root.is_file() and root.name.endswith((".tar.gz", ".tgz")):
        import tarfile

        files = {}
        with tarfile.open(root, "r:gz") as tar:
            for m in tar:
                if m.isfile():
                    name = m.name.lstrip("/")
                    while name.startswith("./"):
                        name = name[2:]
                    files[name] = tar.extractfile(m).read()
        return files
    if not root.is_dir():
        raise OpaError(f"{root}: neither a directory nor a .tar.gz")
    files = {}
    for name in (".manifest",):
        if (root / name).is_file():
            files[name] = (root / name).read_bytes()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        # Hidden entries, among them the kubelet's ..data snapshot of a
        # ConfigMap (reached here through its top-level links).
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                path = Path(dirpath) / name
                files[str(path.relative_to(root))] = path.read_bytes()
    return files


def parse_data(rel, raw):
    try:
        if rel.endswith(".json"):
            return json.loads(raw)
        import yaml  # only needed for YAML data files

        return yaml.safe_load(raw)
    except ValueError as e:
        raise OpaError(f"bundle load failed on {rel}: {e}") from None


def mktree(rel, value):
    """The data file's value as a tree from the data root."""
    key = [k for k in rel.rsplit("/", 1)[0].split("/") if k] if "/" in rel else []
    if not key and not isinstance(value, dict):
        raise OpaError(f"bundle load failed on {rel}: root value must be object")
    for k in reversed(key):
        value = {k: value}
    return value


def conflicts(a, b):
    for k, v in b.items():
        if k in a and (not isinstance(a[k], dict) or not isinstance(v, dict) or conflicts(a[k], v)):
            return True
    return False


def merge(a, b):
    for k, v in b.items():
        if k in a:
            merge(a[k], v)
        else:
            a[k] = v


def root_contains(root, path):
    r, p = root.split("/"), path.split("/")
    return root == "" or (len(r) <= len(p) and p[: len(r)] == r)


def check_roots(roots, modules, data):
    for i, a in enumerate(roots):
        for b in roots[i + 1 :]:
            if root_contains(a, b) or root_contains(b, a):
                raise OpaError(f"manifest has overlapped roots: '{a}' and '{b}'")
    for rel, text in modules.items():
        package = PACKAGE.search(text)
        path = package.group(1).replace(".", "/") if package else ""
        if not any(root_contains(r, path) for r in roots):
            raise OpaError(f"manifest roots {roots} do not permit '{path}' in module '{rel}'")

    def walk(node, path):
        if any(root_contains(r, path) for r in roots):
            return
        if isinstance(node, dict) and any(
            root_contains(seg, r) for seg in (path.split("/") if path else [""]) for r in roots
        ):
            for k, v in node.items():
                walk(v, f"{path}/{k}" if path else k)
            return
        raise OpaError(f"manifest roots {roots} do not permit data at path '/{path}'")

    walk(data, "")


def load_bundle(root):
    """(modules {path: source}, the *_test.rego among them, data), read as
    OPA's bundle reader reads the bundle."""
    modules, data, manifest = {}, {}, {}
    for rel, raw in sorted(bundle_files(root).items()):
        name = rel.rsplit("/", 1)[-1]
        if rel.endswith(".rego"):
            modules[rel] = raw.decode("utf-8")
        elif name in DATA_FILES:
            tree = mktree(rel, parse_data(rel, raw))
            if conflicts(data, tree):
                raise OpaError(f"bundle load failed on {rel}: failed to insert data file")
            merge(data, tree)
        elif rel == ".manifest":
            manifest = json.loads(raw)
    if manifest.get("rego_version", 1) != 1:
        raise OpaError(f"{root}: .manifest: only rego_version 1 is compared here")
    roots = [r.strip("/") for r in manifest.get("roots", [""])]
    check_roots(roots, modules, data)
    if not modules:
        raise OpaError(f"{root}: no Rego modules")
    tests = {p: t for p, t in modules.items() if p.endswith("_test.rego")}
    return modules, tests, data


def engine_for(root):
    modules, tests, data = load_bundle(root)
    opa = Opa(os.environ.get("OPA_BRIDGE_LIB", DEFAULT_LIB))
    for path, text in modules.items():
        try:
            opa.add_policy(path, text)
        except OpaError as e:
            raise OpaError(f"{path}: {e}") from None
    opa.add_data(data)
    # Compile everything now, so a bad bundle fails here and not per event.
    opa.eval("true")
    return opa, tests


# ------------------------------------------------------------------ commands


def decide(opa, query, number, raw):
    """The result for one input line, as `palisade policy eval` prints it: the
    query's value, or {"line": N, "error": ...}. None for a blank line."""
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return None
    try:
        event = json.loads(text)
        if not isinstance(event, dict):
            raise ValueError("an event must be a JSON object")
        return opa.eval(query, event)
    except json.JSONDecodeError as e:
        return {"line": number, "error": f"not JSON: {e}"}
    except KeyError:
        return {"line": number, "error": f"{query} is undefined"}
    except (ValueError, OpaError) as e:
        return {"line": number, "error": str(e)}


def cmd_eval(args):
    opa, _ = engine_for(args.bundle)
    out = sys.stdout
    for number, raw in enumerate(sys.stdin.buffer, start=1):
        result = decide(opa, args.query, number, raw)
        if result is None:
            continue
        out.write(json.dumps(result, ensure_ascii=False, separators=(",", ":")))
        out.write("\n")
        out.flush()
    return 0


def cmd_bench(args):
    """Times OPA on each event, like `palisade policy bench`: one JSON line
    with evaluations per second and latency percentiles. Each timing covers
    one call into OPA's engine through its C bridge, JSON in and out: the
    way a host embeds this library, not OPA's in-process Go API."""
    opa, _ = engine_for(args.bundle)
    with open(args.events, "rb") as f:
        events = [json.loads(line) for line in f if line.strip()]
    events = [e for e in events if isinstance(e, dict)]
    for e in events:
        try:
            opa.eval(args.query, e)
        except (KeyError, OpaError):
            pass
    latencies = []
    clock = time.perf_counter_ns
    started = clock()
    for _ in range(args.passes):
        for e in events:
            t = clock()
            try:
                opa.eval(args.query, e)
            except (KeyError, OpaError):
                pass
            latencies.append(clock() - t)
    total = (clock() - started) / 1e9
    latencies.sort()
    pct = lambda p: latencies[int((len(latencies) - 1) * p)] / 1000.0
    print(json.dumps({"engine": "opa", "events": len(events), "evaluations": len(latencies),
                      "evals_per_sec": len(latencies) / total, "p50_us": pct(0.50),
                      "p99_us": pct(0.99), "max_us": latencies[-1] / 1000.0}))
    return 0


TEST_RULE = re.compile(r"^(test_[A-Za-z0-9_]*)", re.M)
PACKAGE = re.compile(r"^\s*package\s+([A-Za-z0-9_.]+)", re.M)


def test_refs(tests, selected):
    """data.<package>.<rule> of every test_* rule (matching `selected`)."""
    refs = []
    for path, text in sorted(tests.items()):
        package = PACKAGE.search(text)
        if not package:
            raise OpaError(f"{path}: no package declaration")
        for name in dict.fromkeys(TEST_RULE.findall(text)):
            full = f"data.{package.group(1)}.{name}"
            if not selected or selected.search(full):
                refs.append(full)
    return refs


HARNESS_PACKAGE = "palisade_opa_eval_harness"


def all_outcomes(opa, refs):
    """Every test's value in one evaluation (each distinct query costs the
    library a compile): a rule holding each test's value where it is
    defined. None when that evaluation fails (a test raised an error)."""
    lines = [f"package {HARNESS_PACKAGE}", "", "import rego.v1", ""]
    lines += [f'results["{ref}"] := v if {{ v := {ref} }}' for ref in refs]
    try:
        opa.add_policy(f"{HARNESS_PACKAGE}.rego", "\n".join(lines) + "\n")
        return opa.eval(f"data.{HARNESS_PACKAGE}.results")
    except (KeyError, OpaError):
        return None


def outcome(opa, ref, outcomes):
    """Why the test `ref` failed, or None when it passed."""
    try:
        if outcomes is None:  # each alone, to tell which one errs
            value = opa.eval(ref)
        elif ref in outcomes:
            value = outcomes[ref]
        else:
            raise KeyError(ref)
        return None if value is True else f"gave {json.dumps(value)}"
    except KeyError:
        return "undefined (a condition did not hold)"
    except OpaError as e:
        return str(e)


def cmd_test(args):
    opa, tests = engine_for(args.bundle)
    refs = test_refs(tests, re.compile(args.run) if args.run else None)
    outcomes = all_outcomes(opa, refs)
    passed, failed = 0, []
    for ref in refs:
        why = outcome(opa, ref, outcomes)
        if why is None:
            passed += 1
            if args.verbose:
                print(f"PASS {ref}")
        else:
            failed.append(ref)
            print(f"FAIL {ref}: {why}")
    print(f"{passed} passed, {len(failed)} failed")
    return 1 if failed or passed == 0 else 0


def default_palisade():
    for profile in ("release", "debug"):
        path = ROOT / "target" / profile / "palisade"
        if path.is_file():
            return str(path)
    raise OpaError("no target/{release,debug}/palisade: build it, or pass --palisade")


def cmd_compare(args):
    import subprocess

    events = sys.stdin.buffer.read()
    palisade = args.palisade or default_palisade()
    run = subprocess.run(
        [palisade, "policy", "eval", args.bundle],
        input=events,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if run.returncode != 0:
        raise OpaError(f"{palisade} policy eval failed: {run.stderr.decode(errors='replace').strip()}")
    theirs = [json.loads(line) for line in run.stdout.decode().splitlines() if line.strip()]
    opa, _ = engine_for(args.bundle)
    decided = (decide(opa, DEFAULT_QUERY, n, raw) for n, raw in enumerate(events.splitlines(), start=1))
    ours = [r for r in decided if r is not None]
    same = differ = 0
    for i in range(max(len(ours), len(theirs))):
        a = ours[i] if i < len(ours) else None
        b = theirs[i] if i < len(theirs) else None
        both_errors = isinstance(a, dict) and isinstance(b, dict) and "error" in a and "error" in b
        if a == b or both_errors:
            same += 1
            if args.verbose:
                print(f"same #{i + 1}: {json.dumps(a, sort_keys=True)}")
        else:
            differ += 1
            print(f"DIFF #{i + 1}")
            print(f"  opa:      {json.dumps(a, sort_keys=True)}")
            print(f"  palisade: {json.dumps(b, sort_keys=True)}")
    print(f"{same + differ} events: {same} same, {differ} differ")
    return 1 if differ else 0


def cmd_check(args):
    modules, tests, _ = load_bundle(args.bundle)
    engine_for(args.bundle)
    print(f"ok: {len(modules)} modules, {len(tests)} test files")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("eval", help="evaluate a query for each event on stdin")
    p.add_argument("bundle")
    p.add_argument("--query", "-q", default=DEFAULT_QUERY)
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("test", help="run the bundle's test_* rules")
    p.add_argument("bundle")
    p.add_argument("-v", "--verbose", action="store_true", help="print passing tests too")
    p.add_argument("--run", help="only tests whose data.<pkg>.<name> matches this regex")
    p.set_defaults(func=cmd_test)
    p = sub.add_parser("compare", help="compare OPA's decisions with `palisade policy eval`")
    p.add_argument("bundle")
    p.add_argument("--palisade", help="the palisade binary (default: target/release, else target/debug)")
    p.add_argument("-v", "--verbose", action="store_true", help="print equal decisions too")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("bench", help="time OPA's evaluation of each event in a file")
    p.add_argument("bundle")
    p.add_argument("--events", required=True)
    p.add_argument("--passes", type=int, default=20)
    p.add_argument("--query", "-q", default=DEFAULT_QUERY)
    p.set_defaults(func=cmd_bench)
    p = sub.add_parser("check", help="load and compile the bundle")
    p.add_argument("bundle")
    p.set_defaults(func=cmd_check)
    args = parser.parse_args()
    try:
        return args.func(args)
    except OpaError as e:
        print(f"opa_eval: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
