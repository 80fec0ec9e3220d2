package palisade.rules.private_key_read_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.private_key_read as rule

test_copy_of_root_key if {
	hits := rule.hits with input as fx.host_read("/usr/bin/cp", "/root/.ssh/id_ed25519")
	hits == {"cp (pid 4242) read /root/.ssh/id_ed25519 (SSH private key) on the host"}
}

test_host_key_in_container if {
	ev := object.union(fx.host_read("/bin/busybox", "/etc/ssh/ssh_host_rsa_key"), {"container": fx.container})
	hits := rule.hits with input as ev
	hits == {"busybox (pid 4242) read /etc/ssh/ssh_host_rsa_key (SSH private key) in container web (registry.example.com/shop/web:1.4.2)"}
}

test_public_keys_and_ssh_tools_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_read("/usr/bin/cat", "/root/.ssh/id_rsa.pub")
	count(rule.hits) == 0 with input as fx.host_read("/usr/bin/ssh", "/root/.ssh/id_rsa")
	count(rule.hits) == 0 with input as fx.host_read("/usr/sbin/sshd", "/etc/ssh/ssh_host_ed25519_key")
}
