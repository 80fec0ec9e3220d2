//! The OCSF validator (support/ocsf.rs) is strict where the OCSF server is:
//! hand-made records, one good and many each wrong in one way, against the
//! vendored 1.1.0 schema; and a small made-up schema for what 1.1.0's
//! classes do not exercise (`just_one`, an attribute removed by `null`).

mod support;

use serde_json::{Value, json};
use support::ocsf::Schema;

/// A Process Activity launch that is valid, with every profile Palisade
/// uses declared and used.
fn good() -> Value {
    json!({
        "class_uid": 1007, "class_name": "Process Activity",
        "category_uid": 1, "category_name": "System Activity",
        "activity_id": 1, "activity_name": "Launch",
        "type_uid": 100701, "type_name": "Process Activity: Launch",
        "time": 1_796_263_886_760i64, "severity_id": 4, "severity": "High",
        "metadata": {
            "version": "1.1.0", "uid": "e-1",
            "product": {"name": "Palisade", "vendor_name": "Palisade"},
            "profiles": ["security_control", "container"],
        },
        "device": {"hostname": "node-1", "type_id": 0},
        "actor": {"process": {"pid": 1, "file": {"name": "init", "path": "/sbin/init", "type_id": 1}}},
        "process": {
            "pid": 7, "name": "nc", "cmd_line": "nc -l 80",
            "file": {"name": "nc", "path": "/usr/bin/nc", "type_id": 1},
            "user": {"uid": "0"},
            "parent_process": {"pid": 1, "file": {"name": "init", "path": "/sbin/init", "type_id": 1}},
            "lineage": ["/sbin/init"],
            "container": {"uid": "9c2d", "runtime": "containerd",
                          "image": {"uid": "sha256:abc", "name": "busybox"}},
        },
        "action_id": 2, "action": "Denied", "disposition_id": 2, "disposition": "Blocked",
        "attacks": [{"technique": {"uid": "T1095"}}],
        "unmapped": {"palisade": {"anything": ["goes", {"here": 1}]}},
    })
}

/// A Network Activity connect that is valid.
fn good_network() -> Value {
    json!({
        "class_uid": 4001, "category_uid": 4, "activity_id": 1, "type_uid": 400101,
        "time": 1_796_263_886_760i64, "severity_id": 1,
        "metadata": {"version": "1.1.0", "product": {"name": "Palisade", "vendor_name": "Palisade"}, "profiles": ["host"]},
        "device": {"hostname": "node-1", "type_id": 0},
        "actor": {"process": {"pid": 7}},
        "src_endpoint": {"ip": "10.0.0.1", "port": 52966},
        "dst_endpoint": {"ip": "10.0.0.2", "port": 80},
        "connection_info": {"direction_id": 2, "protocol_num": 6},
    })
}

/// `good()` changed by `change`, validated: its errors and warnings.
fn check(change: impl FnOnce(&mut Value)) -> (Vec<String>, Vec<String>) {
    let mut event = good();
    change(&mut event);
    let report = Schema::vendored().validate(&event, false);
    (report.errors, report.warnings)
}

/// Asserts `change` makes exactly one error, which contains `says`.
fn fails(says: &str, change: impl FnOnce(&mut Value)) {
    let (errors, _) = check(change);
    assert!(
        errors.len() == 1 && errors[0].contains(says),
        "expected one error saying {says:?}, got {errors:#?}"
    );
}

fn warns(says: &str, change: impl FnOnce(&mut Value)) {
    let (errors, warnings) = check(change);
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(
        warnings.len() == 1 && warnings[0].contains(says),
        "expected one warning saying {says:?}, got {warnings:#?}"
    );
}

fn push(list: &mut Value, item: &str) {
    list.as_array_mut().unwrap().push(json!(item));
}

fn remove(v: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    v.pointer_mut(parent).unwrap().as_object_mut().unwrap().remove(key).unwrap();
}

#[test]
fn a_good_record_is_clean_and_names_its_schema() {
    let schema = Schema::vendored();
    assert_eq!(schema.version(), "1.1.0");
    let report = schema.validate(&good(), false);
    assert!(report.is_clean(), "{report:#?}");
    // Recommended attributes are only reported when asked for.
    let report = schema.validate(&good(), true);
    assert!(report.errors.is_empty() && !report.warnings.is_empty(), "{report:#?}");
    assert!(report.warnings.iter().any(|w| w.contains("`metadata.product.version`")));
}

#[test]
fn profiles_gate_their_attributes() {
    // Security Control declared: its required action_id is required.
    fails("required attribute `action_id` is missing", |e| remove(e, "/action_id"));
    // Not declared: its attributes do not exist (and are not required).
    let (errors, _) = check(|e| e["metadata"]["profiles"] = json!(["container"]));
    for attribute in ["action_id", "action", "disposition_id", "disposition", "attacks"] {
        assert!(
            errors.iter().any(|x| x.contains(&format!("unknown attribute `{attribute}`"))),
            "{attribute}: {errors:#?}"
        );
    }
    assert_eq!(errors.len(), 5, "{errors:#?}");
    // The container profile reaches into objects.
    fails("unknown attribute `process.container`", |e| {
        e["metadata"]["profiles"] = json!(["security_control"])
    });
    // No profiles listed at all is the same as none declared.
    let (errors, _) = check(|e| remove(e, "/metadata/profiles"));
    assert_eq!(errors.len(), 6, "{errors:#?}");
    fails("unknown profile `bogus`", |e| push(&mut e["metadata"]["profiles"], "bogus"));
    // Network Activity has device and actor from the Host profile only.
    let schema = Schema::vendored();
    assert!(schema.validate(&good_network(), false).is_clean());
    let mut network = good_network();
    network["metadata"]["profiles"] = json!([]);
    let errors = schema.validate(&network, false).errors;
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].contains("unknown attribute `actor`"), "{errors:#?}");
    assert!(errors[1].contains("unknown attribute `device`"), "{errors:#?}");
    // An empty endpoint names no end.
    let mut network = good_network();
    network["src_endpoint"] = json!({});
    let errors = schema.validate(&network, false).errors;
    assert!(
        errors.len() == 1
            && errors[0].contains("`src_endpoint` (network_endpoint) needs at least one of"),
        "{errors:#?}"
    );
    // The datetime profile's synthetic `_dt` attributes.
    fails("unknown attribute `time_dt`", |e| e["time_dt"] = json!("2026-12-03T02:11:26Z"));
    let (errors, _) = check(|e| {
        e["time_dt"] = json!("2026-12-03T02:11:26Z");
        push(&mut e["metadata"]["profiles"], "datetime");
    });
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn required_attributes_are_required_everywhere_and_null_is_absent() {
    fails("required attribute `process` is missing", |e| remove(e, "/process"));
    fails("required attribute `metadata.product` is missing", |e| remove(e, "/metadata/product"));
    fails("required attribute `process.parent_process.file.name` is missing", |e| {
        remove(e, "/process/parent_process/file/name")
    });
    fails("required attribute `process.container.image.uid` is missing", |e| {
        remove(e, "/process/container/image/uid")
    });
    fails("required attribute `process.file.name` is missing", |e| {
        e["process"]["file"]["name"] = Value::Null
    });
    // As in the server, a null enum is also not one of its values.
    let (errors, _) = check(|e| e["device"]["type_id"] = Value::Null);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].contains("required attribute `device.type_id` is missing"), "{errors:#?}");
}

#[test]
fn unknown_attributes_are_refused_outside_unmapped() {
    fails("unknown attribute `process.working_directory`", |e| {
        e["process"]["working_directory"] = json!("/tmp")
    });
    fails("unknown attribute `container`", |e| e["container"] = json!({"uid": "9c2d"}));
    fails("unknown attribute `metadata.product.surprise`", |e| {
        e["metadata"]["product"]["surprise"] = json!(null)
    });
}

#[test]
fn types_ranges_and_lengths_are_the_dictionarys() {
    fails("`process.pid` has the wrong type", |e| e["process"]["pid"] = json!("7"));
    fails("`process.pid` has the wrong type", |e| e["process"]["pid"] = json!(u64::MAX));
    fails("`process.pid` has the wrong type", |e| e["process"]["pid"] = json!(7.5));
    fails("`time` has the wrong type", |e| e["time"] = json!("2026-12-03T02:11:26Z"));
    fails("`process.user.uid` has the wrong type", |e| e["process"]["user"]["uid"] = json!(0));
    fails("`process.lineage` has the wrong type", |e| {
        e["process"]["lineage"] = json!("/sbin/init")
    });
    fails("`process.file` has the wrong type", |e| e["process"]["file"] = json!("/usr/bin/nc"));
    fails("`process.name` is longer than", |e| e["process"]["name"] = json!("x".repeat(70000)));
    // An endpoint's port, and an ip that is not one (only a warning, as
    // the server's regexes are).
    let schema = Schema::vendored();
    let mut network = good_network();
    network["src_endpoint"]["port"] = json!(70000);
    let report = schema.validate(&network, false);
    assert_eq!(report.errors.len(), 1, "{report:#?}");
    assert!(report.errors[0].contains("outside port_t's range"), "{report:#?}");
    let mut network = good_network();
    network["src_endpoint"]["ip"] = json!("ten.zero.zero.one");
    let report = schema.validate(&network, false);
    assert!(report.errors.is_empty(), "{report:#?}");
    assert!(report.warnings.iter().any(|w| w.contains("ip_t's regex")), "{report:#?}");
}

#[test]
fn enums_and_their_captions() {
    let (errors, _) = check(|e| e["activity_id"] = json!(42));
    assert!(errors[0].contains("`activity_id`: 42 is not a value of its enum"), "{errors:#?}");
    fails("`disposition_id`: 77 is not a value of its enum", |e| e["disposition_id"] = json!(77));
    fails("`process.file.type_id`: 12 is not", |e| e["process"]["file"]["type_id"] = json!(12));
    // class_uid, category_uid and type_uid only take the class's own values.
    fails("`category_uid`: 4 is not a value", |e| e["category_uid"] = json!(4));
    warns("`activity_name` is \"Launched\"", |e| e["activity_name"] = json!("Launched"));
    warns("`severity` is \"Low\"", |e| e["severity"] = json!("Low"));
    warns("`class_name` is", |e| e["class_name"] = json!("Process"));
    // 99 takes the source's own word, not "Other".
    warns("repeats the caption of 99", |e| {
        e["disposition_id"] = json!(99);
        e["disposition"] = json!("Other");
    });
    let (errors, warnings) = check(|e| {
        e["disposition_id"] = json!(99);
        e["disposition"] = json!("Throttled");
    });
    assert!(errors.is_empty() && warnings.is_empty(), "{errors:#?} {warnings:#?}");
}

#[test]
fn type_uid_version_class_and_constraints() {
    let (errors, _) = check(|e| e["type_uid"] = json!(100702));
    assert!(
        errors.iter().any(|x| x.contains("type_uid 100702 is not class_uid * 100 + activity_id")),
        "{errors:#?}"
    );
    fails("not compatible with the schema's 1.1.0", |e| e["metadata"]["version"] = json!("1.2.0"));
    warns("earlier than the schema's 1.1.0", |e| e["metadata"]["version"] = json!("1.0.0"));
    fails("unknown class_uid 9999", |e| e["class_uid"] = json!(9999));
    fails("`actor` (actor) needs at least one of", |e| e["actor"] = json!({}));
    fails("`process` (process) needs at least one of [\"pid\", \"uid\"]", |e| {
        remove(e, "/process/pid")
    });
    fails("`attacks[0]` (attack) needs at least one of", |e| e["attacks"] = json!([{}]));
}

#[test]
fn deprecated_things_warn() {
    let mut finding = json!({
        "class_uid": 2004, "category_uid": 2, "activity_id": 1, "type_uid": 200401,
        "time": 1, "severity_id": 1,
        "metadata": {"version": "1.1.0", "product": {"name": "Palisade", "vendor_name": "Palisade"}},
        "finding_info": {"uid": "f-1", "title": "t",
                         "analytic": {"uid": "R-1", "type_id": 1, "related_analytics": []}},
    });
    let report = Schema::vendored().validate(&finding, false);
    assert!(report.errors.is_empty(), "{report:#?}");
    assert!(
        report.warnings.len() == 1
            && report.warnings[0].contains("related_analytics` is deprecated"),
        "{report:#?}"
    );
    finding["finding_info"]["analytic"]["related_analytics"] = Value::Null;
    assert!(Schema::vendored().validate(&finding, false).is_clean());
}

/// A made-up schema: an object with `just_one`, a class whose parent's
/// attribute it removes with `null`, and a profile brought by `$include`.
#[test]
fn just_one_null_removal_and_includes_on_a_made_up_schema() {
    let dir = std::env::temp_dir().join(format!("palisade-ocsf-made-up-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let write = |path: &str, value: Value| {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, value.to_string()).unwrap();
    };
    write("version.json", json!({"version": "0.1.0"}));
    write("categories.json", json!({"attributes": {"things": {"uid": 9, "caption": "Things"}}}));
    write(
        "dictionary.json",
        json!({"attributes": {
            "class_uid": {"type": "integer_t", "sibling": "class_name"},
            "class_name": {"type": "string_t"},
            "activity_id": {"type": "integer_t", "enum": {"0": {"caption": "Unknown"}}},
            "type_uid": {"type": "long_t"},
            "metadata": {"type": "metadata"},
            "profiles": {"type": "string_t", "is_array": true},
            "a": {"type": "string_t"}, "b": {"type": "string_t"},
            "pair": {"type": "pair"}, "gone": {"type": "string_t"}, "extra": {"type": "string_t"},
        }, "types": {"attributes": {
            "string_t": {"max_len": 10}, "integer_t": {}, "long_t": {},
        }}}),
    );
    write("objects/metadata.json", json!({"name": "metadata", "attributes": {"profiles": {}}}));
    write(
        "objects/pair.json",
        json!({"name": "pair", "constraints": {"just_one": ["a", "b"]}, "attributes": {"a": {}, "b": {}}}),
    );
    write(
        "profiles/more.json",
        json!({"meta": "profile", "name": "more", "attributes": {"extra": {"requirement": "required"}}}),
    );
    write(
        "events/base.json",
        json!({"name": "base", "attributes": {
            "class_uid": {"requirement": "required"}, "activity_id": {}, "type_uid": {},
            "metadata": {}, "gone": {}, "pair": {}, "class_name": {},
        }}),
    );
    write(
        "events/thing.json",
        json!({"name": "thing", "extends": "base", "category": "things", "uid": 1, "caption": "Thing",
               "attributes": {"$include": ["profiles/more.json"], "gone": null}}),
    );
    let schema = Schema::load(&dir);
    let errors = |event: Value| schema.validate(&event, false).errors;
    let event = json!({"class_uid": 9001, "class_name": "Thing", "activity_id": 0, "type_uid": 900100, "pair": {"a": "x"}});
    assert_eq!(errors(event.clone()), Vec::<String>::new());
    let mut both = event.clone();
    both["pair"]["b"] = json!("y");
    assert!(errors(both)[0].contains("needs exactly one of [\"a\", \"b\"], has 2"));
    let mut gone = event.clone();
    gone["gone"] = json!("x");
    assert!(errors(gone)[0].contains("unknown attribute `gone`"));
    let mut more = event.clone();
    more["metadata"] = json!({"profiles": ["more"]});
    assert!(errors(more.clone())[0].contains("required attribute `extra` is missing"));
    more["extra"] = json!("0123456789+");
    assert!(errors(more)[0].contains("longer than string_t's 10 characters"));
    let _ = std::fs::remove_dir_all(&dir);
}
