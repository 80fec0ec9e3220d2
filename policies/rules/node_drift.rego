# PAL-023: the node runs a program under a system directory (/usr/bin,
# /usr/sbin, /usr/lib, /bin, ...) whose file was written after the node
# booted: a system binary replaced or added on a running node. Immutable
# nodes never do this; on others it is a package upgrade (give it an
# exception while the maintenance window lasts) or a backdoored binary.
#
# The agent sets process.exe.drift.reason "written_after_boot" for host
# processes only (a container's files are judged by PAL-022), from the
# file's data change time as the exec hook read it. Reported, never
# blocked: the hook does not know the boot-time baseline of each file.
package palisade.rules.node_drift

import rego.v1

import data.palisade.lib.binary

meta := {
	"id": "PAL-023",
	"title": "System binary written after boot (node drift)",
	"description": "A host process runs a binary under a system directory whose data was written after the node booted (process.exe.drift.reason written_after_boot): a replaced or added system program.",
	"severity": "medium",
	"mitre": "T1554",
	"action": "alert",
	"kinds": ["process_exec"],
	# Any drift: `input.host` is not a trigger key.
	"triggers": [{"drift": true}],
}

hits contains msg if {
	input.host == true
	input.process.exe.drift.reason == "written_after_boot"
	msg := concat("", ["system binary written after boot executed on the host: ", binary])
}
