# PAL-006: a shell runs a script that downloads code and runs it at once:
# `curl ... | sh`, `wget -O- ... | bash`, `sh -c "$(curl ...)"`,
# `bash <(curl ...)`, or saved to a file that the same script then makes
# executable or runs (`curl -o /tmp/x URL && chmod +x /tmp/x && /tmp/x`).
# Nothing checks what was downloaded. A download and a run typed as two
# commands start no shell holding both, so they are not seen here (the
# run itself is PAL-007 or PAL-036 when it is from /tmp). Seen in the `-c`
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
	"title": "Downloaded code run at once",
	"description": "A shell -c script that pipes curl/wget output into sh/bash/python/perl, runs it through $(...) or <(...), or saves it to a file (-o, -O, >) and then chmods it executable or runs it.",
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

hits contains msg if {
	some tool in ["curl", "wget"]
	contains(shell_command, tool)
	regex.match(`(^|[^A-Za-z0-9_])(curl|wget)[[:space:]][^|;&]*(-[a-zA-Z]*[oO]|--output|>)`, shell_command)
	regex.match(`(chmod[[:space:]]+([^;|&]*[[:space:]])?([ugoa]*\+[rwX]*x|[0-7]*[1357][0-7]?[0-7]?)([[:space:]]|$)|(&&|;|\|\|)[[:space:]]*(sh[[:space:]]+|bash[[:space:]]+)?(\./|/tmp/|/var/tmp/|/dev/shm/))`, shell_command)
	msg := concat("", ["download saved and run ", where, ": ", short_cmdline])
}
