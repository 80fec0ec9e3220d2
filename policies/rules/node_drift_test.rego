package palisade.rules.node_drift_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.node_drift as rule

with_drift(event, reason) := object.union(event, {"process": {"exe": {
	"inode": 9, "dev": 1,
	"drift": {"reason": reason, "reasons": [reason], "file": "executable"},
}}})

test_replaced_system_binary_on_the_host if {
	e := object.union(with_drift(fx.host_exec("/usr/sbin/sshd", ["sshd"]), "written_after_boot"), {"host": true})
	rule.hits == {"system binary written after boot executed on the host: /usr/sbin/sshd"} with input as e
}

test_unchanged_system_binary_is_not_matched if {
	e := object.union(fx.host_exec("/usr/sbin/sshd", ["sshd"]), {"host": true})
	count(rule.hits) == 0 with input as e
}

test_a_container_is_not_node_drift if {
	e := with_drift(fx.container_exec("/usr/bin/x", ["x"]), "written_after_boot")
	count(rule.hits) == 0 with input as e
}
