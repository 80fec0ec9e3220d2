package palisade.rules.authorized_keys_write_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.authorized_keys_write as rule

test_key_appended if {
	hits := rule.hits with input as fx.host_write("/usr/bin/tee", "/root/.ssh/authorized_keys")
	hits == {"tee (pid 4242) opened for writing /root/.ssh/authorized_keys (SSH authorized keys) on the host"}
}

test_chmod_reported_with_mode if {
	ev := fx.host_file("file_chmod", "/usr/bin/chmod", "/root/.ssh/authorized_keys", {"mode": "0600", "syscall": "fchmodat"})
	hits := rule.hits with input as ev
	hits == {"chmod (pid 4242) chmod 0600 /root/.ssh/authorized_keys (SSH authorized keys) on the host"}
}

test_reading_is_not_matched if {
	count(rule.hits) == 0 with input as fx.host_read("/usr/sbin/sshd", "/root/.ssh/authorized_keys")
}
