package palisade.rules.credential_file_read_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.credential_file_read as rule

test_cat_reads_shadow if {
	hits := rule.hits with input as fx.host_read("/usr/bin/cat", "/etc/shadow")
	hits == {"cat (pid 4242) read /etc/shadow (password hashes) on the host"}
}

test_failed_attempt_is_reported_with_errno if {
	ev := fx.host_file("file_open", "/usr/bin/python3", "/etc/gshadow", {"access": "read", "result": "failed", "errno": 13})
	hits := rule.hits with input as ev
	hits == {"python3 (pid 4242) read /etc/gshadow (password hashes) on the host (attempt failed: errno 13)"}
}

test_authenticators_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_read("/usr/sbin/unix_chkpwd", "/etc/shadow")
	count(rule.hits) == 0 with input as fx.host_read("/usr/sbin/sshd", "/etc/shadow")
}

test_write_is_not_a_read if {
	count(rule.hits) == 0 with input as fx.host_write("/usr/bin/cat", "/etc/shadow")
}

test_other_files_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_read("/usr/bin/cat", "/etc/passwd")
}
