package palisade.files_test

import rego.v1

import data.palisade.files

test_watch_is_the_union_of_the_rules_files if {
	"/etc/shadow" in files.watch.read
	"/root/.ssh/id_" in files.watch.read
	"/etc/cron" in files.watch.write
	"/sys/fs/bpf/palisade/" in files.watch.write
	not "/etc/cron" in files.watch.read
}

test_a_rule_turned_off_watches_nothing if {
	w := files.watch with data.palisade.config.rule_modes as {"PAL-040": "off"}
	not "/etc/shadow" in w.read
	"/root/.ssh/id_" in w.read
}
