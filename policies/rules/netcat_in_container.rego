# PAL-001: a netcat-style tool (nc, ncat, socat, ...) runs in a container.
# Application images rarely ship these; in a container they are the usual
# way to open a reverse or bind shell or move data over a raw socket.
# Matched by name (binary, execve filename or argv[0]).
#
# Kernel: the same names are denied at exec in containers (`kernel`), by the
# executed file's own name after symlinks (nc -> nc.openbsd is listed too),
# before the tool runs. A renamed copy or a busybox applet (binary busybox,
# argv[0] nc) is not that name: userspace still reports those (argv[0], the
# execve filename) once they have run.
package palisade.rules.netcat_in_container

import rego.v1

import data.palisade.config
import data.palisade.lib.in_container
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-001",
	"title": "Netcat-style tool run in a container",
	"description": "nc, ncat, netcat, socat, pwncat or telnet executed inside a container: raw-socket tools used for reverse and bind shells and ad-hoc exfiltration (config: netcat_tools).",
	"severity": "high",
	"mitre": "T1095",
	"action": "block",
	"kinds": ["process_exec"],
	"triggers": [{"container": true, "names": config.netcat_tools}],
}

hits contains msg if {
	in_container
	found := {n | some n in names; config.netcat_tools[n]}
	count(found) > 0
	msg := concat("", [concat("/", sort(found)), " executed ", where, ": ", short_cmdline])
}

# The kernel's part: every name in config netcat_tools, in containers.
kernel := {
	"scope": "containers",
	"exec": {"names": [n | some n, _ in config.netcat_tools; config.netcat_tools[n]]},
}
