package palisade.rules.ai_agent_package_manager_test

import rego.v1

import data.palisade.lib.fixtures as fx
import data.palisade.rules.ai_agent_package_manager as rule

test_pip_install_under_claude if {
	ev := fx.with_ancestors(
		fx.host_exec("/usr/bin/pip3", ["pip3", "install", "reqeusts"]),
		["/usr/bin/bash", "/home/dev/.local/share/claude/versions/2.0.50", "/usr/bin/zsh", "/usr/sbin/sshd"],
	)
	hits := rule.hits with input as ev
	hits == {"AI agent runs pip3 install on the host: pip3 install reqeusts"}
}

test_npm_install_under_codex if {
	ev := fx.with_ancestors(
		fx.host_exec("/usr/bin/npm", ["npm", "install", "left-pad"]),
		["/usr/bin/bash", "/usr/lib/node_modules/@openai/codex/vendor/x86_64-unknown-linux-musl/codex/codex"],
	)
	hits := rule.hits with input as ev
	count(hits) == 1
}

test_human_install_is_not_matched if {
	ev := fx.with_ancestors(
		fx.host_exec("/usr/bin/pip3", ["pip3", "install", "requests"]),
		["/usr/bin/bash", "/usr/sbin/sshd"],
	)
	hits := rule.hits with input as ev
	count(hits) == 0
}

test_agent_running_tests_is_not_matched if {
	ev := fx.with_ancestors(
		fx.host_exec("/usr/bin/npm", ["npm", "test"]),
		["/usr/bin/bash", "/usr/local/bin/claude"],
	)
	hits := rule.hits with input as ev
	count(hits) == 0
}
