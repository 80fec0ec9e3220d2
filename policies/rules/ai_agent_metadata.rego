# PAL-015: a process started by an AI agent connects to the cloud metadata
# service: the node's cloud credentials, a step no coding task needs.
# Host or container.
package palisade.rules.ai_agent_metadata

import rego.v1

import data.palisade.config
import data.palisade.lib.actors.actor
import data.palisade.lib.daddr
import data.palisade.lib.dport
import data.palisade.lib.name
import data.palisade.lib.where
import data.palisade.lib

meta := {
	"id": "PAL-015",
	"title": "AI agent reaches the cloud metadata endpoint",
	"description": "network_connect to an instance metadata address (config: metadata_endpoints) by a process whose actor is ai_agent.",
	"severity": "high",
	"mitre": "T1552.005",
	"action": "block",
	"kinds": ["network_connect"],
	# Triggers cannot tell the actor: any connection to a metadata address
	# (the raw daddr contains it, IPv4-mapped or not).
	"triggers": [{"substrings": config.metadata_endpoints}],
}

hits contains msg if {
	actor == "ai_agent"
	config.metadata_endpoints[daddr]
	msg := concat("", ["AI agent process ", name, " connects to metadata endpoint ", daddr, ":", format_int(dport, 10), " ", where])
}
