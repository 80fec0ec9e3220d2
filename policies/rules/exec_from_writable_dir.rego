# PAL-007: a program runs from a world-writable scratch directory (/tmp,
# /var/tmp, /dev/shm, ...). Dropped payloads land there because anyone can
# write there; installed software does not live there. Checked on the
# binary and on the path given to execve (a script's own path).
package palisade.rules.exec_from_writable_dir

import rego.v1

import data.palisade.config
import data.palisade.lib.exec_paths
import data.palisade.lib.where

meta := {
	"id": "PAL-007",
	"title": "Execution from a world-writable directory",
	"description": "A binary or script executed from /tmp, /var/tmp, /dev/shm, /run/shm or /dev/mqueue (config: writable_exec_dirs), other than known build caches (config: writable_exec_allowed_prefixes, e.g. go run's /tmp/go-build).",
	"severity": "medium",
	"mitre": "T1036",
	"action": "alert",
	"kinds": ["process_exec"],
	# exec_paths is the binary, the absolute filename or cwd + "/" +
	# filename: all among the paths the `paths` trigger reads.
	"triggers": [{"paths": config.writable_exec_dirs}],
}

hits contains msg if {
	some path in exec_paths
	strings.any_prefix_match(path, config.writable_exec_dirs)
	not strings.any_prefix_match(path, config.writable_exec_allowed_prefixes)
	msg := concat("", ["executed from a world-writable directory ", where, ": ", path])
}
