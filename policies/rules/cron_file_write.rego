# PAL-042: a cron schedule is written outside package management: persistence by
# scheduled task. `crontab -e` is reported as well (it is how persistence
# is installed by hand); exempt a known job runner with an exception.
package palisade.rules.cron_file_write

import rego.v1

import data.palisade.lib.files as f
import data.palisade.lib.files.by_package_manager
import data.palisade.lib.files.outcome
import data.palisade.lib.files.verb
import data.palisade.lib.files.who
import data.palisade.lib.files.writes
import data.palisade.lib.where

# Watched for writes by the kernel (files.rego): paths under these prefixes.
files := {"write": ["/etc/cron", "/etc/anacrontab", "/var/spool/cron/"]}

meta := {
	"id": "PAL-042",
	"title": "Cron schedule written",
	"description": "A process other than a package manager wrote, created, renamed, deleted or chmod-ed a cron schedule: /etc/crontab, /etc/cron.d/, /etc/cron.{hourly,daily,weekly,monthly}/, /etc/anacrontab or a user crontab under /var/spool/cron/. crontab(1) writing a user's own table is reported too.",
	"severity": "high",
	"mitre": "T1053.003",
	"action": "alert",
	"kinds": ["file_open", "file_unlink", "file_rename", "file_chmod"],
	"triggers": [{"file_paths": files.write}],
}

hits contains msg if {
	writes
	some path in f.under(files.write)
	not by_package_manager
	msg := concat("", [who, " ", verb, " ", path, " (cron persistence) ", where, outcome])
}
