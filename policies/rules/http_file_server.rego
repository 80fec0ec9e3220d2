# PAL-035: an ad-hoc web server serves the working directory (`python3 -m
# http.server`, `python -m SimpleHTTPServer`, `php -S`, `ruby -run -e
# httpd`, `busybox httpd`): the quickest way to pull files off a machine
# over plain HTTP, or to stage tools for other machines. Host and
# container alike: real services do not start this way.
package palisade.rules.http_file_server

import rego.v1

import data.palisade.config
import data.palisade.lib.argv0_name
import data.palisade.lib.args
import data.palisade.lib.name
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-035",
	"title": "Ad-hoc HTTP file server started",
	"description": "python -m http.server / SimpleHTTPServer, php -S, ruby -run -e httpd, or busybox/toybox httpd.",
	"severity": "medium",
	"mitre": "T1048.003",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [
		{"names": config.interpreters, "substrings": ["http.server", "SimpleHTTPServer", "-S", "httpd"]},
		{"names": config.multicall_binaries, "substrings": ["httpd"]},
	],
}

hits contains msg if {
	some n in names
	config.interpreters[n]
	some i, a in args
	serves(n, a, args[i + 1])
	msg := concat("", ["ad-hoc HTTP file server started ", where, ": ", short_cmdline])
}

hits contains msg if {
	config.multicall_binaries[name]
	argv0_name == "httpd"
	msg := concat("", ["ad-hoc HTTP file server started ", where, ": ", short_cmdline])
}

serves(n, "-m", module) if {
	startswith(n, "python")
	module in {"http.server", "SimpleHTTPServer"}
}

serves("php", "-S", _) if true

serves("ruby", "-e", code) if code == "httpd"
