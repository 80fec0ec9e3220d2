package palisade.rules.ai_agent_metadata_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.ai_agent_metadata as rule

agent_connect(daddr, dport) := fx.with_ancestors(
	fx.host_connect(daddr, dport),
	["/usr/bin/bash", "/usr/local/bin/aider"],
)

test_agent_reaches_imds if {
	hits := rule.hits with input as agent_connect("169.254.169.254", 80)
	hits == {"AI agent process curl connects to metadata endpoint 169.254.169.254:80 on the host"}
}

test_agent_reaches_other_address_is_not_matched if {
	hits := rule.hits with input as agent_connect("140.82.112.3", 443)
	count(hits) == 0
}

test_system_process_reaching_imds_is_not_matched if {
	hits := rule.hits with input as fx.host_connect("169.254.169.254", 80)
	count(hits) == 0
}
