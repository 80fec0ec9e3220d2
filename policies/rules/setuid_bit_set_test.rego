package palisade.rules.setuid_bit_set_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.setuid_bit_set as rule

chmod(args) := fx.host_exec("/usr/bin/chmod", array.concat(["chmod"], args))

test_symbolic_and_numeric_modes if {
	hits := rule.hits with input as chmod(["u+s", "/tmp/bash"])
	hits == {"set-id mode u+s given on the host: chmod u+s /tmp/bash"}
	every mode in ["g+s", "+s", "a+rs", "u=rwxs", "go-w,u+s", "4755", "2755", "6755", "04755"] {
		count(rule.hits) == 1 with input as chmod([mode, "/tmp/x"])
	}
	count(rule.hits) == 1 with input as chmod(["-R", "4777", "/tmp/d"])
	ev := fx.container_exec("/usr/bin/install", ["install", "-m", "4755", "/tmp/sh", "/usr/local/bin/sh"])
	count(rule.hits) == 1 with input as ev
	count(rule.hits) == 1 with input as fx.host_exec("/usr/bin/install", ["install", "--mode=u+s", "a", "b"])
}

test_ordinary_modes_are_not_matched if {
	every mode in ["755", "0755", "1777", "u+x", "u-s", "-s", "o+t", "a+rwx"] {
		count(rule.hits) == 0 with input as chmod([mode, "/tmp/x"])
	}
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/install", ["install", "-m", "0755", "a", "b"])
}

test_under_a_package_manager_is_not_matched if {
	ev := fx.with_ancestors(chmod(["u+s", "/usr/lib/dbus-1.0/dbus-daemon-launch-helper"]), ["/bin/sh", "/usr/bin/dpkg"])
	count(rule.hits) == 0 with input as ev
}
