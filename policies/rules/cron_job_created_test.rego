package palisade.rules.cron_job_created_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.cron_job_created as rule

test_crontab_installs if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/crontab", ["crontab", "/tmp/persist"])
	hits == {"crontab installed on the host: crontab /tmp/persist"}
	count(rule.hits) == 1 with input as fx.container_exec("/usr/bin/crontab", ["crontab", "-"])
	count(rule.hits) == 1 with input as fx.host_exec("/usr/bin/crontab", ["crontab", "-u", "root", "-e"])
}

test_shell_redirect_into_cron_dirs if {
	ev := fx.host_exec("/bin/bash", ["bash", "-c", "echo '* * * * * root /tmp/x' >> /etc/crontab"])
	count(rule.hits) == 1 with input as ev
	count(rule.hits) == 1 with input as fx.host_exec("/bin/sh", ["sh", "-c", "echo x > \"/var/spool/cron/crontabs/root\""])
}

test_listing_and_removing_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/crontab", ["crontab", "-l"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/crontab", ["crontab", "-u", "bob", "-l"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/crontab", ["crontab", "-r"])
	count(rule.hits) == 0 with input as fx.host_exec("/bin/bash", ["bash", "-c", "cat /etc/crontab"])
}
