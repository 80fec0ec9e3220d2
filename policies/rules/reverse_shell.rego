# PAL-002: a command line that is a reverse shell: bash's /dev/tcp
# redirection, netcat or socat handing a socket to a program, a fifo piped
# through netcat, an interpreter one-liner wiring a socket to a shell, or
# the shell-spawning one-liners that go with one: awk's /inet/ sockets and
# system() of a shell, python's pty.spawn of a shell.
# Seen anywhere (host or container). The arguments decide, which only
# userspace sees, so the action is to kill the process. Each regex sits
# behind a cheap test (a name, a substring): README.md, "regorus
# workarounds".
package palisade.rules.reverse_shell

import rego.v1

import data.palisade.config
import data.palisade.lib.args
import data.palisade.lib.cmdline
import data.palisade.lib.names
import data.palisade.lib.shell_command
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-002",
	"title": "Reverse shell command line",
	"description": "A shell using /dev/tcp or /dev/udp, nc/ncat with -e/-c/--exec (config: netcat_exec_tools), socat exec:/system: to a network address, a mkfifo + netcat pipeline, an interpreter one-liner (python, perl, ruby, php, node, ...; config: interpreters) that connects a socket to a shell or spawns a shell on a pty (pty.spawn), or awk (gawk, mawk, busybox awk) opening /inet/ sockets or running a shell through system().",
	"severity": "critical",
	"mitre": "T1059.004",
	"action": "kill",
	"kinds": ["process_exec"],
	"triggers": [
		# A shell -c script with /dev/tcp, /dev/udp or a fifo.
		{"names": config.shells, "substrings": ["/dev/tcp/", "/dev/udp/", "mkfifo", "mknod"]},
		# netcat's exec options all start with "-".
		{"names": config.netcat_exec_tools, "substrings": ["-"]},
		# socat's addresses are read lower-cased: by name only.
		{"names": ["socat"]},
		# An interpreter one-liner with "sock" (read lower-cased) naming a
		# shell, pty.spawn or dup2 (read as written).
		{
			"names": config.interpreters,
			"lower_substrings": ["sock"],
			"substrings": ["/bin/sh", "/bin/bash", "/bin/dash", "/bin/zsh", "/bin/ksh", "pty.spawn", "dup2"],
		},
		# An interpreter spawning a shell on a pty.
		{"names": config.interpreters, "substrings": ["pty.spawn"]},
		# awk with a socket or system().
		{"names": awk_names, "substrings": ["/inet", "system"]},
	],
}

hits contains msg if {
	some dev in ["/dev/tcp/", "/dev/udp/"]
	contains(shell_command, dev)
	msg := concat("", ["shell redirects to a ", dev, " socket ", where, ": ", short_cmdline])
}

hits contains msg if {
	some fifo in ["mkfifo", "mknod"]
	contains(shell_command, fifo)
	regex.match(`(^|[^A-Za-z0-9_])(mkfifo|mknod)([^A-Za-z0-9_]|$)`, shell_command)
	regex.match(`(^|[^A-Za-z0-9_])(nc|ncat|netcat|telnet|openssl)([^A-Za-z0-9_]|$)`, shell_command)
	msg := concat("", ["fifo piped through a network tool ", where, ": ", short_cmdline])
}

hits contains msg if {
	found := {n | some n in names; config.netcat_exec_tools[n]}
	count(found) > 0
	some i, a in args
	i > 0
	regex.match(`^(-[a-zA-Z]*[ec]|-e/.+|--(sh-|lua-)?exec(=.*)?)$`, a)
	msg := concat("", [concat("/", sort(found)), " runs a program on its socket ", where, ": ", short_cmdline])
}

hits contains msg if {
	"socat" in names
	some a in args
	regex.match(`^(exec|system):`, lower(a))
	some b in args
	regex.match(`^(tcp|tcp4|tcp6|udp|udp4|udp6|openssl|ssl|tcp-connect|tcp-listen|openssl-connect)[:-]`, lower(b))
	msg := concat("", ["socat connects a program to the network ", where, ": ", short_cmdline])
}

hits contains msg if {
	found := {n | some n in names; config.interpreters[n]}
	count(found) > 0
	code := lower(cmdline)
	contains(code, "sock")
	regex.match(`(socket|fsockopen)`, code)
	regex.match(`(/bin/(ba|da|z|k)?sh([^A-Za-z0-9_]|$)|pty\.spawn|dup2)`, cmdline)
	msg := concat("", [concat("/", sort(found)), " one-liner wires a socket to a shell ", where, ": ", short_cmdline])
}

hits contains msg if {
	found := {n | some n in names; config.interpreters[n]}
	count(found) > 0
	contains(cmdline, "pty.spawn")
	# A socket one-liner that also spawns a pty is reported above.
	not contains(lower(cmdline), "socket")
	regex.match(`pty\.spawn\([[:space:]]*["'][^"']*(ba|da|z|k|c|tc|a)?sh["']`, cmdline)
	msg := concat("", [concat("/", sort(found)), " spawns a shell on a pty ", where, ": ", short_cmdline])
}

hits contains msg if {
	found := {n | some n in names; awk_names[n]}
	count(found) > 0
	contains(cmdline, "/inet")
	regex.match(`/inet[46]?/(tcp|udp)/`, cmdline)
	msg := concat("", [concat("/", sort(found)), " opens a network socket ", where, ": ", short_cmdline])
}

hits contains msg if {
	found := {n | some n in names; awk_names[n]}
	count(found) > 0
	contains(cmdline, "system")
	regex.match(`system[[:space:]]*\([[:space:]]*["'][[:space:]]*(/[^"' ]*/)?(ba|da|z|k|c|tc|a)?sh([[:space:]]|["'])`, cmdline)
	msg := concat("", [concat("/", sort(found)), " runs a shell through system() ", where, ": ", short_cmdline])
}

awk_names := {"awk": true, "gawk": true, "mawk": true, "nawk": true}
