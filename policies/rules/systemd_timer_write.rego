# PAL-073: a systemd timer unit (*.timer) is written: a scheduled task that
# systemd runs (the service it starts is PAL-047's). Host and container
# alike, except package managers.
package palisade.rules.systemd_timer_write

import rego.v1

import data.palisade.lib.files as f
import data.palisade.lib.files.by_package_manager
import data.palisade.lib.files.outcome
import data.palisade.lib.files.verb
import data.palisade.lib.files.who
import data.palisade.lib.files.writes
import data.palisade.lib.where

# Watched for writes by the kernel (files.rego): the same prefixes as
# PAL-047's; only timers are matched here.
files := {"write": ["/etc/systemd/system/", "/run/systemd/system/"]}

meta := {
	"id": "PAL-073",
	"title": "systemd timer written",
	"description": "A process other than a package manager wrote, renamed or deleted a *.timer unit under /etc/systemd/system/ or /run/systemd/system/.",
	"severity": "medium",
	"mitre": "T1053.006",
	"action": "alert",
	"kinds": ["file_open", "file_unlink", "file_rename", "file_chmod"],
	"triggers": [{"file_paths": files.write}],
}

hits contains msg if {
	writes
	some path in f.under(files.write)
	endswith(path, ".timer")
	not by_package_manager
	msg := concat("", [who, " ", verb, " ", path, " (scheduled task persistence) ", where, outcome])
}
