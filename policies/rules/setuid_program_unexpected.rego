# PAL-032: a program runs with an effective uid of root for a user who is
# not root, and it is not one of the set-user-id programs a distribution
# ships (config: setuid_root_programs) in a system directory (config:
# setuid_program_dirs). This is how a set-uid copy of a shell is found
# whatever its name (PAL-016 needs it to be called a shell): /tmp/.x,
# /dev/shm/update, a copy of bash renamed `passwd` outside /usr/bin.
# Host and container alike. Alert only: a vendor's own set-uid helper is
# an exception to add, not a process to kill.
package palisade.rules.setuid_program_unexpected

import rego.v1

import data.palisade.config
import data.palisade.lib.binary
import data.palisade.lib.euid_raised
import data.palisade.lib.name
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-032",
	"title": "Unexpected set-uid root program",
	"description": "A program executed with euid 0 and a non-zero uid that is not a known set-uid program (config: setuid_root_programs) under a system directory (config: setuid_program_dirs).",
	"severity": "high",
	"mitre": "T1548.001",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"euid_raised": true}],
}

hits contains msg if {
	euid_raised
	not expected
	msg := concat("", [binary, " runs as root for uid ", format_int(input.process.uid, 10), " ", where, ": ", short_cmdline])
}

expected if {
	config.setuid_root_programs[name]
	strings.any_prefix_match(binary, config.setuid_program_dirs)
}
