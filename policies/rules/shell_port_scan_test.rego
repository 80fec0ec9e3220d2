package palisade.rules.shell_port_scan_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.shell_port_scan as rule

test_dev_tcp_loop if {
	script := "for port in {1..1024}; do (echo >/dev/tcp/10.0.0.1/$port) && echo open $port; done"
	count(rule.hits) == 1 with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", script])
}

test_single_connection_is_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "echo > /dev/tcp/127.0.0.1/8080 && echo up"])
}
