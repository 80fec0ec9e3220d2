package palisade.rules.rc_script_write_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.rc_script_write as rule

test_rc_local if {
	hits := rule.hits with input as fx.host_write("/usr/bin/tee", "/etc/rc.local")
	hits == {"tee (pid 4242) opened for writing /etc/rc.local (boot script persistence) on the host"}
}

test_reads_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_read("/usr/bin/cat", "/etc/rc.local")
}
