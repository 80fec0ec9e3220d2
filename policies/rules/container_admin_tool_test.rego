package palisade.rules.container_admin_tool_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.container_admin_tool as rule

test_kubectl_in_container if {
	hits := rule.hits with input as fx.container_exec("/usr/local/bin/kubectl", ["kubectl", "get", "secrets", "-A"])
	hits == {"kubectl executed in container web (registry.example.com/shop/web:1.4.2): kubectl get secrets -A"}
}

test_crictl_in_container if {
	hits := rule.hits with input as fx.container_exec("/usr/bin/crictl", ["crictl", "ps"])
	count(hits) == 1
}

test_kubectl_on_host_is_not_matched if {
	hits := rule.hits with input as fx.host_exec("/usr/local/bin/kubectl", ["kubectl", "get", "pods"])
	count(hits) == 0
}

test_kernel_matches_the_same_names_in_containers if {
	rule.kernel.scope == "containers"
	"kubectl" in rule.kernel.exec.names
	"crictl" in rule.kernel.exec.names
	count(rule.kernel.exec.names) == count(data.palisade.config.container_admin_tools)
}
