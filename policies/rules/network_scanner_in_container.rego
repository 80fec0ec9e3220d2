# PAL-019: a network scanner runs in a container (nmap, masscan, zmap, ...):
# a compromised pod mapping the cluster network for its next target.
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
}

hits contains msg if {
	in_container
	found := {n | some n in names; config.recon_tools[n]}
	count(found) > 0
	msg := concat("", ["network scanner ", concat("/", sort(found)), " executed ", where, ": ", short_cmdline])
}
