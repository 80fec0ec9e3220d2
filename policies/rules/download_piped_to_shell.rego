# PAL-006: a shell runs a script that downloads code and runs it at once:
# `curl ... | sh`, `wget -O- ... | bash`, `sh -c "$(curl ...)"`,
# `bash <(curl ...)`. Nothing checks what was downloaded. Seen in the `-c`
# script of a shell (scripts, Dockerfile RUN, CI steps, `kubectl exec -- sh
# -c`); a pipeline typed into an interactive shell starts no new shell with
# that text, so it is not seen here.
package palisade.rules.download_piped_to_shell

import rego.v1

import data.palisade.config
import data.palisade.lib.shell_command
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-006",
	"title": "Download piped into a shell",
	"description": "A shell -c script that pipes curl/wget output into sh/bash/python/perl, or runs it through $(...) or <(...).",
	"severity": "high",
	"mitre": "T1105",
	"action": "alert",
	"kinds": ["process_exec"],
	# A shell -c script naming a downloader.
	"triggers": [{"names": config.shells, "substrings": ["curl", "wget", "fetch"]}],
}

hits contains msg if {
	some tool in ["curl", "wget", "fetch"]
	contains(shell_command, tool)
	contains(shell_command, "|")
	regex.match(
		`(^|[^A-Za-z0-9_])(curl|wget|fetch)([^A-Za-z0-9_|;&][^|;&]*)?\|[[:space:]]*(sudo[[:space:]]+(-[^[:space:]]+[[:space:]]+)*)?(env[[:space:]]+)?([^[:space:]]*/)?((ba|da|z|k|a)?sh|python[0-9.]*|perl|ruby|php|node)([^A-Za-z0-9_]|$)`,
		shell_command,
	)
	msg := concat("", ["download piped into an interpreter ", where, ": ", short_cmdline])
}

hits contains msg if {
	some tool in ["curl", "wget"]
	contains(shell_command, tool)
	regex.match(concat("", [`(\$\(|<\(|`, "`", `)[[:space:]]*(curl|wget)([^A-Za-z0-9_]|$)`]), shell_command)
	msg := concat("", ["downloaded script run through command substitution ", where, ": ", short_cmdline])
}
