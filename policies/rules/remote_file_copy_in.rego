# PAL-067: files are fetched from another machine over SSH: scp or rsync
# whose source is remote and destination local, or sftp given a remote
# `host:path` (its direction is in its own command stream: reported as a
# transfer). Tools and payloads arriving this way bypass HTTP egress
# controls. Copies out are PAL-034. Host and container alike; low severity.
package palisade.rules.remote_file_copy_in

import rego.v1

import data.palisade.lib.args
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-067",
	"title": "Files copied from a remote host",
	"description": "scp or rsync with a remote source (host:path, user@host:path, scp://, rsync://) and a local destination, or sftp given a remote host:path.",
	"severity": "low",
	"mitre": "T1105",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"names": ["scp", "rsync", "sftp"], "substrings": [":"]}],
}

# Options of scp, sftp and rsync that take a value in the next argument.
with_value := {"-o", "-i", "-P", "-p", "-F", "-c", "-l", "-S", "-J", "-D", "-b", "-B", "-R", "-e"}

operands := [a |
	some i, a in args
	i > 0
	not startswith(a, "-")
	not with_value[args[i - 1]]
]

hits contains msg if {
	some tool in ["scp", "rsync"]
	tool in names
	count(operands) > 1
	not remote(operands[count(operands) - 1])
	sources := {s | some j, s in operands; j < count(operands) - 1; remote(s)}
	count(sources) > 0
	msg := concat("", [tool, " copies files from ", concat(", ", sort(sources)), " ", where, ": ", short_cmdline])
}

hits contains msg if {
	"sftp" in names
	some s in operands
	regex.match(`^[^/:]+:.`, s)
	msg := concat("", ["sftp transfers files with ", s, " ", where, ": ", short_cmdline])
}

remote(path) if startswith(path, "rsync://")

remote(path) if startswith(path, "scp://")

remote(path) if regex.match(`^[^/:]+:`, path)
