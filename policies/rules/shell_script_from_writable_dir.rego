# PAL-036: a shell is handed a script that lies in a world-writable
# scratch directory (`sh /tmp/x.sh`, `bash /dev/shm/.s`): a dropped
# payload run without its own exec bit, which PAL-007 (execution from such
# a directory) does not see, since the program executed is the shell.
# Host and container alike, with the same carve-outs as PAL-007 (config:
# writable_exec_allowed_prefixes).
package palisade.rules.shell_script_from_writable_dir

import rego.v1

import data.palisade.config
import data.palisade.lib.is_shell
import data.palisade.lib.script_path
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-036",
	"title": "Shell script run from a world-writable directory",
	"description": "A shell given a script operand under /tmp, /var/tmp, /dev/shm, /run/shm or /dev/mqueue (config: writable_exec_dirs), other than config writable_exec_allowed_prefixes.",
	"severity": "medium",
	"mitre": "T1059.004",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"names": config.shells, "substrings": config.writable_exec_dirs}],
}

hits contains msg if {
	is_shell
	strings.any_prefix_match(script_path, config.writable_exec_dirs)
	not strings.any_prefix_match(script_path, config.writable_exec_allowed_prefixes)
	msg := concat("", ["shell runs script ", script_path, " from a world-writable directory ", where, ": ", short_cmdline])
}
