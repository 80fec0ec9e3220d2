# PAL-024: shell history is turned off before it is written: HISTFILE
# unset, emptied or pointed at /dev/null, HISTSIZE or HISTFILESIZE set to
# 0 (quoted or not), `set +o history`, HISTCONTROL set to drop commands
# typed with a leading space (ignorespace, ignoreboth), or HISTIGNORE set
# (patterns of commands never recorded); in a shell -c script, as an
# assignment in argv (`env HISTFILE=/dev/null bash`), or in the environment
# a shell starts with (captured at exec: config env_capture). Intruders do
# it so that what they type is never recorded. Host and container alike: a
# shell on the node is where an intruder types, and no node component needs
# history off. Clearing what was recorded is PAL-017.
package palisade.rules.history_disabled

import rego.v1

import data.palisade.config
import data.palisade.lib.args
import data.palisade.lib.env
import data.palisade.lib.is_shell
import data.palisade.lib.shell_command
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-024",
	"title": "Shell history disabled",
	"description": "HISTFILE unset, empty or /dev/null, HISTSIZE/HISTFILESIZE 0, set +o history, HISTCONTROL with ignorespace/ignoreboth, or HISTIGNORE set: in a shell -c script (quoted values too), as a NAME=value argument, or in the environment of a shell at exec (process.env).",
	"severity": "medium",
	# Current ATT&CK id (as Atomic Red Team files its tests, 2026-08):
	# Impair Command History Logging (T1562.003) became Prevent Command
	# History Logging, T1690.
	"mitre": "T1690",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [
		{"names": config.shells, "substrings": ["HIST", "history"]},
		{"substrings": ["HISTFILE=", "HISTSIZE=", "HISTFILESIZE=", "HISTCONTROL=", "HISTIGNORE="]},
		{"env": ["HISTFILE", "HISTSIZE", "HISTFILESIZE"]},
	],
}

# In a shell -c script.
hits contains msg if {
	some word in ["HIST", "history"]
	contains(shell_command, word)
	regex.match(
		`(^|[^A-Za-z0-9_])(unset[[:space:]]+(-v[[:space:]]+)?HISTFILE([^A-Za-z0-9_]|$)|HISTFILE=(["']?/dev/null|[[:space:]]|;|$|''|"")|HIST(FILE)?SIZE=["']?0["']?([^A-Za-z0-9_]|$)|HISTCONTROL=["']?[a-z:]*ignore(space|both)|HISTIGNORE=["']?[^[:space:]"';]|set[[:space:]]+\+o[[:space:]]+history([^A-Za-z0-9_]|$))`,
		shell_command,
	)
	msg := concat("", ["shell history disabled ", where, ": ", short_cmdline])
}

# As an assignment in argv (`env HISTFILE=/dev/null bash`).
hits contains msg if {
	some i, a in args
	i > 0
	startswith(a, "HIST")
	parts := split(a, "=")
	count(parts) == 2
	off(parts[0], parts[1])
	msg := concat("", ["shell history disabled by ", a, " ", where, ": ", short_cmdline])
}

# In the environment a shell starts with.
hits contains msg if {
	is_shell
	some var, value in env
	# Not HISTCONTROL: distributions' .bashrc set ignoreboth, and a shell
	# that exported it hands it to every shell below.
	var in {"HISTFILE", "HISTSIZE", "HISTFILESIZE"}
	off(var, value)
	msg := concat("", ["shell started with history disabled (", var, "=", value, ") ", where, ": ", short_cmdline])
}

# A variable's value that turns history off.
off("HISTFILE", value) if value in {"", "/dev/null"}

off("HISTSIZE", value) if value == "0"

off("HISTFILESIZE", value) if value == "0"

off("HISTCONTROL", value) if {
	some part in split(value, ":")
	part in {"ignorespace", "ignoreboth"}
}

off("HISTIGNORE", value) if {
	value != ""
	not startswith(value, " ")
}
