# PAL-003: a tunnelling or port-forwarding tool runs (chisel, ngrok, frp,
# bore, cloudflared, ...): it exposes internal services to the internet or
# carries C2 traffic inside another protocol, past network policy. Host
# and container alike: an intruder on the node uses the same clients. A
# sanctioned connector (a cloudflared Deployment) is an exception naming
# its workload.
#
# Kernel: the same names are matched at exec everywhere, by the file's own
# name (after symlinks); an alert rule, so the kernel only reports. A
# renamed copy is reported by userspace only.
package palisade.rules.tunnel_tool

import rego.v1

import data.palisade.config
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-003",
	"title": "Tunnelling tool executed",
	"description": "A reverse-proxy or tunnelling tool (chisel, ngrok, frpc/frps, bore, rathole, gost, iodine, dnscat2, ligolo, ptunnel, cloudflared, zrok, devtunnel; config: tunnel_tools) executed on the host or in a container.",
	"severity": "high",
	"mitre": "T1572",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"names": config.tunnel_tools}],
}

hits contains msg if {
	found := {n | some n in names; config.tunnel_tools[n]}
	count(found) > 0
	msg := concat("", ["tunnelling tool ", concat("/", sort(found)), " executed ", where, ": ", short_cmdline])
}

# The kernel's part: every name in config tunnel_tools, everywhere.
kernel := {
	"scope": "all",
	"exec": {"names": [n | some n, _ in config.tunnel_tools; config.tunnel_tools[n]]},
}
