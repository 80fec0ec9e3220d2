package palisade.rules.cron_file_write_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.cron_file_write as rule

test_cron_d_file_created if {
	hits := rule.hits with input as fx.host_write("/usr/bin/bash", "/etc/cron.d/update")
	hits == {"bash (pid 4242) opened for writing /etc/cron.d/update (cron persistence) on the host"}
}

test_rename_into_spool if {
	ev := fx.host_file("file_rename", "/usr/bin/mv", "/tmp/x", {"new_path": "/var/spool/cron/crontabs/root", "syscall": "renameat2"})
	hits := rule.hits with input as ev
	hits == {"mv (pid 4242) renamed /var/spool/cron/crontabs/root (cron persistence) on the host"}
}

test_package_manager_is_not_matched if {
	ev := fx.with_ancestors(fx.host_write("/usr/bin/cp", "/etc/cron.d/sysstat"), ["/bin/sh", "/usr/bin/dpkg", "/usr/bin/apt-get"])
	count(rule.hits) == 0 with input as ev
}

test_reading_crontab_is_not_matched if {
	count(rule.hits) == 0 with input as fx.host_read("/usr/bin/cat", "/etc/crontab")
}
