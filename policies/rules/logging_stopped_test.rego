package palisade.rules.logging_stopped_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.logging_stopped as rule

test_journald_stopped if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/systemctl", ["systemctl", "stop", "systemd-journald"])
	hits == {"systemctl stop systemd-journald on the host: systemctl stop systemd-journald"}
	count(rule.hits) == 1 with input as fx.host_exec("/usr/sbin/service", ["service", "rsyslog", "stop"])
	count(rule.hits) == 1 with input as fx.host_exec("/usr/bin/pkill", ["pkill", "-9", "auditd"])
}

test_status_restart_and_package_managers_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/systemctl", ["systemctl", "status", "systemd-journald"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/systemctl", ["systemctl", "stop", "nginx"])
	ev := fx.with_ancestors(fx.host_exec("/usr/bin/systemctl", ["systemctl", "stop", "rsyslog"]), ["/usr/bin/dpkg"])
	count(rule.hits) == 0 with input as ev
}
