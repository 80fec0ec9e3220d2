package palisade.rules.at_job_created_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.at_job_created as rule

test_at_queues_a_job if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/at", ["at", "now", "+", "1", "minute", "-f", "/tmp/x.sh"])
	hits == {"at queues a job on the host: at now + 1 minute -f /tmp/x.sh"}
	count(rule.hits) == 1 with input as fx.container_exec("/usr/bin/batch", ["batch"])
}

test_queries_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/at", ["at", "-l"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/at", ["at", "-r", "3"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/atq", ["atq"])
}
