# What the agent compiles into the kernel for one workload (a cgroup), from
# the rules' `kernel` sections and the exceptions: not part of any decision.
#
# `input` is a workload (see lib/workload.rego) and the time. For every
# kernel rule that is not off and whose `kernel.scope` selects the workload,
# `rules_for_workload[id]` lists the unexpired exceptions that carve the
# rule out for it: the kernel then reports the rule's matches there instead
# of denying them, and everywhere else it still denies.
package palisade.kernel

import rego.v1

import data.palisade.lib.workload

# METADATA
# description: The kernel rules in force for one workload, and their carve-outs.
# entrypoint: true
rules_for_workload[meta.id] := carved if {
	some name
	rule := data.palisade.rules[name]
	meta := rule.meta
	section := rule.kernel
	not off(meta.id)
	selects(object.get(section, "scope", "all"))
	carved := sort([ex.id |
		some ex in exceptions
		meta.id in ex.rules
		workload_scope_matches(ex.scope)
		now_ns < time.parse_rfc3339_ns(ex.expires)
	])
}

# A rule turned off (config `rule_modes`) is nowhere in the kernel.
off(id) if data.palisade.config.rule_modes[id] == "off"

exceptions := data.palisade.exceptions if is_array(data.palisade.exceptions)

now_ns := time.parse_rfc3339_ns(input.time)

# A kernel scope: "all", "host", "containers", a selector object (every key
# must match; a list of values matches any of them), or a list of those
# (any of them).
selects(scope) if {
	not is_array(scope)
	term_selects(scope)
}

selects(scope) if {
	is_array(scope)
	some term in scope
	term_selects(term)
}

term_selects(term) if term == "all"

term_selects(term) if {
	term == "host"
	input.host == true
}

term_selects(term) if {
	term == "containers"
	is_object(input.container)
}

term_selects(selector) if {
	is_object(selector)
	count(selector) > 0
	is_object(input.container)
	every key, want in selector {
		selector_key_matches(key, want)
	}
}

selector_key_matches(key, want) if {
	key == "pod_labels"
	workload.key_matches(key, want)
}

selector_key_matches(key, want) if {
	key in workload.keys
	key != "pod_labels"
	some one in as_list(want)
	workload.key_matches(key, one)
}

as_list(x) := x if is_array(x)

as_list(x) := [x] if not is_array(x)

# An exception's scope, for a whole workload: its workload keys must match.
# Keys about the process (binary, binary_prefix, actor) cannot be judged for
# a whole workload: the kernel relaxes the rule for the workload, and
# userspace applies the exception to each event as usual.
workload_scope_matches(scope) if {
	is_object(scope)
	every key, want in scope {
		workload_key_matches(key, want)
	}
}

workload_key_matches(key, _) if key in workload.process_keys

workload_key_matches(key, want) if {
	key in workload.keys
	workload.key_matches(key, want)
}
