# Helpers for rules on file events (file_open, file_unlink, file_rename,
# file_chmod): the paths an event touches and what it did to them.
package palisade.lib.files

import rego.v1

import data.palisade.config
import data.palisade.lib
import data.palisade.lib.ancestor_names
import data.palisade.lib.name

path := lib.text(input.file.path)

# The new name of a rename.
new_path := lib.text(input.file.new_path)

# Both names of a rename; the one path of the other kinds.
paths contains path

paths contains new_path

# The event's paths under one of `prefixes`.
under(prefixes) := {p |
	some p in paths
	some prefix in prefixes
	startswith(p, prefix)
}

# The call changes the file (or its name or mode), rather than reading it.
writes if input.kind in {"file_unlink", "file_rename", "file_chmod"}

writes if {
	input.kind == "file_open"
	input.file.access == "write"
}

reads if {
	input.kind == "file_open"
	input.file.access == "read"
}

# What happened, for messages.
verb := "read" if reads

verb := "opened for writing" if {
	input.kind == "file_open"
	input.file.access == "write"
}

verb := "deleted" if input.kind == "file_unlink"

verb := "renamed" if input.kind == "file_rename"

verb := concat("", ["chmod ", input.file.mode]) if input.kind == "file_chmod"

# "(attempt failed: errno 13)" for a call that failed, else "".
outcome := concat("", [" (attempt failed: errno ", format_int(input.file.errno, 10), ")"]) if {
	input.file.result == "failed"
} else := ""

# Who: the process's file name and pid.
who := concat("", [name, " (pid ", format_int(input.process.pid, 10), ")"]) if {
	name != ""
} else := concat("", ["pid ", format_int(input.process.pid, 10)])

# A package manager (config.package_managers) is the process or one of its
# ancestors: installing and upgrading packages writes these files (maintainer
# scripts run under dpkg/rpm), so rules on system files leave it out.
by_package_manager if config.package_managers[name]

by_package_manager if {
	some n in ancestor_names
	config.package_managers[n]
}
