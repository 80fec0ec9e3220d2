# PAL-066: a local file (or a POST body) is sent out with curl or wget:
# `curl -F file=@/etc/passwd`, `curl -T x`, `curl --data-binary @x`,
# `wget --post-file=x`, `wget --post-data=...`. Exfiltration over the web
# protocols every egress allows. Host and container alike; low severity:
# CI jobs upload artifacts this way (an exception with an owner).
package palisade.rules.http_upload

import rego.v1

import data.palisade.lib.args
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-066",
	"title": "Data uploaded with curl or wget",
	"description": "curl with a form field or body read from a file (-F/--form x=@file or <file, -d/--data/--data-binary/--data-urlencode @file) or an upload (-T/--upload-file); wget with --post-file, --body-file or --post-data.",
	"severity": "low",
	"mitre": "T1048",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [
		{"names": ["curl"], "substrings": ["@", "<", "-T", "--upload-file"]},
		{"names": ["wget"], "substrings": ["--post-", "--body-file"]},
	],
}

hits contains msg if {
	"curl" in names
	some i, a in args
	i > 0
	curl_upload(a, next_arg(i))
	msg := concat("", ["curl uploads data (", a, ") ", where, ": ", short_cmdline])
}

hits contains msg if {
	"wget" in names
	some i, a in args
	i > 0
	some opt in ["--post-file", "--body-file", "--post-data"]
	startswith(a, opt)
	msg := concat("", ["wget uploads data (", opt, ") ", where, ": ", short_cmdline])
}

next_arg(i) := args[i + 1] if i + 1 < count(args)

next_arg(i) := "" if i + 1 >= count(args)

curl_upload(a, _) if a in {"-T", "--upload-file"}

curl_upload(a, _) if startswith(a, "--upload-file=")

# -F name=@file, -F name=<file (the value in the next argument or joined).
curl_upload(a, next) if {
	a in {"-F", "--form"}
	regex.match(`^[^=]*=[@<]`, next)
}

curl_upload(a, _) if regex.match(`^(-F|--form=)[^=]*=[@<]`, a)

# -d @file, --data-binary @file (`@-`, stdin, too).
curl_upload(a, next) if {
	a in {"-d", "--data", "--data-binary", "--data-ascii", "--data-urlencode"}
	startswith(next, "@")
}

curl_upload(a, _) if regex.match(`^(-d@|--data(-binary|-ascii|-urlencode)?=@)`, a)
