# PAL-037: Python is handed a script that lies in a world-writable scratch
# directory (`python3 /tmp/x.py`): a dropped payload run without an exec
# bit of its own. Other interpreters (perl, ruby, node) are not matched
# here: ATT&CK gives them no technique of their own. Host and container
# alike, with PAL-007's carve-outs (config: writable_exec_allowed_prefixes).
package palisade.rules.python_script_from_writable_dir

import rego.v1

import data.palisade.config
import data.palisade.lib.argv0_name
import data.palisade.lib.name
import data.palisade.lib.script_path
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-037",
	"title": "Python script run from a world-writable directory",
	"description": "python/python2/python3 given a script operand under /tmp, /var/tmp, /dev/shm, /run/shm or /dev/mqueue (config: writable_exec_dirs), other than config writable_exec_allowed_prefixes.",
	"severity": "medium",
	"mitre": "T1059.006",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"names": config.interpreters, "substrings": config.writable_exec_dirs}],
}

hits contains msg if {
	python
	strings.any_prefix_match(script_path, config.writable_exec_dirs)
	not strings.any_prefix_match(script_path, config.writable_exec_allowed_prefixes)
	msg := concat("", ["python runs script ", script_path, " from a world-writable directory ", where, ": ", short_cmdline])
}

python if startswith(argv0_name, "python")

python if startswith(name, "python")
