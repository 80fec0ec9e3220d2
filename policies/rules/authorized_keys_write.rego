# PAL-043: root's authorized_keys is written, renamed, deleted or chmod-ed:
# account manipulation that keeps SSH access. Other users' home directories
# cannot be watched as a prefix (/home/*/): not covered.
package palisade.rules.authorized_keys_write

import rego.v1

import data.palisade.lib.files as f
import data.palisade.lib.files.by_package_manager
import data.palisade.lib.files.outcome
import data.palisade.lib.files.verb
import data.palisade.lib.files.who
import data.palisade.lib.files.writes
import data.palisade.lib.where

# Watched for writes by the kernel (files.rego): paths under these prefixes.
files := {"write": ["/root/.ssh/authorized_keys"]}

meta := {
	"id": "PAL-043",
	"title": "SSH authorized_keys modified",
	"description": "A process other than a package manager changed root's SSH authorized_keys (or authorized_keys2): a key added there logs an intruder back in as root.",
	"severity": "high",
	"mitre": "T1098.004",
	"action": "alert",
	"kinds": ["file_open", "file_unlink", "file_rename", "file_chmod"],
	"triggers": [{"file_paths": files.write}],
}

hits contains msg if {
	writes
	some path in f.under(files.write)
	not by_package_manager
	msg := concat("", [who, " ", verb, " ", path, " (SSH authorized keys) ", where, outcome])
}
