# PAL-062: a program runs from a directory named only with dots (`...`,
# `.. `): a name chosen to pass for the current or parent directory in a
# listing, where nothing legitimate keeps programs. Host and container
# alike.
package palisade.rules.exec_from_dot_dir

import rego.v1

import data.palisade.lib.exec_paths
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-062",
	"title": "Program run from a directory masquerading as . or ..",
	"description": "The executable (or the script) lives under a directory whose name is only dots and spaces, other than . and .. (`...`, `.. `, `. `).",
	"severity": "high",
	"mitre": "T1036.005",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"substrings": ["/..", "/. "]}],
}

hits contains msg if {
	some path in exec_paths
	some part in split(path, "/")
	regex.match(`^[. ]+$`, part)
	not part in {".", ".."}
	msg := concat("", [path, " runs from a directory named \"", part, "\" ", where, ": ", short_cmdline])
}
