# Triggers: when a rule is considered at all. A rule's `meta.triggers` is a
# cheap, necessary condition for its `hits`: an event that matches none of
# its triggers is not shown to the rule. main.rego applies this gate, so
# OPA and Palisade decide alike; Palisade also runs the same test natively
# before any Rego (agent/src/policy/triggers.rs) and evaluates only the
# rules an event triggers, and none for an event that triggers no rule.
#
# `triggers` is an array of alternatives; the rule is considered when one
# matches. An alternative is an object whose keys must all match (each list
# is an array of strings, or an object whose keys are the strings, such as
# a config set like config.shells):
#
#   names        a name in the list is the last `/` component of the
#                binary, the filename given to execve, or an argument
#   ancestors    a name in the list is the last component of an
#                ancestor's binary
#   paths        a string in the list starts the binary, the filename or,
#                for a relative filename, cwd + "/" + filename (the paths
#                lib.exec_paths reads)
#   substrings   a string in the list occurs in the event's text: the
#                paths above, the command line (arguments joined by
#                spaces) and the network destination address, one per line
#   lower_substrings
#                a string in the list (written in lower case) occurs in
#                the event's text lower-cased, for rules that read
#                lower(...) of the command line
#   env          a name in the list is a captured environment variable
#                (process.env, exec events; config env_capture)
#   container    true: the process runs in a container
#   drift        true: the event carries process.exe.drift
#   euid_raised  true: effective uid 0, real uid not 0
#   file_paths   a string in the list starts a file event's path or, for
#                a rename, its new path
#
# A rule without `triggers` is considered for every event of its kinds.
# Triggers must be a superset of what hits: `palisade policy check` fails
# when a sample event hits a rule whose triggers it does not match, and
# when Palisade's native test disagrees with this module on a sample.
package palisade.lib.triggers

import rego.v1

import data.palisade.lib
import data.palisade.lib.ancestor_names
import data.palisade.lib.argv
import data.palisade.lib.binary
import data.palisade.lib.cmdline
import data.palisade.lib.euid_raised
import data.palisade.lib.filename
import data.palisade.lib.in_container

# Whether the rule with metadata `meta` is considered for this event.
triggered(meta) if object.get(meta, "triggers", null) == null

triggered(meta) if {
	# (is_array first: README.md, "regorus workarounds".)
	alternatives := meta.triggers
	is_array(alternatives)
	some alternative in alternatives
	is_object(alternative)
	every key, want in alternative {
		matches(key, want)
	}
}

# names and ancestors look each listed name up in the event's names (or
# each event name up in a listed object), rather than calling `listed` per
# name: every Rego function call costs regorus's RVM thousands of
# instructions (docs/performance.md, third pass).
matches("names", want) if {
	is_array(want)
	some n in want
	event_names[n]
}

matches("names", want) if {
	is_object(want)
	some n in event_names
	_ := want[n]
}

matches("ancestors", want) if {
	is_array(want)
	some n in want
	ancestor_name_set[n]
}

matches("ancestors", want) if {
	is_object(want)
	some n in ancestor_names
	_ := want[n]
}

matches("paths", want) if {
	some prefix in items(want)
	is_string(prefix)
	some path in exec_paths
	startswith(path, prefix)
}

matches("substrings", want) if {
	some s in items(want)
	is_string(s)
	contains(event_text, s)
}

matches("lower_substrings", want) if {
	some s in items(want)
	is_string(s)
	contains(lower_event_text, s)
}

# A list is an array of strings, or an object whose keys are the strings
# (a config set such as config.shells, used as it is: nothing to build
# per event, and a lookup rather than a scan).
listed(want, n) if {
	is_array(want)
	n in want
}

listed(want, n) if {
	is_object(want)
	_ := want[n]
}

items(want) := want if is_array(want)

items(want) := object.keys(want) if is_object(want)

matches("env", want) if {
	env := input.process.env
	is_object(env)
	some n in object.keys(env)
	listed(want, n)
}

matches("container", true) if in_container

matches("drift", true) if is_object(input.process.exe.drift)

matches("euid_raised", true) if euid_raised

matches("file_paths", want) if {
	some prefix in items(want)
	is_string(prefix)
	some path in file_paths
	startswith(path, prefix)
}

# The last path component of the binary, the filename and every argument.
event_names contains n if {
	some path in array.concat([binary, filename], argv)
	n := lib.basename(path)
}

exec_paths := array.concat([binary, filename], relative_path)

# cwd + "/" + filename, for a relative filename.
relative_path := [concat("/", [cwd, filename])] if {
	filename != ""
	not startswith(filename, "/")
} else := []

# A file event's path and, for a rename, its new path.
file_paths contains p if {
	some field in ["path", "new_path"]
	p := lib.text(input.file[field])
}

event_text := concat("\n", array.concat(exec_paths, [cmdline, daddr]))

# Lower-cased once per event, not once per listed substring.
lower_event_text := lower(event_text)

ancestor_name_set := {n | some n in ancestor_names}

cwd := s if {
	s := lib.text(input.process.cwd)
} else := ""

daddr := s if {
	s := input.network.daddr
	is_string(s)
} else := ""
