package palisade.rules.process_memory_read_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.process_memory_read as rule

test_debugger_attach_and_core_dump if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/gdb", ["gdb", "-p", "1234", "-batch", "-ex", "generate-core-file"])
	hits == {"debugger attaches to a running process on the host: gdb -p 1234 -batch -ex generate-core-file"}
	count(rule.hits) == 1 with input as fx.container_exec("/usr/bin/gcore", ["gcore", "1"])
}

test_proc_mem_on_a_command_line if {
	count(rule.hits) == 1 with input as fx.host_exec("/usr/bin/dd", ["dd", "if=/proc/812/mem", "of=/tmp/m", "bs=1", "skip=4096"])
	ev := fx.host_exec("/bin/sh", ["sh", "-c", "dd if=/proc/${PID}/mem of=/tmp/dump.bin bs=1 skip=$((0x5000))"])
	count(rule.hits) == 1 with input as ev
	count(rule.hits) == 1 with input as fx.host_exec("/bin/sh", ["sh", "-c", "cat /proc/$(pgrep sshd)/mem > /tmp/x"])
}

test_ordinary_use_is_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/gdb", ["gdb", "./a.out"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/cat", ["cat", "/proc/meminfo"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/cat", ["cat", "/proc/1/maps"])
}
