package palisade.rules.account_created_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.account_created as rule

test_useradd_and_adduser if {
	hits := rule.hits with input as fx.host_exec("/usr/sbin/useradd", ["useradd", "-m", "-s", "/bin/bash", "-o", "-u", "0", "toor"])
	hits == {"useradd creates an account on the host: useradd -m -s /bin/bash -o -u 0 toor"}
	count(rule.hits) == 1 with input as fx.container_exec("/usr/sbin/adduser", ["adduser", "-D", "evil"])
	count(rule.hits) == 1 with input as fx.container_exec("/bin/busybox", ["busybox", "adduser", "-D", "evil"])
}

test_a_package_creating_its_system_user_is_not_matched if {
	ev := fx.with_ancestors(fx.host_exec("/usr/sbin/adduser", ["adduser", "--system", "--group", "_chrony"]), ["/bin/sh", "/usr/bin/dpkg", "/usr/bin/apt-get"])
	count(rule.hits) == 0 with input as ev
}
