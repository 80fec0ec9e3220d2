# PAL-050: a process in a container opens a packet socket (AF_PACKET, or
# AF_XDP). A packet socket reads and writes whole link-layer frames: it
# sniffs the pod's traffic, spoofs ARP and DHCP on the node's segment, and
# sends packets below the IP stack, where no connect or egress rule sees a
# destination. Containers get CAP_NET_RAW by default under containerd and
# Docker, so any compromised pod can open one.
#
# Kernel: the families are matched at socket creation, in containers; an
# alert rule, so the kernel only reports (it records every such socket,
# which userspace never sees otherwise). Set the rule's mode to enforce
# with action block to refuse them (BPF-LSM) or kill the caller (elsewhere).
# Known legitimate users, for scoped exceptions: L2 load balancers and
# VIP managers (MetalLB's speaker in L2 mode, kube-vip, keepalived), DHCP
# CNI plugins, and tcpdump in a debug container.
package palisade.rules.packet_socket_in_container

import rego.v1

import data.palisade.lib.in_container
import data.palisade.lib.name
import data.palisade.lib.where

# The socket families this rule is about: the kernel's and the Rego's.
families := {"packet", "xdp"}

meta := {
	"id": "PAL-050",
	"title": "Packet socket opened in a container",
	"description": "network_socket: a process in a container asked for an AF_PACKET (or AF_XDP) socket, which sniffs and forges link-layer frames past every IP-level rule.",
	"severity": "high",
	"mitre": "T1040",
	"action": "alert",
	"kinds": ["network_socket"],
	"triggers": [{"container": true}],
}

hits contains msg if {
	in_container
	families[input.socket.family]
	msg := concat("", [name, " opened a ", input.socket.family, " socket (", input.socket.type, ") ", where])
}

# The kernel's part: the same families, in containers.
kernel := {
	"scope": "containers",
	"socket": {"families": [f | some f in families]},
}
