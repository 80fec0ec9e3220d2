# PAL-040: the shadow password files are read by a program that is not an
# authenticator: dumping password hashes to crack them offline.
package palisade.rules.credential_file_read

import rego.v1

import data.palisade.config
import data.palisade.lib.files as f
import data.palisade.lib.files.outcome
import data.palisade.lib.files.reads
import data.palisade.lib.files.who
import data.palisade.lib.name
import data.palisade.lib.where

# Watched for reads by the kernel (files.rego).
files := {"read": ["/etc/shadow", "/etc/gshadow", "/etc/security/opasswd"]}

meta := {
	"id": "PAL-040",
	"title": "Password hashes read",
	"description": "/etc/shadow, /etc/gshadow or /etc/security/opasswd opened for reading by a program that is not one of the authenticators and account tools listed in config `credential_file_readers` (sshd, login, su, sudo, passwd, unix_chkpwd, ...). Failed attempts (an unprivileged user) are reported too.",
	"severity": "high",
	"mitre": "T1003.008",
	"action": "alert",
	"kinds": ["file_open"],
	"triggers": [{"file_paths": files.read}],
}

hits contains msg if {
	reads
	some path in f.under(files.read)
	not config.credential_file_readers[name]
	msg := concat("", [who, " read ", path, " (password hashes) ", where, outcome])
}
