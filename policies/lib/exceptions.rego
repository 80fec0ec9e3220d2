# Which exceptions are malformed: the one definition, read by main.rego (a
# malformed exception never applies) and by `palisade policy check`, which
# evaluates data.palisade.main.invalid_exceptions at load and rejects the
# bundle with the first problem at its file:line. Each problem reads after
# "exception `<id>` ".
#
# (Each check reads the field with object.get, so the value passed to the
# check under `not` is always defined: OPA treats `not f(x.missing)` as
# undefined where regorus treats it as true, and the two engines must agree.)
package palisade.lib.exceptions

import rego.v1

import data.palisade.workload

# The exceptions (exceptions.json); none unless they are an array.
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
