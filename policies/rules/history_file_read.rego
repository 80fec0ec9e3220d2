# PAL-071: a shell history file is read by a program other than a shell
# (`cat ~/.bash_history | grep pass`): histories hold passwords typed on
# command lines. Host and container alike. Clearing one is PAL-017.
package palisade.rules.history_file_read

import rego.v1

import data.palisade.lib.args
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-071",
	"title": "Shell history read",
	"description": "cat, grep (egrep, fgrep, rg), less, more, head, tail, strings, awk, sed, cut, sort, base64, xxd, cp, scp or curl given a file named *_history or .history.",
	"severity": "medium",
	"mitre": "T1552.003",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"names": readers, "substrings": ["_history", ".history"]}],
}

readers := {
	"cat": true, "grep": true, "egrep": true, "fgrep": true, "rg": true, "less": true, "more": true,
	"head": true, "tail": true, "strings": true, "awk": true, "gawk": true, "mawk": true, "sed": true,
	"cut": true, "sort": true, "base64": true, "xxd": true, "cp": true, "scp": true, "curl": true,
}

hits contains msg if {
	some n in names
	readers[n]
	files := {a |
		some i, a in args
		i > 0
		history_file(a)
	}
	count(files) > 0
	msg := concat("", [n, " reads ", concat(", ", sort(files)), " ", where, ": ", short_cmdline])
}

history_file(a) if endswith(a, "_history")

history_file(a) if endswith(a, "/.history")

history_file(a) if a == ".history"
