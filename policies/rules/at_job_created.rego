# PAL-027: a job is queued with at or batch: a command that runs later,
# once, under the submitting user (persistence, or execution detached from
# the session that started it). Listing (-l), removing (-r/-d) and showing
# (-c) jobs are not matched. Host and container alike: neither a node
# component nor an application queues at jobs.
package palisade.rules.at_job_created

import rego.v1

import data.palisade.lib.args
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-027",
	"title": "at job created",
	"description": "at or batch executed to queue a job (any use but -l, -r, -d, -c, -V, -q alone).",
	"severity": "medium",
	"mitre": "T1053.002",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"names": ["at", "batch"]}],
}

hits contains msg if {
	some n in ["at", "batch"]
	n in names
	not queries
	msg := concat("", [n, " queues a job ", where, ": ", short_cmdline])
}

queries if {
	some a in args
	a in {"-l", "-r", "-d", "-c", "-V"}
}
