package palisade.rules.log_tampering_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.log_tampering as rule

test_rm_auth_log if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/rm", ["rm", "-f", "/var/log/auth.log"])
	hits == {"rm applied to /var/log/auth.log on the host: rm -f /var/log/auth.log"}
}

test_shred_wtmp if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/shred", ["shred", "-uz", "/var/log/wtmp"])
	count(hits) == 1
}

test_redirect_truncation if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "cat /dev/null > /var/log/syslog; : > /var/log/auth.log"])
	count(hits) == 1
}

test_service_logging_to_file_is_not_matched if {
	hits := rule.hits with input as fx.container_exec("/bin/sh", ["sh", "-c", "exec /app/server > /var/log/app/server.log 2>&1"])
	count(hits) == 0
}

test_rm_elsewhere_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/rm", ["rm", "-rf", "/tmp/build"])
	count(hits) == 0
}

test_descriptor_redirect_truncation if {
	# `echo 0> /var/log/secure`: descriptor 0 redirected, the file truncated.
	hits := rule.hits with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "echo 0> /var/log/secure"])
	count(hits) == 1
	# A program's own output appended is not a truncation.
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "echo done >> /var/log/app.log"])
}
