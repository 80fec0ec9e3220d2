# PAL-070: the node's logging or audit service is stopped, disabled or
# masked (`systemctl stop systemd-journald`, `service rsyslog stop`,
# `pkill auditd`): what follows goes unrecorded. Host and container
# alike, except under a package manager (an upgrade restarts them).
package palisade.rules.logging_stopped

import rego.v1

import data.palisade.config
import data.palisade.lib.ancestor_names
import data.palisade.lib.args
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-070",
	"title": "Logging or audit service stopped",
	"description": "systemctl stop/disable/mask/kill or service ... stop of systemd-journald, rsyslog, syslog-ng, syslog or auditd, or kill/pkill/killall naming their daemons; not under a package manager.",
	"severity": "high",
	"mitre": "T1685",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"names": ["systemctl", "service", "pkill", "killall"], "substrings": ["journal", "syslog", "audit"]}],
}

services := ["journald", "rsyslog", "syslog-ng", "syslog", "auditd"]

verbs := {"stop", "disable", "mask", "kill"}

hits contains msg if {
	some tool in ["systemctl", "service"]
	tool in names
	some verb in args
	verbs[verb]
	some i, a in args
	i > 0
	logging_service(a)
	not under_package_manager
	msg := concat("", [tool, " ", verb, " ", a, " ", where, ": ", short_cmdline])
}

hits contains msg if {
	some tool in ["pkill", "killall"]
	tool in names
	some i, a in args
	i > 0
	logging_service(a)
	not under_package_manager
	msg := concat("", [tool, " ", a, " ", where, ": ", short_cmdline])
}

logging_service(a) if {
	not startswith(a, "-")
	some s in services
	contains(a, s)
}

under_package_manager if {
	some n in ancestor_names
	config.package_managers[n]
}
