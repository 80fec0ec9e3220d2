package palisade.rules.agent_tamper_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.agent_tamper as rule

test_pin_removed if {
	ev := fx.host_file("file_unlink", "/usr/bin/rm", "/sys/fs/bpf/palisade/maps/EXEC_DENY_NAME", {"syscall": "unlinkat"})
	hits := rule.hits with input as ev
	hits == {"rm (pid 4242) deleted /sys/fs/bpf/palisade/maps/EXEC_DENY_NAME (defense evasion: Palisade's files) on the host"}
}

test_policy_edited if {
	count(rule.hits) == 1 with input as fx.host_write("/usr/bin/vi", "/etc/palisade/policy/config.json")
}

test_reading_the_policy_is_not_matched if {
	count(rule.hits) == 0 with input as fx.host_read("/usr/bin/cat", "/etc/palisade/policy/config.json")
}
