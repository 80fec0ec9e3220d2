# PAL-019: a network scanner runs in a container (nmap, masscan, zmap, ...):
# a compromised pod mapping the cluster network for its next target.
#
# Kernel: the same names are matched at exec in containers, by the file's
# own name (after symlinks); an alert rule, so the kernel only reports. A
# renamed copy or a busybox applet is reported by userspace only.
package palisade.rules.network_scanner_in_container

import rego.v1

import data.palisade.config
import data.palisade.lib.in_container
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-019",
	"title": "Network scanner run in a container",
	"description": "nmap, masscan, zmap, rustscan, naabu, nuclei, nikto, arp-scan, hping3, ... executed inside a container (config: recon_tools).",
	"severity": "medium",
	"mitre": "T1046",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"container": true, "names": config.recon_tools}],
}

hits contains msg if {
	in_container
	found := {n | some n in names; config.recon_tools[n]}
	count(found) > 0
	msg := concat("", ["network scanner ", concat("/", sort(found)), " executed ", where, ": ", short_cmdline])
}

# The kernel's part: every name in config recon_tools, in containers.
kernel := {
	"scope": "containers",
	"exec": {"names": [n | some n, _ in config.recon_tools; config.recon_tools[n]]},
}
