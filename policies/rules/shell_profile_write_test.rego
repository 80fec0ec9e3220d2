package palisade.rules.shell_profile_write_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.shell_profile_write as rule

test_root_bashrc if {
	hits := rule.hits with input as fx.host_write("/usr/bin/bash", "/root/.bashrc")
	hits == {"bash (pid 4242) opened for writing /root/.bashrc (shell startup persistence) on the host"}
}

test_profile_d if {
	count(rule.hits) == 1 with input as fx.host_write("/usr/bin/cp", "/etc/profile.d/zz.sh")
}

test_history_is_not_a_startup_file if {
	count(rule.hits) == 0 with input as fx.host_write("/usr/bin/bash", "/root/.bash_history")
}
