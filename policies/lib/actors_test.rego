package palisade.lib.actors_test

import rego.v1

import data.palisade.lib.actors
import data.palisade.lib.fixtures as fx

exec_under(binary, args, ancestors) := fx.with_ancestors(fx.host_exec(binary, args), ancestors)

# ---------------------------------------------------------------- ai_agent

test_ai_agent_by_ancestor_name if {
	ev := exec_under("/usr/bin/ls", ["ls"], ["/usr/bin/bash", "/usr/local/bin/codex", "/usr/bin/zsh"])
	actors.actor == "ai_agent" with input as ev
}

test_ai_agent_by_native_install_path if {
	# Claude Code's native build lives under a version-named file.
	ev := exec_under("/usr/bin/git", ["git", "diff"], ["/usr/bin/bash", "/home/dev/.local/share/claude/versions/2.0.50"])
	actors.actor == "ai_agent" with input as ev
}

test_ai_agent_is_the_process_itself if {
	ev := fx.host_exec("/home/dev/.local/bin/cursor-agent", ["cursor-agent", "-p", "fix the build"])
	actors.actor == "ai_agent" with input as ev
}

test_ai_agent_node_script if {
	ev := fx.host_exec("/usr/bin/node", ["node", "/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js", "--print", "hi"])
	actors.actor == "ai_agent" with input as ev
}

test_ai_agent_from_ancestor_args if {
	ev := object.union(fx.host_exec("/usr/bin/pip", ["pip", "install", "x"]), {"process": {"ancestors": [
		{"pid": 10, "binary": "/usr/bin/bash"},
		{"pid": 9, "binary": "/usr/bin/python3.12", "args": ["python3", "/home/dev/.venv/bin/aider", "--yes"]},
	]}})
	actors.actor == "ai_agent" with input as ev
}

test_installing_an_agent_is_not_an_agent if {
	ev := exec_under("/usr/bin/node", ["node", "/usr/bin/npm", "install", "-g", "@anthropic-ai/claude-code"], ["/usr/bin/bash", "/usr/sbin/sshd"])
	actors.actor == "human" with input as ev
}

test_ai_agent_wins_over_human_and_workload if {
	ev := fx.with_ancestors(
		fx.container_exec("/usr/bin/ls", ["ls"]),
		["/usr/bin/bash", "/usr/local/bin/gemini", "/usr/bin/bash", "/usr/sbin/sshd"],
	)
	actors.actor == "ai_agent" with input as ev
}

# ---------------------------------------------------------------- ci

test_ci_github_runner if {
	ev := exec_under("/usr/bin/make", ["make", "test"], ["/usr/bin/bash", "/home/runner/actions-runner/bin/Runner.Worker", "/home/runner/actions-runner/bin/Runner.Listener"])
	actors.actor == "ci" with input as ev
}

test_ci_gitlab_runner_in_container if {
	ev := fx.with_ancestors(fx.container_exec("/usr/bin/go", ["go", "build"]), ["/bin/sh", "/usr/bin/gitlab-runner-helper"])
	actors.actor == "ci" with input as ev
}

test_ci_jenkins_agent_jar if {
	ev := fx.host_exec("/usr/lib/jvm/java-17-openjdk-amd64/bin/java", ["java", "-jar", "/home/jenkins/agent.jar", "-url", "https://ci.example.com/"])
	actors.actor == "ci" with input as ev
}

test_ci_wins_over_human if {
	ev := exec_under("/usr/bin/apt-get", ["apt-get", "update"], ["/usr/bin/sudo", "/usr/bin/bash", "/opt/buildkite-agent/bin/buildkite-agent"])
	actors.actor == "ci" with input as ev
}

test_other_java_is_not_ci if {
	ev := fx.host_exec("/usr/bin/java", ["java", "-jar", "/opt/app/app.jar"])
	actors.actor == "system" with input as ev
}

# ---------------------------------------------------------------- human

test_human_over_ssh if {
	ev := exec_under("/usr/bin/vim", ["vim", "/etc/hosts"], ["/usr/bin/bash", "/usr/sbin/sshd-session", "/usr/sbin/sshd"])
	actors.actor == "human" with input as ev
}

test_human_with_sudo if {
	ev := exec_under("/usr/bin/systemctl", ["systemctl", "restart", "nginx"], ["/usr/bin/sudo", "/usr/bin/bash", "/usr/bin/login"])
	actors.actor == "human" with input as ev
}

test_human_exec_session_in_container if {
	ev := object.union(fx.container_exec("/bin/sh", ["sh"]), {"exec_session": true})
	actors.actor == "human" with input as ev
}

test_sshd_itself_is_not_human if {
	ev := exec_under("/usr/sbin/sshd", ["sshd", "-D"], ["/usr/lib/systemd/systemd"])
	actors.actor == "system" with input as ev
}

# ---------------------------------------------------------------- workload, system

test_workload_in_container if {
	actors.actor == "workload" with input as fx.container_exec("/app/server", ["/app/server"])
}

test_system_on_host if {
	actors.actor == "system" with input as fx.host_exec("/usr/sbin/cron", ["cron", "-f"])
}

test_system_for_empty_event if {
	actors.actor == "system" with input as {}
}

test_empty_container_id_is_not_a_container if {
	ev := object.union(fx.host_exec("/usr/bin/ls", ["ls"]), {"container": {"id": ""}})
	actors.actor == "system" with input as ev
}

test_actor_lists_come_from_config if {
	ev := exec_under("/usr/bin/ls", ["ls"], ["/usr/bin/bash", "/opt/acme/bin/acme-agent"])
	actors.actor == "system" with input as ev
	actors.actor == "ai_agent" with input as ev
		with data.palisade.config.actors.ai_agent_binaries as {"acme-agent": true}
}
