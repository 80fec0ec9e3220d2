# PAL-065: a file's timestamps are set to a chosen time (`touch -t
# 197001010000`, `touch -d`, `touch -r /bin/sh x`): back-dating a dropped
# file so that it hides among the system's own. Host and container alike,
# except under a package manager (config: package_managers) or a build
# tool (`build_tools` below), which set reproducible timestamps this way.
package palisade.rules.timestomp

import rego.v1

import data.palisade.config
import data.palisade.lib.ancestor_names
import data.palisade.lib.args
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-065",
	"title": "File timestamps set to a chosen time",
	"description": "touch with -t, -d/--date or -r/--reference (also combined, -acmr), not under a package manager (config: package_managers) or a build tool (make, cmake, ninja, cargo, go, dpkg-buildpackage, dh, rpmbuild, bazel).",
	"severity": "low",
	"mitre": "T1070.006",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"names": ["touch"], "substrings": [" -", "--date", "--reference"]}],
}

hits contains msg if {
	"touch" in names
	some i, a in args
	i > 0
	sets_time(a)
	not under_tooling
	msg := concat("", ["touch sets timestamps (", a, ") ", where, ": ", short_cmdline])
}

sets_time(a) if regex.match(`^-[acfhm]*[tdr]`, a)

sets_time(a) if {
	some opt in ["--date", "--reference"]
	startswith(a, opt)
}

under_tooling if {
	some n in ancestor_names
	config.package_managers[n]
}

under_tooling if {
	some n in ancestor_names
	build_tools[n]
}

build_tools := {
	"make": true, "gmake": true, "cmake": true, "ninja": true, "cargo": true, "go": true,
	"dpkg-buildpackage": true, "dh": true, "rpmbuild": true, "bazel": true,
}
