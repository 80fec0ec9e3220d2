package palisade.rules.outbound_port_not_allowed_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.outbound_port_not_allowed as rule

test_external_odd_port if {
	hits := rule.hits with input as fx.container_connect("203.0.113.7", 4444)
	hits == {"curl connects to 203.0.113.7 port 4444 (tcp) in container web (registry.example.com/shop/web:1.4.2)"}
}

test_external_ipv6_odd_port if {
	hits := rule.hits with input as fx.container_connect("2001:db8::7", 3333)
	count(hits) == 1
}

test_allowed_port_is_not_matched if {
	hits := rule.hits with input as fx.container_connect("203.0.113.7", 443)
	count(hits) == 0
}

test_internal_destination_is_not_matched if {
	count(rule.hits) == 0 with input as fx.container_connect("10.244.3.9", 5432)
	count(rule.hits) == 0 with input as fx.container_connect("::ffff:192.168.1.20", 6379)
	count(rule.hits) == 0 with input as fx.container_connect("fd12:3456::1", 9000)
}

test_custom_allow_list if {
	hits := rule.hits with input as fx.container_connect("203.0.113.7", 4444)
		with data.palisade.config.allowed_outbound_ports as [443, 4444]
	count(hits) == 0
}

test_host_process_is_not_matched if {
	hits := rule.hits with input as fx.host_connect("203.0.113.7", 4444)
	count(hits) == 0
}

test_kernel_denies_everything_but_allowed_ports_and_internal_cidrs if {
	k := rule.kernel
	k.scope == "containers"
	k.connect == [{"cidr": "0.0.0.0/0"}, {"cidr": "::/0"}]
	{"cidr": "0.0.0.0/0", "ports": [53, 80, 123, 443, 853]} in k.connect_allow
	{"cidr": "::/0", "ports": [53, 80, 123, 443, 853]} in k.connect_allow
	{"cidr": "10.0.0.0/8"} in k.connect_allow
	{"cidr": "fc00::/7"} in k.connect_allow
	count(k.connect_allow) == 2 + count(data.palisade.config.internal_cidrs)
}

test_kernel_with_no_allowed_ports_allows_internal_cidrs_only if {
	allows := rule.kernel.connect_allow with data.palisade.config.allowed_outbound_ports as []
		with data.palisade.config.internal_cidrs as ["10.0.0.0/8", "172.16.0.0/12"]
	allows == [{"cidr": "10.0.0.0/8"}, {"cidr": "172.16.0.0/12"}]
}
