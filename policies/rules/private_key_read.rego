# PAL-041: an SSH private key (root's, or the host's) is read by a program
# that is not an SSH tool: a key taken to log in elsewhere, or to pose as
# this host.
package palisade.rules.private_key_read

import rego.v1

import data.palisade.config
import data.palisade.lib.files as f
import data.palisade.lib.files.outcome
import data.palisade.lib.files.reads
import data.palisade.lib.files.who
import data.palisade.lib.name
import data.palisade.lib.where

# Watched for reads by the kernel (files.rego). Other users' keys
# (/home/*/.ssh/id_*) cannot be written as a prefix: not covered.
files := {"read": ["/root/.ssh/id_", "/etc/ssh/ssh_host_"]}

meta := {
	"id": "PAL-041",
	"title": "SSH private key read",
	"description": "A private key under /root/.ssh/id_* or /etc/ssh/ssh_host_* (not a .pub file) opened for reading by a program not listed in config `private_key_readers` (ssh, scp, sshd, ssh-keygen, ...).",
	"severity": "high",
	"mitre": "T1552.004",
	"action": "alert",
	"kinds": ["file_open"],
	"triggers": [{"file_paths": files.read}],
}

hits contains msg if {
	reads
	some path in f.under(files.read)
	not endswith(path, ".pub")
	not config.private_key_readers[name]
	msg := concat("", [who, " read ", path, " (SSH private key) ", where, outcome])
}
