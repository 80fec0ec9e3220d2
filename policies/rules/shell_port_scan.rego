# PAL-069: a shell loop opening /dev/tcp or /dev/udp connections: a port
# scan (or a host sweep) with nothing but bash, where no scanner is
# installed. Host and container alike.
package palisade.rules.shell_port_scan

import rego.v1

import data.palisade.config
import data.palisade.lib.shell_command
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-069",
	"title": "Port scan from a shell loop",
	"description": "A shell -c script with a for or while loop that opens /dev/tcp/ or /dev/udp/ connections.",
	"severity": "medium",
	"mitre": "T1046",
	"action": "alert",
	"kinds": ["process_exec"],
	# The loop keywords, not /dev/tcp/: a reverse shell names /dev/tcp/ too,
	# and is PAL-002's.
	"triggers": [{"names": config.shells, "substrings": ["for ", "while ", "until "]}],
}

hits contains msg if {
	some dev in ["/dev/tcp/", "/dev/udp/"]
	contains(shell_command, dev)
	regex.match(`(^|[^A-Za-z0-9_])(for|while|until)[[:space:]]`, shell_command)
	msg := concat("", ["shell loop opens ", dev, " connections ", where, ": ", short_cmdline])
}
