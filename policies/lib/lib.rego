# Helpers shared by the rules: the event's process, container and network
# seen through a few normalised views, each computed once per event, so
# each rule stays short and cheap.
#
# Strings in events are usually JSON strings, but a value that is not UTF-8
# (a binary path, an argument) arrives as {"base64": "...", "text": "..."}.
# The views below read such a value through its (lossy) `text`, so a rule
# never misses an event because a path holds an invalid byte, and never
# hands a non-string to a string builtin.
#
# Rules import these views one by one (`import data.palisade.lib.names`),
# not through the package (`lib.names`); the functions (`lib.basename(...)`)
# are fine through the package. Why, and what else keeps OPA and regorus
# deciding alike: README.md, "regorus workarounds".
package palisade.lib

import rego.v1

import data.palisade.config

# ---------------------------------------------------------------- functions

# A value as a string: strings as they are, non-UTF-8 values by their text.
text(v) := v if is_string(v)

text(v) := t if {
	is_object(v)
	t := v.text
	is_string(t)
}

# The last path component ("/usr/bin/nc" -> "nc"). Undefined for non-strings.
basename(path) := parts[count(parts) - 1] if {
	is_string(path)
	parts := split(path, "/")
}

# The markers (substrings) found in the command line.
markers_in_cmdline(markers) := {m | some m in markers; contains(cmdline, m)}

# ---------------------------------------------------------------- process

# The executed file's path ("" when the event has none).
binary := s if {
	s := input.process.binary
	is_string(s)
} else := s if {
	s := input.process.binary.text
	is_string(s)
} else := ""

# The filename given to execve, as given (may be relative; "" when absent).
# For a script it names the script, while `binary` names its interpreter.
filename := s if {
	s := input.process.filename
	is_string(s)
} else := s if {
	s := input.process.filename.text
	is_string(s)
} else := ""

# The arguments (argv) as executed, as strings; [] when there are none.
argv := input.process.args if {
	every a in input.process.args {
		is_string(a)
	}
} else := [s | some a in input.process.args; s := text(a)]

# The arguments as the program that runs reads them: argv, except for a
# multi-call binary (config `multicall_binaries`: busybox, toybox) called
# by its own name with the applet first (`busybox nc -e /bin/sh`), where
# the applet runs with the rest (`nc -e /bin/sh`). Rules read this view, so
# each judges the applet as it judges the tool (README.md, "Multi-call
# binaries").
args := array.slice(argv, 1, count(argv)) if {
	multicall_call
} else := argv

multicall_call if {
	count(argv) > 1
	config.multicall_binaries[basename(argv[0])]
}

# argv[0] of the program that runs: the applet for `busybox APPLET ...`
# ("" when there is none).
argv0 := s if {
	s := args[0]
} else := ""

# The command line as executed: argv joined by spaces (a busybox applet's
# line keeps its `busybox`).
cmdline := concat(" ", argv)

# The command line for messages, cut to 300 characters.
short_cmdline := substring(cmdline, 0, 300)

# The executed file's name.
name := binary_parts[count(binary_parts) - 1]

binary_parts := split(binary, "/")

# argv[0]'s name (busybox applets and multi-call binaries show here).
argv0_name := argv0_parts[count(argv0_parts) - 1]

argv0_parts := split(argv0, "/")

# Names the process goes by: its binary, the filename given to execve (a
# script, or a symlink such as /usr/bin/npm), and argv[0] (busybox applets:
# binary busybox, argv[0] "nc"); for a script run through an interpreter
# (python3 /usr/local/bin/pip ...), the script's name too, and for `python
# -m module`, the module. Matching any of them means renaming one is not
# enough to hide.
names := file_names | script_names

file_names := {n |
	some path in [binary, filename, argv0]
	path != ""
	parts := split(path, "/")
	n := parts[count(parts) - 1]
}

script_names := {n |
	some i, a in args
	i > 0
	n := script_name(i, a)
} if {
	config.interpreters[argv0_name]
} else := set()

script_name(1, a) := basename(a) if not startswith(a, "-")

script_name(i, "-m") := args[i + 1]

# Paths the exec ran: the binary, and the filename given to execve (made
# absolute with the working directory when it is relative).
exec_paths contains binary if binary != ""

exec_paths contains filename if startswith(filename, "/")

exec_paths contains concat("/", [cwd, filename]) if {
	filename != ""
	not startswith(filename, "/")
	cwd := text(input.process.cwd)
}

# [manager, subcommand] for each package-manager run that installs or
# updates software (config `package_managers`: manager name -> its
# installing subcommands or options). Queries (`apt list`, `pip show`, `npm
# run`) do not count.
package_installs contains [n, a] if {
	some n in names
	subcommands := config.package_managers[n]
	some i, a in args
	i > 0
	subcommands[a]
}

# The process's ancestors' binaries (nearest first) as strings.
ancestor_binaries := [a.binary | some a in input.process.ancestors] if {
	every a in input.process.ancestors {
		is_string(a.binary)
	}
} else := [b | some a in input.process.ancestors; b := text(a.binary)]

# Their names.
ancestor_names := [n |
	some b in ancestor_binaries
	parts := split(b, "/")
	n := parts[count(parts) - 1]
]

# The process is a shell (by file name, or a multi-call binary's shell
# applet: `/bin/sh -> busybox`, or `busybox sh`).
is_shell if config.shells[name]

is_shell if {
	config.multicall_binaries[name]
	config.shells[argv0_name]
}

# The script a shell runs with `-c` (or a combined flag like `-lc`, `-ec`):
# the argument after the first such flag among the shell's options (a `-c`
# after the script operand, as in `bash script -c x`, belongs to the
# script). (A rule whose value comes from the event always picks one value,
# as here with `min`: a complete rule with two values is an evaluation
# error, which an attacker could provoke.)
shell_command := args[c + 1] if {
	is_shell
	flags := {i |
		some i, a in args
		i > 0
		startswith(a, "-")
		not startswith(a, "--")
		contains(a, "c")
	}
	count(flags) > 0
	c := min(flags)
	not operand_before(c)
}

# A non-option argument (the script) comes before index c.
operand_before(c) if {
	some i, a in args
	i > 0
	i < c
	not startswith(a, "-")
	not startswith(a, "+")
	not shell_options_with_values[args[i - 1]]
}

# The script file a shell or interpreter is given to run: its first
# operand (`sh /tmp/x.sh`, `python3 -u /dev/shm/x.py`), unless a -c, -e or
# -m before it says the code is inline or a module. Undefined otherwise.
script_path := args[s] if {
	shell_or_interpreter
	operands := {i |
		some i, a in args
		i > 0
		not startswith(a, "-")
		not startswith(a, "+")
		not shell_options_with_values[args[i - 1]]
		not interpreter_options_with_values[args[i - 1]]
	}
	count(operands) > 0
	s := min(operands)
	not inline_code_before(s)
}

shell_or_interpreter if is_shell

shell_or_interpreter if config.interpreters[argv0_name]

shell_or_interpreter if config.interpreters[name]

# A shell's -c (alone or in a group: -ec), an interpreter's -c, -e or -m.
inline_code_before(s) if {
	some i, a in args
	i > 0
	i < s
	inline_code_option(a)
}

inline_code_option(a) if {
	is_shell
	startswith(a, "-")
	not startswith(a, "--")
	contains(a, "c")
}

inline_code_option(a) if {
	not is_shell
	regex.match(`^-[a-zA-Z]*[cem]$`, a)
}

# Interpreter options whose value is the next argument (python -W, -X).
interpreter_options_with_values := {"-W": true, "-X": true}

# Shell options whose value is the next argument (`bash -o pipefail -c x`).
shell_options_with_values := {"-o": true, "+o": true, "-O": true, "+O": true, "--rcfile": true, "--init-file": true}

# `true` when the process ran with an effective uid of root but a real uid
# that is not (a set-user-id root binary, or a privilege-raising exploit).
euid_raised if {
	input.process.euid == 0
	is_number(input.process.uid)
	input.process.uid != 0
}

# The captured environment variables (config `env_capture`), by name, as
# strings; {} when the event has none.
env := {k: s | some k, v in input.process.env; s := text(v)} if {
	is_object(input.process.env)
} else := {}

# ---------------------------------------------------------------- container

# The process runs in a container (the agent found a container id).
in_container if {
	id := input.container.id
	is_string(id)
	id != ""
}

# Where the process runs, for messages: "in container NAME (IMAGE)" (the
# container id's first 12 characters when it has no name), or "on the host".
where := concat("", ["in container ", container_name, container_image]) if {
	in_container
} else := "on the host"

container_name := input.container.name if {
	is_string(input.container.name)
	input.container.name != ""
} else := substring(input.container.id, 0, 12)

container_image := concat("", [" (", input.container.image, ")"]) if {
	is_string(input.container.image)
	input.container.image != ""
} else := ""

# ---------------------------------------------------------------- network

# The destination address of a network event. An IPv4-mapped IPv6 address
# (::ffff:169.254.169.254, from an AF_INET6 socket) is given as the IPv4
# address, so each address needs listing once, and OPA and regorus agree on
# CIDR matches (README.md, "regorus workarounds").
daddr := substring(a, 7, -1) if {
	a := input.network.daddr
	is_string(a)
	startswith(a, "::ffff:")
	contains(a, ".")
} else := a if {
	a := input.network.daddr
	is_string(a)
}

# The destination port, when the event has one.
dport := p if {
	p := input.network.dport
	is_number(p)
}

# The destination is inside one of config `internal_cidrs` (loopback,
# private, link-local, carrier-grade NAT ranges by default).
daddr_internal if {
	some cidr in config.internal_cidrs
	net.cidr_contains(cidr, daddr)
}
