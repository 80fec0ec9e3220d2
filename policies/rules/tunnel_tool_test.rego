package palisade.rules.tunnel_tool_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.tunnel_tool as rule

test_chisel_client if {
	hits := rule.hits with input as fx.container_exec("/tmp/chisel", ["/tmp/chisel", "client", "203.0.113.7:8000", "R:socks"])
	hits == {"tunnelling tool chisel executed in container web (registry.example.com/shop/web:1.4.2): /tmp/chisel client 203.0.113.7:8000 R:socks"}
}

test_ngrok_on_host if {
	hits := rule.hits with input as fx.host_exec("/usr/local/bin/ngrok", ["ngrok", "http", "8080"])
	count(hits) == 1
}

test_cloudflared_quick_tunnel if {
	hits := rule.hits with input as fx.host_exec("/usr/local/bin/cloudflared", ["cloudflared", "tunnel", "--url", "http://localhost:22"])
	hits == {"tunnelling tool cloudflared executed on the host: cloudflared tunnel --url http://localhost:22"}
}

test_ssh_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/bin/ssh", ["ssh", "deploy@bastion.example.com"])
	count(hits) == 0
}

test_kernel_matches_tunnel_names_everywhere if {
	rule.kernel.scope == "all"
	"chisel" in rule.kernel.exec.names
	"ngrok" in rule.kernel.exec.names
	count(rule.kernel.exec.names) == count(data.palisade.config.tunnel_tools)
}
