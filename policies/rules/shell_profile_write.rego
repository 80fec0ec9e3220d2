# PAL-046: a shell startup file is written: code run at every login or shell
# start. /etc/profile also covers /etc/profile.d/.
package palisade.rules.shell_profile_write

import rego.v1

import data.palisade.lib.files as f
import data.palisade.lib.files.by_package_manager
import data.palisade.lib.files.outcome
import data.palisade.lib.files.verb
import data.palisade.lib.files.who
import data.palisade.lib.files.writes
import data.palisade.lib.where

# Watched for writes by the kernel (files.rego): paths under these prefixes.
files := {"write": ["/root/.bashrc", "/root/.bash_profile", "/root/.bash_login", "/root/.profile", "/root/.zshrc", "/root/.zprofile", "/etc/profile", "/etc/bash.bashrc", "/etc/zsh/"]}

meta := {
	"id": "PAL-046",
	"title": "Shell startup file modified",
	"description": "A process other than a package manager wrote a shell startup file that runs at every login or shell start: root's .bashrc, .bash_profile, .profile, .zshrc, or /etc/profile, /etc/profile.d/, /etc/bash.bashrc, /etc/zsh/.",
	"severity": "medium",
	"mitre": "T1546.004",
	"action": "alert",
	"kinds": ["file_open", "file_unlink", "file_rename", "file_chmod"],
	"triggers": [{"file_paths": files.write}],
}

hits contains msg if {
	writes
	some path in f.under(files.write)
	not by_package_manager
	msg := concat("", [who, " ", verb, " ", path, " (shell startup persistence) ", where, outcome])
}
