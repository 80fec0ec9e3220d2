package palisade.rules.setcap_privileged_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.setcap_privileged as rule

test_setuid_capability if {
	hits := rule.hits with input as fx.host_exec("/usr/sbin/setcap", ["setcap", "cap_setuid=ep", "/tmp/evilBinary"])
	hits == {"setcap grants cap_setuid on the host: setcap cap_setuid=ep /tmp/evilBinary"}
}

test_several_capabilities if {
	hits := rule.hits with input as fx.container_exec("/usr/sbin/setcap", ["setcap", "cap_net_raw,cap_sys_admin+ep", "/app/x"])
	count(hits) == 1
}

test_harmless_capability_and_removal_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/sbin/setcap", ["setcap", "cap_net_raw+ep", "/usr/bin/ping"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/sbin/setcap", ["setcap", "-r", "/tmp/x"])
}

test_package_manager_is_not_matched if {
	ev := fx.with_ancestors(fx.host_exec("/usr/sbin/setcap", ["setcap", "cap_sys_admin+ep", "/usr/bin/x"]), ["/usr/bin/dpkg"])
	count(rule.hits) == 0 with input as ev
}
