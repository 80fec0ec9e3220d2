# PAL-063: a search of the file system for SSH private keys by name
# (`find / -name id_rsa`, `locate id_ed25519`): the step before copying
# them (reading one is PAL-041). Host and container alike; nothing on a
# node looks for other users' keys by name.
package palisade.rules.private_key_search

import rego.v1

import data.palisade.lib.args
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-063",
	"title": "Search for SSH private keys",
	"description": "find, locate (mlocate, plocate) or fd looking for id_rsa, id_dsa, id_ecdsa or id_ed25519 by name.",
	"severity": "medium",
	"mitre": "T1552.004",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"names": searchers, "substrings": ["id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"]}],
}

searchers := {"find": true, "locate": true, "mlocate": true, "plocate": true, "fd": true, "fdfind": true}

hits contains msg if {
	some n in names
	searchers[n]
	found := {a |
		some i, a in args
		i > 0
		some key in ["id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"]
		contains(a, key)
		not endswith(a, ".pub")
	}
	count(found) > 0
	msg := concat("", [n, " searches for private keys (", concat(", ", sort(found)), ") ", where, ": ", short_cmdline])
}
