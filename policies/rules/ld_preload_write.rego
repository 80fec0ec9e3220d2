# PAL-044: /etc/ld.so.preload is written: a library injected into every
# dynamically linked program.
package palisade.rules.ld_preload_write

import rego.v1

import data.palisade.lib.files as f
import data.palisade.lib.files.by_package_manager
import data.palisade.lib.files.outcome
import data.palisade.lib.files.verb
import data.palisade.lib.files.who
import data.palisade.lib.files.writes
import data.palisade.lib.where

# Watched for writes by the kernel (files.rego): paths under these prefixes.
files := {"write": ["/etc/ld.so.preload"]}

meta := {
	"id": "PAL-044",
	"title": "Dynamic linker preload file modified",
	"description": "A process other than a package manager wrote /etc/ld.so.preload: every dynamically linked program then loads the libraries it names (a userland rootkit's hook).",
	"severity": "critical",
	"mitre": "T1574.006",
	"action": "alert",
	"kinds": ["file_open", "file_unlink", "file_rename", "file_chmod"],
	"triggers": [{"file_paths": files.write}],
}

hits contains msg if {
	writes
	some path in f.under(files.write)
	not by_package_manager
	msg := concat("", [who, " ", verb, " ", path, " (dynamic linker hijacking) ", where, outcome])
}
