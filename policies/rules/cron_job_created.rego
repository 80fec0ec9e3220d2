# PAL-026: a crontab is installed or edited (`crontab FILE`, `crontab -`,
# `crontab -e`), or a shell script redirects into /etc/crontab,
# /etc/cron.* or /var/spool/cron: a job that runs again later, the classic
# way to keep a foothold. Listing (`-l`) and removing (`-r`) are not
# matched. Host and container alike: no node component or image installs
# crontabs at run time (packages ship files under /etc/cron.d, which is
# file activity, not this).
package palisade.rules.cron_job_created

import rego.v1

import data.palisade.config
import data.palisade.lib.args
import data.palisade.lib.names
import data.palisade.lib.shell_command
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-026",
	"title": "Cron job created",
	"description": "crontab run to install or edit a crontab (a file operand, - for stdin, or -e), or a shell -c script redirecting output into /etc/crontab, /etc/cron.* or /var/spool/cron.",
	"severity": "medium",
	"mitre": "T1053.003",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [
		{"names": ["crontab"]},
		{"names": config.shells, "substrings": ["/etc/cron", "/var/spool/cron"]},
	],
}

hits contains msg if {
	"crontab" in names
	some i, a in args
	i > 0
	installs(i, a)
	msg := concat("", ["crontab installed ", where, ": ", short_cmdline])
}

hits contains msg if {
	some dir in ["/etc/cron", "/var/spool/cron"]
	contains(shell_command, dir)
	regex.match(`>[[:space:]]*["']?(/etc/cron|/var/spool/cron)`, shell_command)
	msg := concat("", ["shell writes a cron file ", where, ": ", short_cmdline])
}

# `-` (stdin), `-e`, or a file operand (not the user given to -u).
installs(_, a) if a in {"-", "-e"}

installs(i, a) if {
	not startswith(a, "-")
	args[i - 1] != "-u"
}
