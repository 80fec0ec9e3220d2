# PAL-014: a process started by an AI agent installs packages. Agents pick
# dependencies from generated text: a hallucinated or typo-squatted name is
# installed and its install scripts run with the agent's rights. Installs
# belong in a reviewed change (a lockfile, an image), not in an agent's
# session. Host or container.
package palisade.rules.ai_agent_package_manager

import rego.v1

import data.palisade.config
import data.palisade.lib.actors.actor
import data.palisade.lib.package_installs
import data.palisade.lib.short_cmdline
import data.palisade.lib.where
import data.palisade.lib

meta := {
	"id": "PAL-014",
	"title": "AI agent installs packages",
	"description": "A package manager (OS or language; config: package_managers) run with an installing subcommand by a process whose actor is ai_agent (an AI agent CLI among its ancestors).",
	"severity": "medium",
	"mitre": "T1195.001",
	"action": "block",
	"kinds": ["process_exec"],
	# Triggers cannot tell the actor: any package manager run.
	"triggers": [{"names": config.package_managers}],
}

hits contains msg if {
	actor == "ai_agent"
	installs := {concat(" ", run) | some run in package_installs}
	count(installs) > 0
	msg := concat("", ["AI agent runs ", concat(", ", sort(installs)), " ", where, ": ", short_cmdline])
}
