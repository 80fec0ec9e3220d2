package palisade.rules.history_file_read_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.history_file_read as rule

test_cat_history if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/cat", ["cat", "/root/.bash_history"])
	hits == {"cat reads /root/.bash_history on the host: cat /root/.bash_history"}
	count(rule.hits) == 1 with input as fx.container_exec("/bin/grep", ["grep", "pass", "/home/u/.zsh_history"])
}

test_other_files_and_shells_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/cat", ["cat", "/var/log/history.log"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "history"])
}
