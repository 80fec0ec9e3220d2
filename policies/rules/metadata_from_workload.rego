# PAL-011: a container connects to the cloud instance metadata service.
# The node's metadata endpoint hands out the node's cloud credentials; pods
# should get their own (IRSA, Workload Identity), so a pod reaching it is
# credential theft or a misconfiguration. Enforceable in the kernel
# (cgroup connect hooks), hence block. Node agents that need it (the VPC
# CNI, CSI drivers) get exceptions scoped to their namespace or image.
#
# Kernel: each address in config metadata_endpoints (/32 or /128) is denied
# for TCP connect and UDP send from containers, any port: the whole rule.
# While an exception covers it, the kernel only reports (an exception's
# scope cannot be expressed in the kernel).
package palisade.rules.metadata_from_workload

import rego.v1

import data.palisade.config
import data.palisade.lib.daddr
import data.palisade.lib.dport
import data.palisade.lib.in_container
import data.palisade.lib.name
import data.palisade.lib.where

meta := {
	"id": "PAL-011",
	"title": "Cloud metadata endpoint reached from a workload",
	"description": "network_connect from a container to an instance metadata address: 169.254.169.254 (AWS, GCP, Azure, OpenStack), fd00:ec2::254 (AWS IPv6), 169.254.170.2 (ECS), 100.100.100.200 (Alibaba) (config: metadata_endpoints).",
	"severity": "high",
	"mitre": "T1552.005",
	"action": "block",
	"kinds": ["network_connect"],
	# The raw daddr contains the address, IPv4-mapped or not.
	"triggers": [{"container": true, "substrings": config.metadata_endpoints}],
}

hits contains msg if {
	in_container
	config.metadata_endpoints[daddr]
	msg := concat("", [name, " connects to metadata endpoint ", daddr, ":", format_int(dport, 10), " ", where])
}

# The kernel's part: each metadata address, any port and protocol, in
# containers.
kernel := {
	"scope": "containers",
	"connect": [{"cidr": addr} | some addr, _ in config.metadata_endpoints; config.metadata_endpoints[addr]],
}
