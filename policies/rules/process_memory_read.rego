# PAL-033: another process's memory is read or dumped: a debugger
# attaching to a running process (gdb -p / --pid, gcore), or a process's
# /proc/PID/mem named on a command line (dd if=/proc/PID/mem, cat, a shell
# script). Credentials, keys and tokens sit in memory in the clear; this is
# how they are taken (mimipenguin, the atomics' `dd` dump). Host and
# container alike: debugging a live process on a production node or in a
# production container is rare enough to be worth an alert, and an
# exception when it is routine.
package palisade.rules.process_memory_read

import rego.v1

import data.palisade.lib.args
import data.palisade.lib.cmdline
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-033",
	"title": "Process memory read or dumped",
	"description": "gdb attaching to a process (-p/--pid/attach), gcore, or /proc/PID/mem named on a command line (a number, $VAR or $(...) as the PID).",
	"severity": "high",
	"mitre": "T1003.007",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [
		{"names": ["gdb", "gcore"]},
		{"substrings": ["/mem"]},
	],
}

hits contains msg if {
	"gdb" in names
	some i, a in args
	i > 0
	attaches(a)
	msg := concat("", ["debugger attaches to a running process ", where, ": ", short_cmdline])
}

hits contains msg if {
	"gcore" in names
	msg := concat("", ["process memory dumped ", where, ": ", short_cmdline])
}

hits contains msg if {
	contains(cmdline, "/mem")
	regex.match(`/proc/([0-9]+|\$[A-Za-z_{][A-Za-z0-9_}]*|\$\([^)]*\))/mem([^A-Za-z0-9_]|$)`, cmdline)
	msg := concat("", ["process memory read through /proc/PID/mem ", where, ": ", short_cmdline])
}

attaches(a) if a in {"-p", "--pid", "attach"}

attaches(a) if startswith(a, "--pid=")
