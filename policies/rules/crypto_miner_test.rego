package palisade.rules.crypto_miner_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.crypto_miner as rule

test_xmrig_binary if {
	hits := rule.hits with input as fx.container_exec("/opt/xmrig", ["xmrig", "-c", "config.json"])
	hits == {"miner xmrig executed in container web (registry.example.com/shop/web:1.4.2): xmrig -c config.json"}
}

test_renamed_miner_with_stratum_url if {
	hits := rule.hits with input as fx.host_exec("/var/tmp/.cache/kswapd0", ["kswapd0", "-o", "stratum+tcp://203.0.113.7:3333", "-u", "wallet"])
	count(hits) == 1
}

test_pool_domain_after_option if {
	hits := rule.hits with input as fx.host_exec("/var/tmp/.cache/sysupdate", ["sysupdate", "-o", "pool.supportxmr.com:443", "--tls"])
	count(hits) == 1
}

test_pool_domain_inline_option if {
	hits := rule.hits with input as fx.host_exec("/var/tmp/.cache/sysupdate", ["sysupdate", "--url=gulf.moneroocean.stream:10128"])
	count(hits) == 1
}

test_grep_for_pool_urls_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/grep", ["grep", "-r", "stratum+tcp://", "/var/log"])
	count(hits) == 0
}

test_ordinary_process_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/ssh", ["ssh", "-o", "StrictHostKeyChecking=no", "host"])
	count(hits) == 0
}

test_kernel_denies_miner_names_everywhere if {
	rule.kernel.scope == "all"
	"xmrig" in rule.kernel.exec.names
	"kinsing" in rule.kernel.exec.names
	count(rule.kernel.exec.names) == count(data.palisade.config.miner_binaries)
}
