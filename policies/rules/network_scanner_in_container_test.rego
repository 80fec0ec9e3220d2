package palisade.rules.network_scanner_in_container_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.network_scanner_in_container as rule

test_nmap_in_container if {
	hits := rule.hits with input as fx.container_exec("/usr/bin/nmap", ["nmap", "-sS", "10.96.0.0/12"])
	hits == {"network scanner nmap executed in container web (registry.example.com/shop/web:1.4.2): nmap -sS 10.96.0.0/12"}
}

test_masscan_in_container if {
	hits := rule.hits with input as fx.container_exec("/usr/local/bin/masscan", ["masscan", "-p1-65535", "10.0.0.0/8"])
	count(hits) == 1
}

test_nmap_on_host_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/nmap", ["nmap", "-p", "22", "10.0.0.1"])
	count(hits) == 0
}

test_kernel_matches_the_same_names_in_containers if {
	rule.kernel.scope == "containers"
	"nmap" in rule.kernel.exec.names
	"masscan" in rule.kernel.exec.names
	count(rule.kernel.exec.names) == count(data.palisade.config.recon_tools)
}
