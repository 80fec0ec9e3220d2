# PAL-029: a local account is created (useradd, adduser, newusers): an
# intruder's way back in that survives a password reset of the accounts
# they came through. Host and container alike, except under a package
# manager: packages create their system users in their install scripts
# (dpkg/rpm/apk running adduser --system), which is legitimate.
package palisade.rules.account_created

import rego.v1

import data.palisade.config
import data.palisade.lib.ancestor_names
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-029",
	"title": "Local account created",
	"description": "useradd, adduser or newusers executed (config: account_create_tools), other than under a package manager (config: package_managers) installing a package's system user.",
	"severity": "high",
	"mitre": "T1136.001",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"names": config.account_create_tools}],
}

hits contains msg if {
	found := {n | some n in names; config.account_create_tools[n]}
	count(found) > 0
	not under_package_manager
	msg := concat("", [concat("/", sort(found)), " creates an account ", where, ": ", short_cmdline])
}

under_package_manager if {
	some n in ancestor_names
	config.package_managers[n]
}
