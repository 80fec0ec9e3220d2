# PAL-010: a cryptocurrency miner: a known miner binary, a stratum pool URL
# in the arguments, or a known mining pool given as the pool option. High
# confidence and costly to leave running, so the process is killed.
# Text tools (grep, less, ...) searching for those strings are not miners.
#
# Kernel: the known miner binaries (config miner_binaries) are denied at exec
# by file name, on the host and in containers alike, as the first hit
# matches them. Pool URLs and pool options are arguments, which only
# userspace sees: those miners are killed after the exec.
package palisade.rules.crypto_miner

import rego.v1

import data.palisade.config
import data.palisade.lib
import data.palisade.lib.args
import data.palisade.lib.cmdline
import data.palisade.lib.name
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-010",
	"title": "Cryptocurrency miner",
	"description": "A miner binary (xmrig, minerd, cpuminer, ccminer, ethminer, ...; config: miner_binaries), a stratum+tcp/ssl pool URL in the arguments (config: miner_arg_markers), or a known pool domain after -o/--url (config: miner_pool_domains).",
	"severity": "critical",
	"mitre": "T1496",
	"action": "kill",
	"kinds": ["process_exec"],
	"triggers": [
		{"names": config.miner_binaries},
		# A pool URL, or a pool's domain after a pool option.
		{"substrings": array.concat(config.miner_arg_markers, config.miner_pool_domains)},
	],
}

hits contains msg if {
	found := {n | some n in names; config.miner_binaries[n]}
	count(found) > 0
	msg := concat("", ["miner ", concat("/", sort(found)), " executed ", where, ": ", short_cmdline])
}

hits contains msg if {
	not text_tool
	contains(cmdline, "stratum")
	found := lib.markers_in_cmdline(config.miner_arg_markers)
	count(found) > 0
	msg := concat("", [name, " given a mining pool URL ", where, ": ", short_cmdline])
}

hits contains msg if {
	not text_tool
	some i, a in args
	pool_option(a, i)
	msg := concat("", [name, " pointed at a mining pool ", where, ": ", short_cmdline])
}

# `-o pool.example:3333`: a pool option followed by a pool's address.
pool_option(opt, i) if {
	config.miner_pool_options[opt]
	some domain in config.miner_pool_domains
	contains(args[i + 1], domain)
}

# `--url=pool.example:3333`.
pool_option(opt, _) if {
	startswith(opt, "-")
	contains(opt, "=")
	parts := split(opt, "=")
	count(parts) > 1
	config.miner_pool_options[parts[0]]
	some domain in config.miner_pool_domains
	contains(opt, domain)
}

text_tool if {
	some n in names
	config.text_tools[n]
}

# The kernel's part: every name in config miner_binaries, everywhere.
kernel := {
	"scope": "all",
	"exec": {"names": [n | some n, _ in config.miner_binaries; config.miner_binaries[n]]},
}
