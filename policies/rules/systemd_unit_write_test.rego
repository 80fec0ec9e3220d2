package palisade.rules.systemd_unit_write_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.systemd_unit_write as rule

test_service_created if {
	hits := rule.hits with input as fx.host_write("/usr/bin/tee", "/etc/systemd/system/updater.service")
	hits == {"tee (pid 4242) opened for writing /etc/systemd/system/updater.service (service persistence) on the host"}
}

test_package_manager_is_not_matched if {
	ev := fx.with_ancestors(fx.host_write("/usr/bin/cp", "/etc/systemd/system/x.service"), ["/usr/bin/rpm"])
	count(rule.hits) == 0 with input as ev
}

test_init_script if {
	count(rule.hits) == 1 with input as fx.host_write("/usr/bin/bash", "/etc/init.d/T1543.002")
}
