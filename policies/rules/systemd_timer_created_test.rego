package palisade.rules.systemd_timer_created_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.systemd_timer_created as rule

test_timers if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/systemd-run", ["systemd-run", "--on-calendar=*:0/5", "/tmp/x"])
	hits == {"systemd-run creates a timer on the host: systemd-run --on-calendar=*:0/5 /tmp/x"}
	count(rule.hits) == 1 with input as fx.host_exec("/usr/bin/systemd-run", ["systemd-run", "--unit=u", "--on-active", "30", "id"])
}

test_a_plain_transient_service_is_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/systemd-run", ["systemd-run", "--scope", "-p", "MemoryMax=1G", "make"])
}
