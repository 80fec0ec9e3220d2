# PAL-048: someone other than the agent changes its pins or its policy files.
# `palisade unload` is reported too: it writes its own audit record, and
# this match says which process did it.
package palisade.rules.agent_tamper

import rego.v1

import data.palisade.lib.files as f
import data.palisade.lib.files.by_package_manager
import data.palisade.lib.files.outcome
import data.palisade.lib.files.verb
import data.palisade.lib.files.who
import data.palisade.lib.files.writes
import data.palisade.lib.where

# Watched for writes by the kernel (files.rego): paths under these prefixes.
files := {"write": ["/sys/fs/bpf/palisade/", "/etc/palisade/"]}

meta := {
	"id": "PAL-048",
	"title": "Palisade's own files modified",
	"description": "A process other than the agent itself wrote, renamed, deleted or chmod-ed Palisade's pinned eBPF objects (/sys/fs/bpf/palisade/) or its policy directory (/etc/palisade/): an attempt to remove enforcement or change the policy behind the agent's back. The agent's own writes are never reported (the kernel skips its process).",
	"severity": "high",
	# Current ATT&CK id (as Atomic Red Team files its tests, 2026-08):
	# Impair Defenses: Disable or Modify Tools (T1562.001) became T1685.
	"mitre": "T1685",
	"action": "alert",
	"kinds": ["file_open", "file_unlink", "file_rename", "file_chmod"],
	"triggers": [{"file_paths": files.write}],
}

hits contains msg if {
	writes
	some path in f.under(files.write)
	not by_package_manager
	msg := concat("", [who, " ", verb, " ", path, " (defense evasion: Palisade's files) ", where, outcome])
}
