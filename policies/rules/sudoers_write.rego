# PAL-045: /etc/sudoers or /etc/sudoers.d/ is written: privileges granted through
# sudo. visudo is reported too (it is how a rule is added by hand).
package palisade.rules.sudoers_write

import rego.v1

import data.palisade.lib.files as f
import data.palisade.lib.files.by_package_manager
import data.palisade.lib.files.outcome
import data.palisade.lib.files.verb
import data.palisade.lib.files.who
import data.palisade.lib.files.writes
import data.palisade.lib.where

# Watched for writes by the kernel (files.rego): paths under these prefixes.
files := {"write": ["/etc/sudoers"]}

meta := {
	"id": "PAL-045",
	"title": "Sudoers modified",
	"description": "A process other than a package manager wrote /etc/sudoers or a file under /etc/sudoers.d/: sudo rules that grant root.",
	"severity": "high",
	"mitre": "T1548.003",
	"action": "alert",
	"kinds": ["file_open", "file_unlink", "file_rename", "file_chmod"],
	"triggers": [{"file_paths": files.write}],
}

hits contains msg if {
	writes
	some path in f.under(files.write)
	not by_package_manager
	msg := concat("", [who, " ", verb, " ", path, " (sudo rules) ", where, outcome])
}
