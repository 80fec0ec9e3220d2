package palisade.rules.loader_hijack_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.loader_hijack as rule

preloaded(vars) := fx.with_process(fx.host_exec("/usr/bin/id", ["id"]), {"env": vars})

test_a_library_from_tmp_is_preloaded if {
	hits := rule.hits with input as preloaded({"LD_PRELOAD": "/tmp/.x/libhide.so"})
	hits == {"LD_PRELOAD=/tmp/.x/libhide.so loads /tmp/.x/libhide.so into id on the host"}
}

test_ld_audit_and_lists if {
	count(rule.hits) == 1 with input as preloaded({"LD_AUDIT": "/dev/shm/a.so"})
	hits := rule.hits with input as preloaded({"LD_PRELOAD": "libjemalloc.so.2 /home/u/k.so:/usr/lib/x.so"})
	hits == {"LD_PRELOAD=libjemalloc.so.2 /home/u/k.so:/usr/lib/x.so loads /home/u/k.so into id on the host"}
	count(rule.hits) == 1 with input as preloaded({"LD_PRELOAD": "/usr/lib/../../tmp/x.so"})
}

test_system_libraries_and_other_variables_are_not_matched if {
	count(rule.hits) == 0 with input as preloaded({"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"})
	count(rule.hits) == 0 with input as preloaded({"LD_PRELOAD": "libfakeroot-sysv.so"})
	count(rule.hits) == 0 with input as preloaded({"LD_LIBRARY_PATH": "/tmp/lib"})
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/id", ["id"])
}
