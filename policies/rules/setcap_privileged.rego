# PAL-060: a file is given a capability that makes it a root equivalent
# (setcap cap_setuid+ep, cap_sys_admin, ...): like a set-uid bit (PAL-031)
# but invisible to `find -perm -4000`. Host and container alike, except
# under a package manager (a package's own helper, ping's cap_net_raw).
package palisade.rules.setcap_privileged

import rego.v1

import data.palisade.config
import data.palisade.lib.ancestor_names
import data.palisade.lib.args
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-060",
	"title": "Privileged capability given to a file",
	"description": "setcap granting a capability that amounts to root (cap_setuid, cap_setgid, cap_sys_admin, cap_sys_ptrace, cap_sys_module, cap_dac_override, cap_dac_read_search, cap_chown, cap_fowner), not under a package manager (config: package_managers).",
	"severity": "high",
	"mitre": "T1548.001",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"names": ["setcap"]}],
}

root_equivalent := {
	"cap_setuid", "cap_setgid", "cap_sys_admin", "cap_sys_ptrace", "cap_sys_module",
	"cap_dac_override", "cap_dac_read_search", "cap_chown", "cap_fowner", "all",
}

hits contains msg if {
	"setcap" in names
	found := {c |
		some i, a in args
		i > 0
		not startswith(a, "-")
		some clause in split(lower(a), " ")
		regex.match(`[+=][a-z]*[ep]`, clause)
		some c in split(split(split(clause, "+")[0], "=")[0], ",")
		root_equivalent[c]
	}
	count(found) > 0
	not under_package_manager
	msg := concat("", ["setcap grants ", concat(", ", sort(found)), " ", where, ": ", short_cmdline])
}

under_package_manager if {
	some n in ancestor_names
	config.package_managers[n]
}
