package palisade.rules.timestomp_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.timestomp as rule

test_back_dated if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/touch", ["touch", "-m", "-t", "197001010000.00", "/tmp/x"])
	hits == {"touch sets timestamps (-t) on the host: touch -m -t 197001010000.00 /tmp/x"}
}

test_reference_file_and_long_options if {
	count(rule.hits) == 1 with input as fx.container_exec("/bin/touch", ["touch", "-acmr", "/bin/sh", "/tmp/x"])
	count(rule.hits) == 1 with input as fx.host_exec("/usr/bin/touch", ["touch", "--date=2001-01-01", "/usr/bin/x"])
}

test_plain_touch_and_package_managers_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/touch", ["touch", "-c", "/tmp/x"])
	ev := fx.with_ancestors(fx.host_exec("/usr/bin/touch", ["touch", "-r", "a", "b"]), ["/usr/bin/dpkg"])
	count(rule.hits) == 0 with input as ev
}
