package palisade.rules.history_tampering_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.history_tampering as rule

test_history_clear if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "history -c && history -w"])
	count(hits) == 1
}

test_disabling_history_is_pal_024s if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "export HISTFILE=/dev/null; curl x"])
}

test_redirect_truncates_history if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "cat /dev/null > ~/.bash_history"])
	count(hits) == 1
}

test_ln_history_to_dev_null if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/ln", ["ln", "-sf", "/dev/null", "/root/.bash_history"])
	hits == {"ln applied to history file /root/.bash_history on the host: ln -sf /dev/null /root/.bash_history"}
}

test_reading_history_is_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "grep ssh ~/.bash_history | tail -5"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "history | tail"])
}
