package palisade.rules.setuid_shell_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.setuid_shell as rule

test_setuid_bash_copy if {
	ev := fx.with_process(fx.host_exec("/usr/bin/bash", ["bash", "-p"]), {"uid": 1000, "euid": 0})
	hits := rule.hits with input as ev
	hits == {"bash runs as root for uid 1000 on the host: bash -p"}
}

test_setuid_python if {
	ev := fx.with_process(
		fx.host_exec("/usr/bin/python3", ["python3", "-c", "import os; os.setuid(0); os.system('/bin/sh')"]),
		{"uid": 1001, "euid": 0},
	)
	hits := rule.hits with input as ev
	count(hits) == 1
}

test_root_shell_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/bash", ["bash"])
	count(hits) == 0
}

test_setuid_non_shell_is_not_matched if {
	ev := fx.with_process(fx.host_exec("/usr/bin/passwd", ["passwd"]), {"uid": 1000, "euid": 0})
	hits := rule.hits with input as ev
	count(hits) == 0
}
