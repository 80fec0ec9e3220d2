//! Policy bundles written to disk for tests: a small but complete bundle
//! (the baseline's decision shape, one rule), so tests of the machinery do
//! not depend on the baseline's contents.

use std::path::{Path, PathBuf};

/// The aggregation: modes, exceptions (scoped by binary), actions.
pub const MAIN: &str = r#"package palisade.main

import rego.v1

import data.palisade.lib.exceptions as exception_checks

config := data.palisade.config

# Which exceptions are malformed: the baseline's lib/exceptions.rego says.
invalid_exceptions := exception_checks.invalid

rule_mode(id) := object.get(config.rule_modes, id, config.mode)

event_ns := time.parse_rfc3339_ns(input.time)

applies(e, id) if {
	id in e.rules
	event_ns < time.parse_rfc3339_ns(e.expires)
	object.get(e.scope, "binary", input.process.binary) == input.process.binary
}

candidates contains c if {
	some name, rule in data.palisade.rules
	input.kind in rule.meta.kinds
	mode := rule_mode(rule.meta.id)
	mode != "off"
	some msg in rule.hits
	c := {"rule": rule.meta.id, "action": rule.meta.action, "mode": mode, "message": msg}
}

suppressed contains s if {
	some c in candidates
	some e in object.get(data.palisade, "exceptions", [])
	applies(e, c.rule)
	s := {"rule": c.rule, "exception": e.id, "owner": e.owner}
}

matched contains c if {
	some c in candidates
	not c.rule in {s.rule | some s in suppressed}
}

rank := {"alert": 1, "block": 2, "kill": 3}

enforced := [rank[m.action] | some m in matched; m.mode == "enforce"]

action := "allow" if count(matched) == 0

action := a if {
	count(enforced) > 0
	some a, r in rank
	r == max(enforced)
}

action := "alert" if {
	count(matched) > 0
	count(enforced) == 0
}

decision := {
	"matched": sort(matched),
	"suppressed": sort(suppressed),
	"action": action,
	"mode": config.mode,
	"would_block": count([m | some m in matched; m.mode == "audit"; m.action in {"block", "kill"}]) > 0,
}
"#;

pub const NC_RULE: &str = r#"package palisade.rules.nc

import rego.v1

meta := {"id": "T-001", "title": "netcat", "severity": "high", "mitre": "T1059", "action": "block", "kinds": ["process_exec"]}

hits contains msg if {
	endswith(input.process.binary, "/nc")
	msg := sprintf("netcat executed: %v", [input.process.binary])
}
"#;

pub const NC_TEST: &str = r#"package palisade.rules.nc_test

import rego.v1

test_nc_matches if {
	count(data.palisade.rules.nc.hits) == 1 with input as {"kind": "process_exec", "process": {"binary": "/usr/bin/nc"}}
}

test_ls_does_not if {
	count(data.palisade.rules.nc.hits) == 0 with input as {"kind": "process_exec", "process": {"binary": "/usr/bin/ls"}}
}
"#;

/// What the kernel enforces per workload, the workload scope keys, and
/// which exceptions are malformed: the baseline's own modules (one source),
/// which every bundle with kernel rules or exceptions needs.
pub const KERNEL_LIB: &str = include_str!("../../../policies/kernel.rego");
pub const WORKLOAD_LIB: &str = include_str!("../../../policies/lib/workload.rego");
pub const EXCEPTIONS_LIB: &str = include_str!("../../../policies/lib/exceptions.rego");
/// The watched file prefixes: the union of the rules' `files` sections.
pub const FILES_LIB: &str = include_str!("../../../policies/files.rego");

/// Where the bundle's `data.palisade.config` and `data.palisade.exceptions`
/// live: OPA mounts a `data.json` at its directory's path.
pub const CONFIG_FILE: &str = "palisade/config/data.json";
pub const EXCEPTIONS_FILE: &str = "palisade/exceptions/data.json";

pub const CONFIG: &str = r#"{"mode": "audit", "rule_modes": {}}"#;

/// A bundle in a fresh temporary directory, removed on drop.
pub struct TempBundle(PathBuf);

impl TempBundle {
    pub fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("palisade-policy-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("rules")).unwrap();
        std::fs::create_dir_all(dir.join("lib")).unwrap();
        let b = TempBundle(dir);
        b.write("kernel.rego", KERNEL_LIB).write("lib/workload.rego", WORKLOAD_LIB);
        b.write("lib/exceptions.rego", EXCEPTIONS_LIB);
        b.write("main.rego", MAIN)
            .write("rules/nc.rego", NC_RULE)
            .write("rules/nc_test.rego", NC_TEST);
        b.write(CONFIG_FILE, CONFIG);
        b
    }

    /// Writes `text` to `path` in the bundle, making its directories.
    pub fn write(&self, path: &str, text: &str) -> &Self {
        let path = self.0.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempBundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
