# Which exceptions are malformed: the one definition, read by main.rego (a
# malformed exception never applies) and by `palisade policy check`, which
# evaluates data.palisade.main.invalid_exceptions at load and rejects the
# bundle with the first problem at its file:line. Each problem reads after
# "exception `<id>` ".
#
# (Each check reads the field with object.get, so the value passed to the
# check under `not` is always defined: README.md, "regorus workarounds".)
package palisade.lib.exceptions

import rego.v1

import data.palisade.lib.workload

# The exceptions (palisade/exceptions/data.json); none unless they are an array.
default listed := []

listed := data.palisade.exceptions if is_array(data.palisade.exceptions)

# {index, id, problem} for each problem of each malformed exception.
invalid contains {"index": i, "id": id_of(listed[i]), "problem": p[1]} if {
	some p in problems
	i := p[0]
}

# The indexes of the malformed exceptions.
invalid_index contains p[0] if some p in problems

id_of(ex) := ex.id if {
	is_string(ex.id)
} else := ""

problems contains [i, "is not an object"] if {
	some i, ex in listed
	not is_object(ex)
}

problems contains [i, concat("", ["has no `", field, "`: every exception needs an owner, a reason and an expiry"])] if {
	some i, ex in listed
	is_object(ex)
	some field in ["id", "owner", "reason", "expires"]
	not nonempty(object.get(ex, field, null))
}

problems contains [i, concat("", ["expires `", expires, "`, which is not an RFC 3339 time"])] if {
	some i, ex in listed
	is_object(ex)
	expires := object.get(ex, "expires", null)
	nonempty(expires)
	not rfc3339(expires)
}

problems contains [i, "must list the `rules` it covers (a non-empty array of rule ids)"] if {
	some i, ex in listed
	is_object(ex)
	not rule_list(object.get(ex, "rules", null))
}

problems contains [i, concat("", ["needs a `scope` object (keys: ", known_keys, ")"])] if {
	some i, ex in listed
	is_object(ex)
	not is_object(object.get(ex, "scope", null))
}

problems contains [i, concat("", ["has an unknown scope key `", key, "` (one of ", known_keys, "); it would never match"])] if {
	some i, ex in listed
	is_object(ex)
	scope := object.get(ex, "scope", null)
	is_object(scope)
	some key, _ in scope
	not key in workload.scope_keys
}

known_keys := concat(", ", sort(workload.scope_keys))

nonempty(s) if {
	is_string(s)
	trim_space(s) != ""
}

# An RFC 3339 time, as time.parse_rfc3339_ns reads it.
rfc3339(s) if {
	is_string(s)
	regex.match(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$`, s)
}

rule_list(rules) if {
	is_array(rules)
	count(rules) > 0
	every r in rules {
		nonempty(r)
	}
}

# ---------------------------------------------------------------- guardrails
# What the policy owners accept of a well-formed exception (config
# `exception_guardrails`, each key optional):
#   max_days       how far ahead an exception may expire (default 90)
#   require_scope  an empty scope relaxes the rule for every workload on
#                  every node: refused unless the exception says
#                  `"everywhere": true` (default true)
#   owner_pattern  what an owner must look like (default: a mail address,
#                  `team:<id>`/`group:<id>`, or a GitHub `@org/team`)
#   warn_days      expiring within this many days is worth a warning
#                  (default 14)
# They depend on the time, so they never enter a decision: `palisade policy
# check` and the agent's load evaluate `violations` (which reject the
# bundle, first problem at its file:line) and `warnings` (printed).
default_guardrails := {
	"max_days": 90,
	"require_scope": true,
	"owner_pattern": `^([^@\s]+@[^@\s]+\.[^@\s]+|(team|group):[A-Za-z0-9._/-]+|@[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)$`,
	"warn_days": 14,
}

guardrails := object.union(default_guardrails, object.get(data.palisade.config, "exception_guardrails", {}))

violations := violations_at(time.now_ns())

warnings := warnings_at(time.now_ns())

day_ns := ((24 * 60) * 60) * 1000000000

# A break-glass order the agent added (`palisade break-glass`): bounded by
# config.break_glass instead, and minutes long by design.
break_glass(ex) if object.get(ex, "break_glass", false) == true

# {index, id, problem} of each well-formed exception the guardrails refuse,
# `now_ns` being the time of the check.
violations_at(now_ns) := {v |
	some i, ex in listed
	not invalid_index[i]
	not break_glass(ex)
	some problem in guardrail_problems(ex, now_ns)
	v := {"index": i, "id": id_of(ex), "problem": problem}
}

# {index, id, warning} of each well-formed exception expiring soon.
warnings_at(now_ns) := {w |
	some i, ex in listed
	not invalid_index[i]
	not break_glass(ex)
	left := time.parse_rfc3339_ns(ex.expires) - now_ns
	left >= 0
	left <= guardrails.warn_days * day_ns
	days := floor(left / day_ns)
	w := {"index": i, "id": id_of(ex), "warning": sprintf("expires in %d days (%s)", [days, ex.expires])}
}

guardrail_problems(ex, now_ns) := {p |
	some p in [
		horizon_problem(ex, now_ns),
		scope_problem(ex),
		owner_problem(ex),
	]
	p != ""
}

horizon_problem(ex, now_ns) := sprintf("expires %s, more than %d days ahead (exception_guardrails.max_days): renew it when it ends instead", [ex.expires, guardrails.max_days]) if {
	time.parse_rfc3339_ns(ex.expires) - now_ns > guardrails.max_days * day_ns
} else := ""

scope_problem(ex) := "has an empty scope, which relaxes its rules for every workload on every node: name the workloads, or say `\"everywhere\": true`" if {
	guardrails.require_scope
	count(ex.scope) == 0
	not object.get(ex, "everywhere", false) == true
} else := ""

owner_problem(ex) := sprintf("has owner `%s`, which is neither a mail address nor a team id (exception_guardrails.owner_pattern)", [ex.owner]) if {
	not regex.match(guardrails.owner_pattern, ex.owner)
} else := ""
