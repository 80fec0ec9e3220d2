package palisade.rules.fileless_exec_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.fileless_exec as rule

test_memfd_exec if {
	hits := rule.hits with input as fx.container_exec("/memfd:x", ["/proc/self/fd/3", "-o", "out"])
	hits == {"executed from memory file /memfd:x in container web (registry.example.com/shop/web:1.4.2): /proc/self/fd/3 -o out"}
}

test_runc_self_clone_is_allowed if {
	hits := rule.hits with input as fx.host_exec("/memfd:runc_cloned:/proc/self/exe", ["runc", "init"])
	count(hits) == 0
}

test_regular_binary_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/memfd-tool", ["memfd-tool"])
	count(hits) == 0
}
