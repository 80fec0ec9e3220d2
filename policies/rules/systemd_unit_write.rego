# PAL-047: a systemd unit or a SysV init script is written: a service
# started at boot for persistence.
# `systemctl enable` makes symlinks, which the sensor does not watch.
package palisade.rules.systemd_unit_write

import rego.v1

import data.palisade.lib.files as f
import data.palisade.lib.files.by_package_manager
import data.palisade.lib.files.outcome
import data.palisade.lib.files.verb
import data.palisade.lib.files.who
import data.palisade.lib.files.writes
import data.palisade.lib.where

# Watched for writes by the kernel (files.rego): paths under these prefixes.
files := {"write": ["/etc/systemd/system/", "/run/systemd/system/", "/etc/init.d/"]}

meta := {
	"id": "PAL-047",
	"title": "systemd unit written",
	"description": "A process other than a package manager wrote, renamed or deleted a file under /etc/systemd/system/, /run/systemd/system/ or /etc/init.d/: a service or timer that systemd starts, or a SysV init script it runs as a service. Units enabled by symlink (systemctl enable) are not seen: symlink creation is not watched.",
	"severity": "medium",
	"mitre": "T1543.002",
	"action": "alert",
	"kinds": ["file_open", "file_unlink", "file_rename", "file_chmod"],
	"triggers": [{"file_paths": files.write}],
}

hits contains msg if {
	writes
	some path in f.under(files.write)
	not by_package_manager
	msg := concat("", [who, " ", verb, " ", path, " (service persistence) ", where, outcome])
}
