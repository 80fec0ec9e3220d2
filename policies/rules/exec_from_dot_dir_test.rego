package palisade.rules.exec_from_dot_dir_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.exec_from_dot_dir as rule

test_three_dots if {
	hits := rule.hits with input as fx.host_exec("/root/.../sh", ["/root/.../sh", "-c", "echo hi"])
	hits == {"/root/.../sh runs from a directory named \"...\" on the host: /root/.../sh -c echo hi"}
}

test_dots_and_a_space if {
	count(rule.hits) == 1 with input as fx.container_exec("/tmp/.. /x", ["/tmp/.. /x"])
}

test_ordinary_and_relative_paths_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/ls", ["ls", "../x"])
	count(rule.hits) == 0 with input as fx.host_exec("/opt/app/.hidden/bin", ["./bin"])
}
