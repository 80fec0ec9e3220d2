package palisade.rules.kernel_module_in_container_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.kernel_module_in_container as rule

test_insmod_in_container if {
	hits := rule.hits with input as fx.container_exec("/usr/sbin/insmod", ["insmod", "/tmp/diamorphine.ko"])
	hits == {"insmod executed in container web (registry.example.com/shop/web:1.4.2): insmod /tmp/diamorphine.ko"}
}

test_modprobe_via_kmod_symlink if {
	ev := fx.with_process(fx.container_exec("/usr/bin/kmod", ["modprobe", "ip_vs"]), {"filename": "/sbin/modprobe"})
	hits := rule.hits with input as ev
	count(hits) == 1
}

test_modprobe_on_host_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/sbin/modprobe", ["modprobe", "br_netfilter"])
	count(hits) == 0
}

test_lsmod_in_container_is_not_matched if {
	ev := fx.with_process(fx.container_exec("/usr/bin/kmod", ["lsmod"]), {"filename": "/sbin/lsmod"})
	hits := rule.hits with input as ev
	count(hits) == 0
}
