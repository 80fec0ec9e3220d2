# Who is acting: every event gets one actor class, so rules (and exceptions)
# can scope to humans, CI runners, AI agents or workloads.
#
# The class comes from the process, its ancestors (input.process.ancestors,
# nearest parent first, each {"pid", "binary"}) and its container. The lists
# of names are data (palisade/config/data.json, `actors`), not code. First
# match wins:
#
#   ai_agent  the process or an ancestor is an AI agent CLI or runtime: its
#             file name is in `ai_agent_binaries` (claude, codex, aider,
#             cursor-agent, gemini, goose, ...), its path contains one of
#             `ai_agent_path_markers` (e.g. a native install under
#             ~/.local/share/claude/), or it is an interpreter (node, python)
#             whose script argument contains one of `ai_agent_arg_markers`
#             (e.g. node .../@anthropic-ai/claude-code/cli.js).
#   ci        the process or an ancestor is a CI runner (`ci_runner_binaries`:
#             Runner.Worker, gitlab-runner, buildkite-agent, ...), or it is a
#             java process running a Jenkins agent jar (`ci_java_agent_jars`).
#   human     an ancestor is an interactive entry point
#             (`human_entry_binaries`: sshd, sshd-session, login, su, sudo,
#             ...), or the agent marked the event as part of an exec session
#             (`input.exec_session == true`, e.g. `kubectl exec`).
#   workload  the process runs in a container (`input.container.id` is set).
#   system    anything else: host daemons, cron, systemd units, the kernel.
#
# So an AI agent that a human started over ssh is `ai_agent`, and a CI job
# running in a container is `ci`: the most specific, least trusted driver
# wins.
#
# Limits, by design of the event: ancestors carry only their binary, so an
# agent or runner that is a script (node cli.js, java -jar agent.jar) is
# recognised from the process's own arguments, or from an ancestor's `args`
# when the event carries them (ancestor objects may gain `args`; this module
# already reads them).
package palisade.lib.actors

import rego.v1

import data.palisade.config
import data.palisade.lib
import data.palisade.lib.ancestor_binaries
import data.palisade.lib.ancestor_names
import data.palisade.lib.args
import data.palisade.lib.binary
import data.palisade.lib.in_container
import data.palisade.lib.name

cfg := object.get(config, "actors", {})

default actor := "system"

actor := "ai_agent" if {
	is_ai_agent
} else := "ci" if {
	is_ci
} else := "human" if {
	is_human
} else := "workload" if {
	in_container
}

# The names of the process and of its ancestors, and all their paths in
# one string (one substring test per marker instead of one per path).
lineage_names := array.concat([name], ancestor_names)

lineage_paths := concat("\n", array.concat([binary], ancestor_binaries))

# The argument lists known for the process and its ancestors.
lineage_args contains args

lineage_args contains argv if {
	some a in input.process.ancestors
	is_array(a.args)
	argv := [s | some raw in a.args; s := lib.text(raw)]
}

is_ai_agent if {
	some n in lineage_names
	cfg.ai_agent_binaries[n]
}

is_ai_agent if {
	some marker in cfg.ai_agent_path_markers
	contains(lineage_paths, marker)
}

# An interpreter running an agent's script: the script path (the first
# argument after argv[0] that is not an option) names the agent's package.
# The agent's name anywhere else in the arguments (`npm install -g
# @openai/codex`) does not make the process an agent.
is_ai_agent if {
	some argv in lineage_args
	config.interpreters[lib.basename(argv[0])]
	script := [a | some i, a in argv; i > 0; not startswith(a, "-")][0]
	some marker in cfg.ai_agent_arg_markers
	contains(script, marker)
}

is_ci if {
	some n in lineage_names
	cfg.ci_runner_binaries[n]
}

is_ci if {
	some argv in lineage_args
	lib.basename(argv[0]) == "java"
	some a in argv
	lib.basename(a) in cfg.ci_java_agent_jars
}

is_human if {
	some n in ancestor_names
	cfg.human_entry_binaries[n]
}

is_human if input.exec_session == true
