package palisade.rules.systemd_timer_write_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.systemd_timer_write as rule

test_timer_unit if {
	hits := rule.hits with input as fx.host_write("/usr/bin/bash", "/etc/systemd/system/art-timer.timer")
	hits == {"bash (pid 4242) opened for writing /etc/systemd/system/art-timer.timer (scheduled task persistence) on the host"}
}

test_services_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_write("/usr/bin/bash", "/etc/systemd/system/art.service")
}
