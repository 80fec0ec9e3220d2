package palisade.rules.account_modified_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.account_modified as rule

test_privileged_group if {
	hits := rule.hits with input as fx.host_exec("/usr/sbin/usermod", ["usermod", "-aG", "sudo", "bob"])
	hits == {"user added to a privileged group on the host: usermod -aG sudo bob"}
	count(rule.hits) == 1 with input as fx.host_exec("/usr/sbin/usermod", ["usermod", "-G", "users,wheel", "bob"])
	count(rule.hits) == 1 with input as fx.host_exec("/usr/bin/gpasswd", ["gpasswd", "-a", "bob", "docker"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/sbin/usermod", ["usermod", "-aG", "users", "bob"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/sbin/usermod", ["usermod", "-L", "root"])
}

test_uid_0_bulk_passwords_and_groups if {
	count(rule.hits) == 1 with input as fx.host_exec("/usr/sbin/usermod", ["usermod", "-o", "-u", "0", "bob"])
	count(rule.hits) == 1 with input as fx.container_exec("/usr/sbin/chpasswd", ["chpasswd"])
	count(rule.hits) == 1 with input as fx.host_exec("/usr/sbin/groupadd", ["groupadd", "evil"])
}

test_passwd_on_another_account_but_not_ones_own if {
	count(rule.hits) == 1 with input as fx.host_exec("/usr/bin/passwd", ["passwd", "bob"])
	count(rule.hits) == 1 with input as fx.host_exec("/usr/bin/passwd", ["passwd", "-d", "root"])
	own := fx.with_process(fx.host_exec("/usr/bin/passwd", ["passwd"]), {"uid": 1000})
	count(rule.hits) == 0 with input as own
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/passwd", ["passwd", "-S"])
}

test_under_a_package_manager_is_not_matched if {
	ev := fx.with_ancestors(fx.host_exec("/usr/sbin/groupadd", ["groupadd", "-r", "messagebus"]), ["/bin/sh", "/usr/bin/dpkg"])
	count(rule.hits) == 0 with input as ev
}
