# PAL-016: a shell or interpreter starts with an effective uid of root while
# its real uid is not root: a set-user-id copy of bash (`bash -p`), a
# GTFOBins escalation through a setuid binary, or a kernel exploit's
# payload. sudo and su set the real uid too, so they do not match.
package palisade.rules.setuid_shell

import rego.v1

import data.palisade.config
import data.palisade.lib.euid_raised
import data.palisade.lib.is_shell
import data.palisade.lib.name
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-016",
	"title": "Shell with raised privileges (setuid root)",
	"description": "A shell or script interpreter (config: shells, interpreters) executed with euid 0 and a non-zero uid.",
	"severity": "critical",
	"mitre": "T1548.001",
	"action": "kill",
	"kinds": ["process_exec"],
	"triggers": [{"euid_raised": true, "names": object.union(config.shells, config.interpreters)}],
}

hits contains msg if {
	euid_raised
	shell_or_interpreter
	msg := concat("", [name, " runs as root for uid ", format_int(input.process.uid, 10), " ", where, ": ", short_cmdline])
}

shell_or_interpreter if is_shell

shell_or_interpreter if {
	some n in names
	config.interpreters[n]
}
