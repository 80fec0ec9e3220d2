package palisade.rules.ssh_data_stream_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.ssh_data_stream as rule

test_remote_tar_to_stdout if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/ssh", ["ssh", "target", "(cd /etc && tar -zcvf - *)"])
	hits == {"ssh streams data ((cd /etc && tar -zcvf - *)) on the host: ssh target (cd /etc && tar -zcvf - *)"}
}

test_stdin_to_a_remote_file if {
	count(rule.hits) == 1 with input as fx.container_exec("/usr/bin/ssh", ["ssh", "atomic@host", "cat > /Users.tar.gz.enc"])
}

test_ordinary_remote_commands_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/ssh", ["ssh", "host", "cat /etc/os-release"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/ssh", ["ssh", "-T", "git@github.com"])
}
