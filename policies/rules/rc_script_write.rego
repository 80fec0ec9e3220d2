# PAL-072: /etc/rc.local (or rc.common) is written: commands the init
# system runs as root at every boot. Host and container alike, except
# package managers.
package palisade.rules.rc_script_write

import rego.v1

import data.palisade.lib.files as f
import data.palisade.lib.files.by_package_manager
import data.palisade.lib.files.outcome
import data.palisade.lib.files.verb
import data.palisade.lib.files.who
import data.palisade.lib.files.writes
import data.palisade.lib.where

# Watched for writes by the kernel (files.rego).
files := {"write": ["/etc/rc.local", "/etc/rc.common", "/etc/rc.d/rc.local"]}

meta := {
	"id": "PAL-072",
	"title": "Boot script written",
	"description": "A process other than a package manager wrote, renamed, deleted or changed the mode of /etc/rc.local, /etc/rc.common or /etc/rc.d/rc.local.",
	"severity": "medium",
	"mitre": "T1037.004",
	"action": "alert",
	"kinds": ["file_open", "file_unlink", "file_rename", "file_chmod"],
	"triggers": [{"file_paths": files.write}],
}

hits contains msg if {
	writes
	some path in f.under(files.write)
	not by_package_manager
	msg := concat("", [who, " ", verb, " ", path, " (boot script persistence) ", where, outcome])
}
