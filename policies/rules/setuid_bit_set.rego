# PAL-031: a file is made set-user-id or set-group-id (chmod u+s, g+s, +s,
# 4755, 2755, ...; install -m 4755): with root as owner, whoever runs it
# gets root, the standard way to keep root after one successful exploit.
# Host and container alike, except under a package manager (an install
# script setting the bit on the package's own helper is legitimate).
package palisade.rules.setuid_bit_set

import rego.v1

import data.palisade.config
import data.palisade.lib.ancestor_names
import data.palisade.lib.args
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-031",
	"title": "Set-uid or set-gid bit set",
	"description": "chmod with a mode that sets the set-user-id or set-group-id bit (u+s, g+s, +s, =s, or a numeric mode such as 4755 or 2755), or install -m with such a mode; not under a package manager (config: package_managers).",
	"severity": "high",
	"mitre": "T1548.001",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"names": ["chmod", "install"]}],
}

hits contains msg if {
	some mode in modes
	setid(mode)
	not under_package_manager
	msg := concat("", ["set-id mode ", mode, " given ", where, ": ", short_cmdline])
}

# chmod's mode: its first operand that is not an option (`chmod -R u+s x`;
# `chmod -s` would be an option, but it clears the bits).
modes contains mode if {
	"chmod" in names
	operands := [a | some i, a in args; i > 0; not startswith(a, "-")]
	mode := operands[0]
}

# install's -m MODE / --mode=MODE.
modes contains args[i + 1] if {
	"install" in names
	some i, a in args
	a == "-m"
}

modes contains substring(a, 7, -1) if {
	"install" in names
	some a in args
	startswith(a, "--mode=")
}

# Symbolic: a clause that adds or sets `s` (u+s, g+s, +s, ug=rwxs).
setid(mode) if {
	some clause in split(mode, ",")
	regex.match(`^[ugoa]*[+=][rwxXt]*s`, clause)
}

# Numeric: four (or more, zero-led) octal digits, the first with 4 or 2.
setid(mode) if regex.match(`^0*[2-7][0-7][0-7][0-7]$`, mode)

under_package_manager if {
	some n in ancestor_names
	config.package_managers[n]
}
