# PAL-061: a kernel module is loaded from a file outside the kernel's module
# tree (`insmod /tmp/x.ko`): modules a node needs come from packages under
# /lib/modules; one built or dropped elsewhere is a rootkit's way in. Host
# and container alike (in a container PAL-020 reports any module tool).
package palisade.rules.kernel_module_file_loaded

import rego.v1

import data.palisade.config
import data.palisade.lib.args
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-061",
	"title": "Kernel module loaded from outside /lib/modules",
	"description": "insmod or modprobe (config: kernel_module_tools) given a module file (.ko, .ko.xz, .ko.zst, .ko.gz) that is not under /lib/modules/ or /usr/lib/modules/.",
	"severity": "high",
	"mitre": "T1547.006",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"names": config.kernel_module_tools, "substrings": [".ko"]}],
}

hits contains msg if {
	some n in names
	config.kernel_module_tools[n]
	files := {a |
		some i, a in args
		i > 0
		module_file(a)
		not strings.any_prefix_match(a, ["/lib/modules/", "/usr/lib/modules/"])
	}
	count(files) > 0
	msg := concat("", ["kernel module loaded from ", concat(", ", sort(files)), " ", where, ": ", short_cmdline])
}

module_file(a) if endswith(a, ".ko")

module_file(a) if {
	some ext in [".ko.xz", ".ko.zst", ".ko.gz"]
	endswith(a, ext)
}
