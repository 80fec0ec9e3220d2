package palisade.rules.shell_script_from_writable_dir_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.shell_script_from_writable_dir as rule

test_shell_runs_a_dropped_script if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/bash", ["bash", "/tmp/art.sh"])
	hits == {"shell runs script /tmp/art.sh from a world-writable directory on the host: bash /tmp/art.sh"}
	count(rule.hits) == 1 with input as fx.container_exec("/bin/busybox", ["busybox", "sh", "/dev/shm/.x"])
}

test_other_scripts_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/bash", ["bash", "/usr/local/bin/start.sh"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/bash", ["bash", "-c", "cat /tmp/x.sh"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/python3", ["python3", "/tmp/x.py"])
}
