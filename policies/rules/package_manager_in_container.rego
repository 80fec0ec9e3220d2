# PAL-005: a package manager installs or updates software inside a running
# container. Containers are immutable by contract: what they run comes from
# the image. A runtime install is drift, and often an intruder fetching
# tools. Queries (apt list, pip show, npm run) do not count.
package palisade.rules.package_manager_in_container

import rego.v1

import data.palisade.config
import data.palisade.lib.in_container
import data.palisade.lib.package_installs
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-005",
	"title": "Package manager installs software in a container",
	"description": "apt/apt-get/dpkg/yum/dnf/rpm/apk/zypper/pacman or a language package manager (pip, npm, yarn, pnpm, gem, cargo, go, composer) run with an installing subcommand inside a container (config: package_managers).",
	"severity": "medium",
	"mitre": "T1105",
	"action": "alert",
	"kinds": ["process_exec"],
	# Any package manager in a container; its subcommands are left to `hits`.
	"triggers": [{"container": true, "names": config.package_managers}],
}

hits contains msg if {
	in_container
	installs := {concat(" ", run) | some run in package_installs}
	count(installs) > 0
	msg := concat("", [concat(", ", sort(installs)), " run ", where, ": ", short_cmdline])
}
