# PAL-021: system logs are deleted or truncated: rm/shred/truncate/unlink
# of files under /var/log, or a shell script truncating one (`> /var/log/x`).
# Log rotation renames and compresses inside its own process; it does not
# run these.
package palisade.rules.log_tampering

import rego.v1

import data.palisade.config
import data.palisade.lib.args
import data.palisade.lib.names
import data.palisade.lib.shell_command
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-021",
	"title": "System log files deleted or truncated",
	"description": "rm, shred, truncate, unlink, wipe or srm (config: file_destroyers) given a path under /var/log, or a shell -c script truncating a file there by redirection (`: > /var/log/x`).",
	"severity": "medium",
	# Current ATT&CK id (as Atomic Red Team files its tests, 2026-08):
	# Indicator Removal: Clear Linux or Mac System Logs (T1070.002) became
	# T1685.006, under Disable or Modify Tools.
	"mitre": "T1685.006",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [
		{"names": config.file_destroyers, "substrings": ["/var/log"]},
		# A shell -c script truncating a file there.
		{"names": config.shells, "substrings": ["/var/log/"]},
	],
}

hits contains msg if {
	found := {n | some n in names; config.file_destroyers[n]}
	count(found) > 0
	files := {a | some i, a in args; i > 0; startswith(a, "/var/log")}
	count(files) > 0
	msg := concat("", [concat("/", sort(found)), " applied to ", concat(", ", sort(files)), " ", where, ": ", short_cmdline])
}

# `> /var/log/x`, `: > /var/log/x`, `cat /dev/null > /var/log/x`,
# `echo 0> /var/log/x` (descriptor 0 redirected: the file is opened with
# O_TRUNC and nothing is written): a bare
# truncation by redirection (the shell does it itself; rm and friends run
# as their own processes, matched above). A program writing its output to
# a log (`app > /var/log/app.log`) is not a truncation.
hits contains msg if {
	contains(shell_command, "/var/log/")
	regex.match(`(^|[;&|(][[:space:]]*|:[[:space:]]*|/dev/null[[:space:]]*|echo[[:space:]]*(""|''|[0-9])?[[:space:]]*)>[[:space:]]*/var/log/`, shell_command)
	msg := concat("", ["shell script truncates logs under /var/log ", where, ": ", short_cmdline])
}
