# PAL-030: an account is given privileges or new credentials: usermod or
# gpasswd adding a user to a privileged group (config: privileged_groups:
# sudo, wheel, root, docker, ...), usermod giving uid 0, chpasswd setting
# passwords in bulk, passwd run by root on another account, or groupadd
# creating a group. Host and container alike, except under a package
# manager (install scripts create groups). A user changing their own
# password (`passwd` with no account named) is not matched.
package palisade.rules.account_modified

import rego.v1

import data.palisade.config
import data.palisade.lib.ancestor_names
import data.palisade.lib.args
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-030",
	"title": "Account privileges or credentials changed",
	"description": "usermod/gpasswd adding a user to a privileged group (config: privileged_groups) or usermod -u 0, chpasswd, passwd naming an account, or groupadd/addgroup; not under a package manager.",
	"severity": "high",
	"mitre": "T1098",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"names": ["usermod", "gpasswd", "chpasswd", "passwd", "groupadd", "addgroup"]}],
}

hits contains msg if {
	some what in changes
	not under_package_manager
	msg := concat("", [what, " ", where, ": ", short_cmdline])
}

changes contains "user added to a privileged group" if {
	some g in added_groups
	config.privileged_groups[g]
}

# usermod -G/-aG/--groups GROUPS (comma-separated).
added_groups contains g if {
	"usermod" in names
	some i, a in args
	regex.match(`^(-[a-zA-Z]*G|--groups)$`, a)
	some g in split(args[i + 1], ",")
}

# gpasswd -a/--add USER GROUP, -M/--members USERS GROUP.
added_groups contains args[i + 2] if {
	"gpasswd" in names
	some i, a in args
	a in {"-a", "--add", "-M", "--members"}
}

changes contains "account given uid 0" if {
	"usermod" in names
	some i, a in args
	a in {"-u", "--uid"}
	args[i + 1] == "0"
}

changes contains "passwords set in bulk" if "chpasswd" in names

# passwd's account operand: the arguments after it, other than options.
changes contains "password of another account changed" if {
	"passwd" in names
	some i, a in args
	i > 0
	not startswith(a, "-")
	not passwd_option_value(i)
}

changes contains "group created" if {
	some n in ["groupadd", "addgroup"]
	n in names
}

# Options of passwd whose value is the next argument.
passwd_option_value(i) if args[i - 1] in {"-n", "-x", "-w", "-i", "-r", "-R", "-P", "--repository", "--root", "--prefix", "--mindays", "--maxdays", "--warndays", "--inactive"}

under_package_manager if {
	some n in ancestor_names
	config.package_managers[n]
}
