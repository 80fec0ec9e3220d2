# PAL-025: a program starts with the dynamic loader told to load extra code
# first: LD_PRELOAD or LD_AUDIT in the environment of the new image
# (captured at exec: config env_capture) naming a library outside the
# system library directories. That is how a userland rootkit, a credential
# sniffer or a hook that hides files is injected into every program a
# shell starts. Libraries preloaded from the system directories (jemalloc,
# tcmalloc, libfakeroot in package builds) are what legitimate images and
# tools do, so they are not matched; a bare library name (`libx.so`, looked
# up in those directories) neither. Host and container alike.
#
# Not seen: a variable past the kernel's environment window (the event then
# says env_truncated), and /etc/ld.so.preload (a file, not the environment).
package palisade.rules.loader_hijack

import rego.v1

import data.palisade.config
import data.palisade.lib.env
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-025",
	"title": "Dynamic loader hijack (LD_PRELOAD / LD_AUDIT)",
	"description": "A program executed with LD_PRELOAD or LD_AUDIT (config: loader_hijack_vars) naming a library by a path outside the system library directories (config: loader_trusted_lib_dirs).",
	"severity": "high",
	"mitre": "T1574.006",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"env": config.loader_hijack_vars}],
}

hits contains msg if {
	some var, value in env
	config.loader_hijack_vars[var]
	# The loader splits the list on colons and spaces.
	libs := {lib | some part in split(value, ":"); some lib in split(part, " "); untrusted(lib)}
	count(libs) > 0
	msg := concat("", [var, "=", value, " loads ", concat(", ", sort(libs)), " into ", short_cmdline, " ", where])
}

# A library given by a path (a bare name is looked up in the system
# directories) that lies outside them; `..` is not trusted anywhere.
untrusted(lib) if {
	contains(lib, "/")
	not strings.any_prefix_match(lib, config.loader_trusted_lib_dirs)
}

untrusted(lib) if contains(lib, "..")
