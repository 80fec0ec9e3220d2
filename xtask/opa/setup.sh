#!/usr/bin/env bash
# Fetches OPA's Go engine as a shared library, for comparing Palisade's
# policy decisions with OPA's (xtask/opa/opa_eval.py).
#
# The library ships in the PyPI wheel `opa-golib-python-bindings` (a Go
# c-shared build of OPA; version 0.4.4 embeds OPA v1.20.2). The wheel declares
# Python 3.14, but only its shared library is used here, loaded with ctypes
# from any python3, so it is downloaded for that Python version and unpacked,
# not installed.
#
# Result: target/opa/opa_bindings/libopabridge.so (relative to the workspace
# root). Idempotent: does nothing when that library is already there.
#
# Usage: xtask/opa/setup.sh            (from anywhere)
#        OPA_BINDINGS_VERSION=x.y.z xtask/opa/setup.sh   to pick another wheel
set -euo pipefail

version="${OPA_BINDINGS_VERSION:-0.4.4}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dest="$root/target/opa"
lib="$dest/opa_bindings/libopabridge.so"
stamp="$dest/.version"

if [[ -f "$lib" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
	echo "opa: $lib (opa-golib-python-bindings $version) already present"
	exit 0
fi

if command -v pip3 >/dev/null 2>&1; then
	pip=(pip3)
else
	pip=(python3 -m pip)
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"${pip[@]}" download --quiet --disable-pip-version-check --only-binary=:all: \
	--python-version 3.14 --no-deps -d "$work" "opa-golib-python-bindings==$version"
wheel="$(ls "$work"/opa_golib_python_bindings-*.whl)"

rm -rf "$dest"
mkdir -p "$dest"
python3 -m zipfile -e "$wheel" "$dest"
if [[ ! -f "$lib" ]]; then
	echo "opa: $wheel holds no opa_bindings/libopabridge.so" >&2
	exit 1
fi
echo "$version" >"$stamp"
echo "opa: unpacked $(basename "$wheel") into $dest"
