package palisade.rules.kernel_module_file_loaded_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.kernel_module_file_loaded as rule

test_module_from_tmp if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/busybox", ["busybox", "insmod", "/tmp/T1547006.ko"])
	hits == {"kernel module loaded from /tmp/T1547006.ko on the host: busybox insmod /tmp/T1547006.ko"}
	count(rule.hits) == 1 with input as fx.host_exec("/usr/sbin/insmod", ["insmod", "rootkit.ko"])
}

test_modules_of_the_kernel_tree_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/sbin/modprobe", ["modprobe", "br_netfilter"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/sbin/insmod", ["insmod", "/lib/modules/6.1.0/kernel/net/x.ko.xz"])
}
