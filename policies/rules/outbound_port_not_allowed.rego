# PAL-012: a container connects out to an external address on a port
# outside the allow-list (config: allowed_outbound_ports; default DNS, HTTP,
# NTP, HTTPS, DNS over TLS). Reverse shells, miners and C2 favour odd ports
# (4444, 3333, 1337). Internal destinations (config: internal_cidrs) are not
# judged here: service ports inside a cluster are as varied as the services.
#
# Kernel: the whole rule, from containers: deny every destination
# (0.0.0.0/0, ::/0), allow the allowed ports on every destination, and
# allow every internal CIDR on any port (the longest prefix wins, then the
# entry naming a port). An alert rule, so the kernel only reports.
package palisade.rules.outbound_port_not_allowed

import rego.v1

import data.palisade.config
import data.palisade.lib.daddr
import data.palisade.lib.daddr_internal
import data.palisade.lib.dport
import data.palisade.lib.in_container
import data.palisade.lib.name
import data.palisade.lib.where

meta := {
	"id": "PAL-012",
	"title": "Outbound connection to a non-standard port",
	"description": "network_connect from a container to an address outside config internal_cidrs on a port not in config allowed_outbound_ports.",
	"severity": "medium",
	"mitre": "T1571",
	"action": "alert",
	"kinds": ["network_connect"],
	"triggers": [{"container": true}],
}

hits contains msg if {
	in_container
	port := dport
	not port in config.allowed_outbound_ports
	addr := daddr
	not daddr_internal
	msg := concat("", [name, " connects to ", addr, " port ", format_int(port, 10), " (", protocol, ") ", where])
}

protocol := p if {
	p := input.network.protocol
	is_string(p)
} else := "?"

# The kernel's part: the same allow-list, as deny and allow entries. (No
# allowed ports means none: an entry with empty `ports` would allow any.)
kernel := {
	"scope": "containers",
	"connect": [{"cidr": "0.0.0.0/0"}, {"cidr": "::/0"}],
	"connect_allow": array.concat(
		[{"cidr": cidr, "ports": ports} | ports := config.allowed_outbound_ports; count(ports) > 0; some cidr in ["0.0.0.0/0", "::/0"]],
		[{"cidr": cidr} | some cidr in config.internal_cidrs],
	),
}
