package palisade.rules.history_disabled_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.history_disabled as rule

test_unset_histfile if {
	hits := rule.hits with input as fx.container_exec("/bin/sh", ["sh", "-c", "unset HISTFILE; id"])
	count(hits) == 1
}

test_histfile_dev_null_plain_and_quoted if {
	every script in [
		"export HISTFILE=/dev/null; curl x",
		`export HISTFILE="/dev/null"; id`,
		"HISTFILE='/dev/null' bash -i",
		`export HISTSIZE="0"`,
		"HISTFILESIZE=0 id",
		"set +o history",
	] {
		count(rule.hits) == 1 with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", script])
	}
}

test_assignment_in_argv if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/env", ["env", "HISTFILE=/dev/null", "bash", "-i"])
	hits == {"shell history disabled by HISTFILE=/dev/null on the host: env HISTFILE=/dev/null bash -i"}
}

test_shell_started_with_history_off_in_its_environment if {
	ev := fx.with_process(fx.host_exec("/usr/bin/bash", ["bash"]), {"env": {"HISTSIZE": "0", "HISTFILE": "/root/.bash_history"}})
	rule.hits == {"shell started with history disabled (HISTSIZE=0) on the host: bash"} with input as ev
	# The same variables on a program that is no shell: the shell that
	# exported them was already reported, or will be.
	count(rule.hits) == 0 with input as fx.with_process(fx.host_exec("/usr/bin/id", ["id"]), {"env": {"HISTSIZE": "0"}})
}

test_ordinary_history_settings_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "export HISTSIZE=10000 HISTFILE=~/.bash_history"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "export HISTSIZE=0100"])
	ev := fx.with_process(fx.host_exec("/usr/bin/bash", ["bash"]), {"env": {"HISTSIZE": "1000"}})
	count(rule.hits) == 0 with input as ev
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/env", ["env", "HISTSIZE=500", "bash"])
}

test_histcontrol_and_histignore_hide_commands if {
	every script in [
		"export HISTCONTROL=ignoreboth\nwhoami",
		`export HISTCONTROL="ignorespace"; id`,
		"HISTCONTROL=erasedups:ignorespace id",
		"export HISTIGNORE='ls*:rm*:ssh*'",
		`export HISTIGNORE='*'`,
	] {
		count(rule.hits) == 1 with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", script])
	}
	hits := rule.hits with input as fx.host_exec("/usr/bin/env", ["env", "HISTCONTROL=ignoreboth", "bash", "-i"])
	hits == {"shell history disabled by HISTCONTROL=ignoreboth on the host: env HISTCONTROL=ignoreboth bash -i"}
}

test_histcontrol_that_records_everything_is_not_matched if {
	every script in ["export HISTCONTROL=erasedups", "HISTIGNORE= id", "echo $HISTCONTROL"] {
		count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", script])
	}
	# In a shell's environment, HISTCONTROL is what distributions' .bashrc set.
	ev := fx.with_process(fx.host_exec("/usr/bin/bash", ["bash"]), {"env": {"HISTCONTROL": "ignoreboth"}})
	count(rule.hits) == 0 with input as ev
}
