# PAL-034: files are copied to another machine over SSH: scp or rsync
# whose destination (last operand) is remote (`host:path`,
# `user@host:path`, `rsync://`). Data leaving a node or a container this
# way bypasses whatever watches HTTP egress. Host and container alike: no
# node component copies files out with scp; a backup job that does is an
# exception with an owner. Low severity: the tools are also ordinary admin
# tools. Downloads (a remote source, a local destination) and sftp (whose
# direction is in its own command stream) are not matched.
package palisade.rules.file_transfer_out

import rego.v1

import data.palisade.lib.args
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-034",
	"title": "Files copied to a remote host",
	"description": "scp or rsync with a remote destination (host:path, user@host:path, rsync://host/...).",
	"severity": "low",
	"mitre": "T1048",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"names": ["scp", "rsync"], "substrings": [":"]}],
}

hits contains msg if {
	some tool in ["scp", "rsync"]
	tool in names
	operands := [a | some i, a in args; i > 0; not startswith(a, "-")]
	count(operands) > 1
	destination := operands[count(operands) - 1]
	remote(destination)
	msg := concat("", [tool, " copies files to ", destination, " ", where, ": ", short_cmdline])
}

remote(path) if startswith(path, "rsync://")

remote(path) if startswith(path, "scp://")

# host:path, user@host:path: a colon before any slash.
remote(path) if regex.match(`^[^/:]+:`, path)
