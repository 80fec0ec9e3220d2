# PAL-064: a search of the file system for cloud and tool credentials by
# name (`find / -name credentials -path '*.aws*'`, `.netrc`,
# `.git-credentials`, gcloud's and Azure's token caches). Host and
# container alike; nothing on a node looks for them by name.
package palisade.rules.cloud_credential_search

import rego.v1

import data.palisade.lib.args
import data.palisade.lib.names
import data.palisade.lib.short_cmdline
import data.palisade.lib.where

meta := {
	"id": "PAL-064",
	"title": "Search for credential files",
	"description": "find, locate (mlocate, plocate) or fd looking for cloud or tool credential files: in .aws, .azure, .config/gcloud, .oci, .kube, or named .netrc, .git-credentials, credentials.db, access_tokens.db, accessTokens.json, msal_token_cache.json.",
	"severity": "medium",
	"mitre": "T1552.001",
	"action": "alert",
	"kinds": ["process_exec"],
	"triggers": [{"names": searchers, "substrings": markers}],
}

searchers := {"find": true, "locate": true, "mlocate": true, "plocate": true, "fd": true, "fdfind": true}

markers := [
	".aws", ".azure", "gcloud", ".oci", ".kube", ".netrc", ".git-credentials",
	"credentials.db", "access_tokens.db", "accessTokens.json", "msal_token_cache.json",
]

hits contains msg if {
	some n in names
	searchers[n]
	found := {m |
		some i, a in args
		i > 0
		some m in markers
		contains(a, m)
	}
	count(found) > 0
	msg := concat("", [n, " searches for credential files (", concat(", ", sort(found)), ") ", where, ": ", short_cmdline])
}
