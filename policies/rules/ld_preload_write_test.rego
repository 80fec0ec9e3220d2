package palisade.rules.ld_preload_write_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.ld_preload_write as rule

test_preload_written if {
	hits := rule.hits with input as fx.host_write("/usr/bin/bash", "/etc/ld.so.preload")
	hits == {"bash (pid 4242) opened for writing /etc/ld.so.preload (dynamic linker hijacking) on the host"}
}

test_preload_deleted if {
	ev := fx.host_file("file_unlink", "/usr/bin/rm", "/etc/ld.so.preload", {"syscall": "unlinkat"})
	count(rule.hits) == 1 with input as ev
}

test_ld_so_cache_is_not_matched if {
	count(rule.hits) == 0 with input as fx.host_write("/usr/sbin/ldconfig", "/etc/ld.so.cache")
}
