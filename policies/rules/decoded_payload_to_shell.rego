# PAL-018: an encoded payload is decoded and run in one go: `echo ... |
# base64 -d | sh`, `eval "$(... | base64 -d)"`, `xxd -r -p | bash`, or an
# interpreter one-liner that decodes base64 and executes the result. The
# encoding exists to hide the command from reviewers and scanners.
package palisade.rules.decoded_payload_to_shell

import rego.v1

import data.palisade.config
import data.palisade.lib.cmdline
import data.palisade.lib.names
import data.palisade.lib.shell_command
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-018",
	"title": "Decoded payload executed",
	"description": "A shell -c script piping base64/xxd/openssl-decoded data into an interpreter or eval/$(...), or a python/perl/ruby/php/node one-liner that decodes base64 and executes it.",
	"severity": "high",
	"mitre": "T1140",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [
		# A shell -c script naming a decoder.
		{"names": config.shells, "substrings": ["base64", "base32", "xxd", "uudecode"]},
		# An interpreter one-liner naming a decoder (read lower-cased).
		{"names": config.interpreters, "lower_substrings": ["base64", "b64", "decode64", "atob(", "unpack("]},
	],
}

decoder := `(base64[[:space:]]+(-[a-zA-Z]*d|--decode)|openssl[[:space:]]+(enc[[:space:]]+)?-?(base64|a)[[:space:]]+-d|xxd[[:space:]]+(-[a-z]+[[:space:]]+)*-r|uudecode|base32[[:space:]]+(-d|--decode))`

# The shell script names a decoder (the regexes below only run then).
decoding if {
	some tool in ["base64", "base32", "xxd", "uudecode"]
	contains(shell_command, tool)
}

hits contains msg if {
	decoding
	regex.match(
		concat("", [decoder, `[^;&]*\|[[:space:]]*(sudo[[:space:]]+)?([^[:space:]]*/)?((ba|da|z|k|a)?sh|python[0-9.]*|perl|ruby|php|node)([^A-Za-z0-9_]|$)`]),
		shell_command,
	)
	msg := concat("", ["decoded data piped into an interpreter ", where, ": ", short_cmdline])
}

hits contains msg if {
	decoding
	regex.match(concat("", [`((^|[^A-Za-z0-9_])eval([^A-Za-z0-9_]|$)|\$\(|`, "`", `)[^;]*`, decoder]), shell_command)
	msg := concat("", ["decoded data evaluated by the shell ", where, ": ", short_cmdline])
}

hits contains msg if {
	found := {n | some n in names; config.interpreters[n]}
	count(found) > 0
	code := lower(cmdline)
	some word in ["base64", "b64", "decode64", "atob(", "unpack("]
	contains(code, word)
	regex.match(`(b64decode|base64_decode|decode_base64|decode64|unpack\([[:space:]]*['"]m|buffer\.from\([^)]*base64|atob\()`, code)
	regex.match(`(^|[^a-z0-9_])(exec|eval|system|popen|subprocess|passthru|shell_exec|spawn|execsync)([^a-z0-9_]|$)`, code)
	msg := concat("", [concat("/", sort(found)), " decodes and executes a payload ", where, ": ", short_cmdline])
}
