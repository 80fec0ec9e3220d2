# PAL-009: container escape tooling inside a container: namespace tools
# (nsenter, unshare), escape kits (cdk, deepce), arguments reaching into the
# host through PID 1 or kernel hooks (/proc/1/root, release_agent,
# core_pattern), or mounting a host block device or a cgroup hierarchy.
#
# Kernel: the escape tools (config escape_tools) are denied at exec in
# containers by file name, whatever their arguments, as the first hit
# matches them. Arguments naming host paths and mounts of host devices or
# cgroups are matched in userspace only, after the exec.
package palisade.rules.container_escape

import rego.v1

import data.palisade.config
import data.palisade.lib
import data.palisade.lib.args
import data.palisade.lib.in_container
import data.palisade.lib.name
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-009",
	"title": "Container escape attempt",
	"description": "In a container: nsenter/unshare/cdk/deepce/botb/amicontained executed (config: escape_tools), an argument naming /proc/1/root, /proc/1/ns/, release_agent, core_pattern or uevent_helper (config: escape_arg_markers), or mount of a host block device or a cgroup filesystem.",
	"severity": "critical",
	"mitre": "T1611",
	"action": "block",
	"kinds": ["process_exec"],
	"triggers": [
		{"container": true, "names": config.escape_tools},
		{"container": true, "substrings": config.escape_arg_markers},
		# mount given a host block device or a cgroup filesystem.
		{"container": true, "names": ["mount"], "substrings": array.concat(config.host_block_device_prefixes, ["cgroup"])},
	],
}

hits contains msg if {
	in_container
	found := {n | some n in names; config.escape_tools[n]}
	count(found) > 0
	msg := concat("", ["escape tool ", concat("/", sort(found)), " executed ", where, ": ", short_cmdline])
}

hits contains msg if {
	in_container
	found := lib.markers_in_cmdline(config.escape_arg_markers)
	count(found) > 0
	msg := concat("", [name, " reaches for host paths (", concat(", ", sort(found)), ") ", where, ": ", short_cmdline])
}

hits contains msg if {
	in_container
	"mount" in names
	mounts := {a | some i, a in args; i > 0; host_mount_arg(a)}
	count(mounts) > 0
	msg := concat("", ["mount of ", concat(", ", sort(mounts)), " ", where, ": ", short_cmdline])
}

host_mount_arg(a) if strings.any_prefix_match(a, config.host_block_device_prefixes)

host_mount_arg(a) if a in {"cgroup", "cgroup2", "-tcgroup", "-tcgroup2", "--types=cgroup", "--types=cgroup2"}

# The kernel's part: every name in config escape_tools, in containers.
kernel := {
	"scope": "containers",
	"exec": {"names": [n | some n, _ in config.escape_tools; config.escape_tools[n]]},
}
