package palisade.rules.metadata_from_workload_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.metadata_from_workload as rule

test_imds_from_container if {
	hits := rule.hits with input as fx.container_connect("169.254.169.254", 80)
	hits == {"curl connects to metadata endpoint 169.254.169.254:80 in container web (registry.example.com/shop/web:1.4.2)"}
}

test_imds_ipv6 if {
	hits := rule.hits with input as fx.container_connect("fd00:ec2::254", 80)
	count(hits) == 1
}

test_imds_ipv4_mapped if {
	hits := rule.hits with input as fx.container_connect("::ffff:169.254.169.254", 80)
	count(hits) == 1
}

test_host_process_is_not_matched if {
	hits := rule.hits with input as fx.host_connect("169.254.169.254", 80)
	count(hits) == 0
}

test_other_address_is_not_matched if {
	hits := rule.hits with input as fx.container_connect("10.96.0.10", 53)
	count(hits) == 0
}

test_kernel_denies_each_metadata_address_from_containers if {
	rule.kernel.scope == "containers"
	{"cidr": "169.254.169.254"} in rule.kernel.connect
	{"cidr": "fd00:ec2::254"} in rule.kernel.connect
	count(rule.kernel.connect) == count(data.palisade.config.metadata_endpoints)
}
