package palisade.rules.packet_socket_in_container_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.packet_socket_in_container as rule

packet_socket(event) := object.union(event, {
	"kind": "network_socket",
	"socket": {"family": "packet", "type": "raw", "protocol": 768, "ethertype": "0x0003"},
})

test_packet_socket_in_container if {
	hits := rule.hits with input as packet_socket(fx.container_exec("/usr/bin/tcpdump", ["tcpdump", "-i", "eth0"]))
	hits == {"tcpdump opened a packet socket (raw) in container web (registry.example.com/shop/web:1.4.2)"}
}

test_packet_socket_on_host_is_not_matched if {
	hits := rule.hits with input as packet_socket(fx.host_exec("/usr/bin/tcpdump", ["tcpdump"]))
	count(hits) == 0
}

test_kernel_matches_the_same_families_in_containers if {
	rule.kernel.scope == "containers"
	{f | some f in rule.kernel.socket.families} == rule.families
}
