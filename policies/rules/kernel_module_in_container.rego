# PAL-020: a container loads or unloads a kernel module (insmod, modprobe,
# rmmod). A module is code in the host kernel: the deepest persistence and
# a complete escape. Node components that need modules (kube-proxy in IPVS
# mode, some CNIs) get an exception scoped to their image or namespace.
#
# Not matched in the kernel: insmod, modprobe and rmmod are usually
# symlinks to kmod (or busybox), and the kernel matches the file's own name
# after symlinks: `kmod`, which lsmod and modinfo are as well.
package palisade.rules.kernel_module_in_container

import rego.v1

import data.palisade.config
import data.palisade.lib.in_container
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-020",
	"title": "Kernel module loaded from a container",
	"description": "insmod, modprobe or rmmod executed inside a container (config: kernel_module_tools).",
	"severity": "critical",
	"mitre": "T1547.006",
	"action": "block",
	"kinds": ["process_exec"],
	"triggers": [{"container": true, "names": config.kernel_module_tools}],
}

hits contains msg if {
	in_container
	found := {n | some n in names; config.kernel_module_tools[n]}
	count(found) > 0
	msg := concat("", [concat("/", sort(found)), " executed ", where, ": ", short_cmdline])
}


