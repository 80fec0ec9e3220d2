# PAL-068: data is streamed through ssh as an archive or a raw copy: ssh
# with a remote command that writes its standard input to a file (`cat >
# f`, `dd of=`) or archives to standard output (`tar -czf - /etc`), the
# classic exfiltration (and collection) over an SSH session. Host and
# container alike; low severity (also an admin's way to copy a tree).
package palisade.rules.ssh_data_stream

import rego.v1

import data.palisade.lib.args
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-068",
	"title": "Data streamed through ssh",
	"description": "ssh with a remote command that writes its input to a file (cat > f, dd of=f) or writes an archive to its output (tar ...f -).",
	"severity": "low",
	"mitre": "T1048",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"names": ["ssh"], "substrings": ["cat", "dd ", "tar "]}],
}

hits contains msg if {
	"ssh" in names
	some i, a in args
	i > 1
	streams(a)
	msg := concat("", ["ssh streams data (", a, ") ", where, ": ", short_cmdline])
}

streams(command) if regex.match(`(^|[^A-Za-z0-9_])cat[[:space:]]*>`, command)

streams(command) if regex.match(`(^|[^A-Za-z0-9_])dd[[:space:]].*of=`, command)

streams(command) if regex.match(`(^|[^A-Za-z0-9_])tar[[:space:]]+-?[A-Za-z]*f[[:space:]]*-([[:space:]]|$)`, command)
