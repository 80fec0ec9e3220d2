package palisade.rules.cloud_credential_search_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.cloud_credential_search as rule

test_aws_credentials if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/find", ["find", "//.aws", "-name", "credentials", "-type", "f"])
	hits == {"find searches for credential files (.aws) on the host: find //.aws -name credentials -type f"}
}

test_netrc_and_token_caches if {
	count(rule.hits) == 1 with input as fx.container_exec("/usr/bin/find", ["find", "/home", "-type", "f", "-name", ".netrc"])
	count(rule.hits) == 1 with input as fx.host_exec("/usr/bin/find", ["find", "//.azure", "-name", "msal_token_cache.json"])
}

test_ordinary_finds_are_not_matched if {
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/find", ["find", ".", "-name", "*.rs"])
	count(rule.hits) == 0 with input as fx.host_exec("/usr/bin/aws", ["aws", "s3", "ls"])
}
