package palisade.rules.exec_from_writable_dir_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.exec_from_writable_dir as rule

test_binary_in_dev_shm if {
	hits := rule.hits with input as fx.container_exec("/dev/shm/.x/kworker", ["[kworker/0:1]"])
	hits == {"executed from a world-writable directory in container web (registry.example.com/shop/web:1.4.2): /dev/shm/.x/kworker"}
}

test_script_in_tmp_run_by_its_interpreter if {
	# A script: the binary is its interpreter, the execve filename the script.
	ev := fx.with_process(fx.host_exec("/usr/bin/dash", ["/bin/sh", "/tmp/update.sh"]), {"filename": "/tmp/update.sh"})
	hits := rule.hits with input as ev
	hits == {"executed from a world-writable directory on the host: /tmp/update.sh"}
}

test_relative_filename_resolved_with_cwd if {
	ev := fx.with_process(fx.host_exec("/usr/bin/dash", ["/bin/sh", "./run"]), {"filename": "./run", "cwd": "/var/tmp/build"})
	hits := rule.hits with input as ev
	count(hits) == 1
}

test_non_utf8_path_still_matches if {
	ev := fx.with_process(fx.host_exec({"base64": "L3RtcC94/w==", "text": "/tmp/x\ufffd"}, ["x"]), {"filename": {"base64": "L3RtcC94/w==", "text": "/tmp/x\ufffd"}})
	hits := rule.hits with input as ev
	count(hits) == 1
}

test_system_binary_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/ls", ["ls", "/tmp"])
	count(hits) == 0
}

test_go_build_cache_is_allowed if {
	hits := rule.hits with input as fx.host_exec("/tmp/go-build1234/b001/exe/main", ["/tmp/go-build1234/b001/exe/main"])
	count(hits) == 0
}
