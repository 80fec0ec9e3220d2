# PAL-022: a container runs a program that was not part of its image:
# written or copied into the container's writable layer, made executable
# after the container started, or run from memory (memfd) or from a deleted
# file. The most common sign of compromise in a container: the attacker's
# own tool, dropped or downloaded after start.
#
# The agent sets process.exe.drift: the exec hook checks the executable's
# file itself (overlayfs upper layer, memfd, no link on disk, reached
# through a volume or another mount than the container's root); the agent
# adds the checks against the container's start time (file written or
# chmod-ed after it) and the script's own file for scripts.
#
# Kernel: `kernel.exec.drift` makes the exec hook deny, in containers, any
# executable that shows drift in the hook (upper layer, memfd, deleted,
# volume),
# before its first instruction: BPF-LSM refuses the exec with EPERM (the
# script's own file too), else the exec tracepoint kills it (it sees the
# interpreter of a script, not the script). The time-based reasons are
# reported only. A workload that updates itself legitimately gets an
# exception (exceptions.json), which relaxes the kernel rule to reporting;
# so does a workload whose volumes are meant to carry executables (an init
# container copying tools into an emptyDir), with an exception scoped to it.
package palisade.rules.container_drift

import rego.v1

import data.palisade.lib.binary
import data.palisade.lib.in_container
import data.palisade.lib.where

meta := {
	"id": "PAL-022",
	"title": "Program not in the container image (drift)",
	"description": "A container executes a binary or script that its image did not contain: it lives in the writable (upper) layer or on a volume (another mount than the container's root file system), was written or made executable after the container started, or runs from a memfd or a deleted file (process.exe.drift).",
	"severity": "high",
	"mitre": "T1105",
	"action": "block",
	"kinds": ["process_exec"],
	"triggers": [{"container": true, "drift": true}],
}

hits contains msg if {
	in_container
	drift := input.process.exe.drift
	is_string(drift.reason)
	msg := concat("", [
		"program not in the image (", drift.reason, ", ", object.get(drift, "file", "executable"), ") ",
		where, ": ", binary,
	])
}

# The kernel's part: drift the hook sees in the file, in containers.
kernel := {
	"scope": "containers",
	"exec": {"drift": true},
}
