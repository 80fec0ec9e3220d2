# PAL-017: shell history is cleared: `history -c`, or a history file
# removed, truncated or linked to /dev/null. Intruders do it to hide what
# they typed. History turned off before it is written (HISTFILE,
# HISTSIZE, `set +o history`) is PAL-024, history_disabled.rego.
package palisade.rules.history_tampering

import rego.v1

import data.palisade.config
import data.palisade.lib.args
import data.palisade.lib.names
import data.palisade.lib.shell_command
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-017",
	"title": "Shell history cleared",
	"description": "A shell -c script that clears history (history -c) or truncates a *_history file by redirection, or rm/shred/truncate/ln/unlink applied to a *_history file.",
	"severity": "medium",
	"mitre": "T1070.003",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [
		# A shell -c script: both its checks need "hist".
		{"names": config.shells, "substrings": ["hist"]},
		{"names": object.union(config.file_destroyers, {"ln": true}), "substrings": ["_history"]},
	],
}

hits contains msg if {
	contains(shell_command, "history")
	regex.match(`(^|[^A-Za-z0-9_])history[[:space:]]+-[a-zA-Z]*c`, shell_command)
	msg := concat("", ["shell history cleared ", where, ": ", short_cmdline])
}

# `> ~/.bash_history`, `cat /dev/null > .zsh_history`: truncation by
# redirection, which the shell does itself (rm, ln, shred run as their own
# processes and are matched below).
hits contains msg if {
	contains(shell_command, "_history")
	regex.match(`(^|[^0-9&>])>[[:space:]]*[^[:space:];|&]*_history([^A-Za-z0-9_]|$)`, shell_command)
	msg := concat("", ["shell history file truncated ", where, ": ", short_cmdline])
}

hits contains msg if {
	found := {n | some n in names; history_wiper(n)}
	count(found) > 0
	files := {a | some i, a in args; i > 0; endswith(a, "_history")}
	count(files) > 0
	msg := concat("", [concat("/", sort(found)), " applied to history file ", concat(", ", sort(files)), " ", where, ": ", short_cmdline])
}

history_wiper(n) if config.file_destroyers[n]

history_wiper(n) if n == "ln"
