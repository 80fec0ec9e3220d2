package palisade.rules.sudoers_write_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.sudoers_write as rule

test_sudoers_d_file if {
	hits := rule.hits with input as fx.host_write("/usr/bin/bash", "/etc/sudoers.d/99-backdoor")
	hits == {"bash (pid 4242) opened for writing /etc/sudoers.d/99-backdoor (sudo rules) on the host"}
}

test_package_manager_is_not_matched if {
	count(rule.hits) == 0 with input as fx.host_write("/usr/bin/dpkg", "/etc/sudoers.dpkg-new")
}
