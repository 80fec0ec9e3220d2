package palisade.rules.private_key_search_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.private_key_search as rule

test_find_by_name if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/find", ["find", "/", "-name", "id_rsa"])
	hits == {"find searches for private keys (id_rsa) on the host: find / -name id_rsa"}
	count(rule.hits) == 1 with input as fx.container_exec("/usr/bin/find", ["find", "/home", "-name", "id_*", "-o", "-name", "id_ed25519*"])
}

test_public_keys_and_other_tools_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/find", ["find", "/root/.ssh", "-name", "id_rsa.pub"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/ssh-keygen", ["ssh-keygen", "-f", "/root/.ssh/id_rsa"])
}
