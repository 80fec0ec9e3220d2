package palisade.rules.setuid_program_unexpected_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.setuid_program_unexpected as rule

raised(binary, args) := fx.with_process(fx.host_exec(binary, args), {"uid": 1000, "euid": 0})

test_a_renamed_setuid_copy_is_found_by_its_ids if {
	hits := rule.hits with input as raised("/tmp/.x/update", ["update", "-p"])
	hits == {"/tmp/.x/update runs as root for uid 1000 on the host: update -p"}
	count(rule.hits) == 1 with input as raised("/tmp/passwd", ["passwd"])
	count(rule.hits) == 1 with input as raised("/usr/bin/bashy", ["bashy", "-p"])
}

test_distribution_setuid_programs_and_plain_runs_are_not_matched if {
	count(rule.hits) == 0 with input as raised("/usr/bin/passwd", ["passwd"])
	count(rule.hits) == 0 with input as raised("/usr/bin/sudo", ["sudo", "-i"])
	count(rule.hits) == 0 with input as raised("/usr/lib/openssh/ssh-keysign", ["ssh-keysign"])
	count(rule.hits) == 0 with input as fx.with_process(fx.host_exec("/tmp/x", ["x"]), {"uid": 1000, "euid": 1000})
}
