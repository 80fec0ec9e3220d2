# PAL-008: a program runs from an anonymous memory file (memfd_create +
# execveat): it never touches the disk, so file scanners and image
# signatures never see it. runc's own self-copy is the known legitimate
# case (config: memfd_allowed_prefixes).
package palisade.rules.fileless_exec

import rego.v1

import data.palisade.config
import data.palisade.lib.binary
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-008",
	"title": "Fileless execution from memory",
	"description": "A process whose executable is a memfd (binary /memfd:<name>), other than allowed names such as runc's runc_cloned: copy.",
	"severity": "high",
	"mitre": "T1620",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"paths": ["/memfd:"]}],
}

hits contains msg if {
	startswith(binary, "/memfd:")
	memfd := substring(binary, 7, -1)
	not strings.any_prefix_match(memfd, config.memfd_allowed_prefixes)
	msg := concat("", ["executed from memory file ", binary, " ", where, ": ", short_cmdline])
}
