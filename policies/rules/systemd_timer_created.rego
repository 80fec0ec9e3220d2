# PAL-028: systemd-run creates a transient timer (--on-calendar,
# --on-active, --on-boot, ...): a command systemd runs later or
# repeatedly, as root when root asked, outside any crontab. Host scope in
# practice (containers run no systemd), matched wherever it is seen.
# Timer unit files written to disk are file activity, not this.
package palisade.rules.systemd_timer_created

import rego.v1

import data.palisade.lib.args
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-028",
	"title": "Transient systemd timer created",
	"description": "systemd-run with a timer option (--on-active, --on-boot, --on-startup, --on-unit-active, --on-unit-inactive, --on-calendar, --on-clock-change, --on-timezone-change, --timer-property).",
	"severity": "medium",
	"mitre": "T1053.006",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"names": ["systemd-run"], "substrings": ["--on-", "--timer-property"]}],
}

hits contains msg if {
	"systemd-run" in names
	some i, a in args
	i > 0
	timer_option(a)
	msg := concat("", ["systemd-run creates a timer ", where, ": ", short_cmdline])
}

timer_option(a) if startswith(a, "--on-")

timer_option(a) if startswith(a, "--timer-property")
