package palisade.rules.python_script_from_writable_dir_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.python_script_from_writable_dir as rule

test_python_runs_a_dropped_script if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/python3.12", ["python3", "/dev/shm/x.py"])
	hits == {"python runs script /dev/shm/x.py from a world-writable directory on the host: python3 /dev/shm/x.py"}
	count(rule.hits) == 1 with input as fx.container_exec("/usr/local/bin/python", ["python", "-u", "/tmp/a.py"])
}

test_other_runs_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/python3", ["python3", "/opt/app/main.py"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/python3", ["python3", "-c", "print(1)", "/tmp/x"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/perl", ["perl", "/tmp/x.pl"])
}
