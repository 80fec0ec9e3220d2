# The decision for one event (`input`): the bundle's entry point,
# data.palisade.main.decision. Palisade and OPA evaluate this same Rego, so
# `opa eval -b policies -I 'data.palisade.main.decision'` gives the answer
# `palisade policy eval policies` gives.
#
# The decision is always defined:
#
#   matched      rules that matched and are not suppressed by an exception,
#                sorted by rule id then message:
#                {rule, title, severity, mitre, action, mode, message}
#   suppressed   exceptions used, sorted by rule id then exception id:
#                {rule, exception, owner, reason, expires}
#   action       the strongest action (kill > block > alert) among matched
#                rules in enforce mode; "alert" when rules matched but none
#                enforces; "allow" when nothing matched
#   would_block  a matched rule in audit mode has action block or kill
#   mode         the global mode (config `mode`)
#   actor        who is acting (data.palisade.actor)
#
# Rules are the modules `data.palisade.rules.<name>`; each defines `meta`
# (id, title, description, severity, mitre, action, kinds) and `hits` (a set
# of messages). Only rules whose `meta.kinds` holds `input.kind` are
# considered, so an event never meets a rule written for another kind (the
# agent goes further and compiles one program per kind).
#
# Time: an exception's expiry is compared with the event's own `time`, never
# the clock, so replaying recorded events gives the same decisions, in
# Palisade and in OPA alike.
package palisade.main

import rego.v1

import data.palisade.lib.actors.actor
import data.palisade.lib.binary
import data.palisade.lib.exceptions as exception_checks
import data.palisade.lib.workload
import data.palisade.lib.triggers

# METADATA
# description: The decision for one event (see the top of this file).
# entrypoint: true
decision := {
	"matched": matched,
	"suppressed": suppressed,
	"action": action,
	"would_block": would_block,
	"mode": global_mode,
	"actor": actor,
}

# ---------------------------------------------------------------- modes

# The global mode: config `mode`, "audit" unless it says "enforce".
default global_mode := "audit"

global_mode := "enforce" if data.palisade.config.mode == "enforce"

# A rule's mode: its entry in config `rule_modes` ("audit", "enforce", or
# "off" to disable the rule), else the global mode.
rule_mode(id) := m if {
	m := data.palisade.config.rule_modes[id]
	m in {"audit", "enforce", "off"}
} else := global_mode

# ---------------------------------------------------------------- rules

# Names of the rule modules (data.palisade.rules.<name>) for this event's kind.
# Each reference into data.palisade.rules[name] stops at `meta` or `hits`
# and is bound to a variable before going deeper (regorus: see README.md,
# "regorus workarounds").
#
# A rule is considered only for the events its `meta.triggers` match (see
# lib/triggers.rego): the cheap gate that lets Palisade skip the Rego of every
# rule an event cannot trigger.
rules_for_kind contains name if {
	some name
	meta := data.palisade.rules[name].meta
	input.kind in meta.kinds
	triggers.triggered(meta)
}

# Every hit of a rule for this kind that is not "off": [rule id, message].
hits contains [meta.id, msg] if {
	some name in rules_for_kind
	meta := data.palisade.rules[name].meta
	rule_mode(meta.id) != "off"
	rule_hits := data.palisade.rules[name].hits
	some msg in rule_hits
	is_string(msg)
}

# METADATA
# description: >-
#   The ids of the rules this event triggers (whatever their mode): checked
#   at load against Palisade's native trigger test.
# entrypoint: true
triggered_rules contains meta.id if {
	some name in rules_for_kind
	meta := data.palisade.rules[name].meta
}

# METADATA
# description: >-
#   Ids of rules of this kind that would hit if shown the event but whose
#   triggers it does not match: triggers narrower than the rule, which
#   `palisade policy check` rejects on the sample events.
# entrypoint: true
untriggered_hits contains meta.id if {
	some name
	meta := data.palisade.rules[name].meta
	input.kind in meta.kinds
	not triggers.triggered(meta)
	rule_hits := data.palisade.rules[name].hits
	count(rule_hits) > 0
}

# Rule metadata by rule id, for the rules of this kind.
metas[meta.id] := meta if {
	some name in rules_for_kind
	meta := data.palisade.rules[name].meta
}

# ---------------------------------------------------------------- exceptions

# The exceptions (palisade/exceptions/data.json): data, each with an owner, a reason and
# an expiry. See README.md.
default exceptions := []

exceptions := data.palisade.exceptions if is_array(data.palisade.exceptions)

# [rule id, exception id, index] for every exception that applies to a rule
# that hit: it covers the rule, is well formed, its scope matches the event,
# and the event happened before the exception expired.
applied contains [id, ex.id, i] if {
	some id in {h[0] | some h in hits}
	some i, ex in exceptions
	id in ex.rules
	# The scope before the validity checks: those run over every exception
	# (an RFC 3339 regex each) and were a quarter of an event's evaluation
	# when the scope did not match anyway.
	is_object(ex.scope)
	scope_matches(ex.scope)
	not exception_checks.invalid_index[i]
	event_ns < time.parse_rfc3339_ns(ex.expires)
}

# The event's time in ns since the epoch. Undefined for an event without a
# valid `time`: no exception applies to it.
event_ns := time.parse_rfc3339_ns(input.time) if exception_checks.rfc3339(input.time)

suppressed_rules := {a[0] | some a in applied}

scope_matches(scope) if {
	every key, want in scope {
		scope_key_matches(key, want)
	}
}

scope_key_matches(key, want) if {
	key == "binary"
	binary == want
}

scope_key_matches(key, want) if {
	key == "binary_prefix"
	is_string(want)
	startswith(binary, want)
}

# The workload keys (image, image_prefix, namespace, pod_labels,
# container_id) mean the same here and in kernel scopes: lib/workload.rego.
scope_key_matches(key, want) if {
	key in workload.keys
	workload.key_matches(key, want)
}

scope_key_matches(key, want) if {
	key == "actor"
	actor == want
}

# METADATA
# description: >-
#   Malformed exceptions never apply (lib/exceptions.rego says which).
#   `palisade policy check` evaluates this at load and rejects a bundle
#   holding one; for OPA users, it lists them: {index, id, problem}.
# entrypoint: true
invalid_exceptions := exception_checks.invalid

# What the policy owners accept of exceptions (config exception_guardrails,
# lib/exceptions.rego): `palisade policy check` and the agent's load reject
# a bundle with a violation and print the warnings. Both depend on the time
# of the check, never on an event.
exception_violations := exception_checks.violations

exception_warnings := exception_checks.warnings

# ---------------------------------------------------------------- outcome

matched := [entry |
	some h in sort([hit | some hit in hits; not suppressed_rules[hit[0]]])
	meta := metas[h[0]]
	entry := {
		"rule": h[0],
		"title": meta.title,
		"severity": meta.severity,
		"mitre": meta.mitre,
		"action": meta.action,
		"mode": rule_mode(h[0]),
		"message": h[1],
	}
]

suppressed := [entry |
	some a in sort([x | some x in applied])
	ex := exceptions[a[2]]
	entry := {
		"rule": a[0],
		"exception": a[1],
		"owner": ex.owner,
		"reason": ex.reason,
		"expires": ex.expires,
	}
]

# The actions, weakest first: kill > block > alert; levels[0] is "allow".
# The agent's own order (agent/src/policy/decision.rs, `Action`) is this
# one; its tests compare the two.
levels := ["allow", "alert", "block", "kill"]

strength[a] := i if some i, a in levels

default action_level := 0

action_level := max(array.concat([1], [strength[m.action] | some m in matched; m.mode == "enforce"])) if {
	count(matched) > 0
}

action := levels[action_level]

would_block := count([m | some m in matched; m.mode == "audit"; m.action in {"block", "kill"}]) > 0
