//! `palisade policy check|test|eval|replay` on real bundles written to disk,
//! run through the real binary. Bad input must give one clear line and a
//! non-zero exit, and never take the evaluator down.

mod support;

use std::{
    io::Write,
    path::Path,
    process::{Command, Output, Stdio},
};

use serde_json::Value;
use support::bundle::{CONFIG_FILE, EXCEPTIONS_FILE, NC_RULE, NC_TEST, TempBundle};

fn palisade(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn check(bundle: &TempBundle) -> (bool, String) {
    let out = palisade(&["policy", "check", bundle.path().to_str().unwrap()], b"");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).trim().to_string())
}

/// A rejected bundle: non-zero exit, one line, naming `location`.
fn assert_rejected(bundle: &TempBundle, location: &str, reason: &str) {
    let (ok, stderr) = check(bundle);
    assert!(!ok, "accepted a bad bundle");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with(&format!("palisade: {location}")), "location {location}: {stderr}");
    assert!(stderr.contains(reason), "reason `{reason}`: {stderr}");
}

#[test]
fn a_valid_bundle_checks_and_lists_its_rules() {
    let b = TempBundle::new("valid");
    let out = palisade(&["policy", "check", b.path().to_str().unwrap()], b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("ok: 1 rules"), "{stdout}");
    assert!(stdout.contains("T-001") && stdout.contains("T1059"), "{stdout}");
}

#[test]
fn malformed_rego_names_file_and_line() {
    let b = TempBundle::new("syntax");
    b.write(
        "rules/nc.rego",
        "package palisade.rules.nc\n\nimport rego.v1\n\nhits contains msg if { input.x === 1 }\n\nmeta := {}\n",
    );
    assert_rejected(&b, "rules/nc.rego:5:", "");
}

#[test]
fn data_of_the_wrong_shape_is_rejected() {
    let b = TempBundle::new("shape");
    b.write("data.json", "[1, 2]");
    assert_rejected(&b, "data.json", "must hold an object");
    b.write("data.json", r#"{"palisade": {"config": {"mode": "enforce"}}}"#);
    assert_rejected(
        &b,
        "palisade/config/data.json",
        "data `palisade.config.mode` is also set by data.json",
    );
    std::fs::remove_file(b.path().join("data.json")).unwrap();
    b.write(CONFIG_FILE, r#"{"mode": "sometimes"}"#);
    assert_rejected(&b, "palisade/config/data.json:1", "mode` must be one of");
}

/// A data file Palisade once merged at the data root, which OPA's bundle
/// loader never reads, is refused with where its data goes now.
#[test]
fn a_data_file_opa_would_ignore_is_refused() {
    let b = TempBundle::new("stray");
    b.write("exceptions.json", r#"{"palisade": {"exceptions": []}}"#);
    assert_rejected(
        &b,
        "exceptions.json",
        "move its data.palisade.exceptions to palisade/exceptions/data.json",
    );
}

#[test]
fn duplicate_rule_ids_and_unknown_actions_are_rejected() {
    let b = TempBundle::new("dup");
    b.write(
        "rules/nc2.rego",
        &NC_RULE.replace("package palisade.rules.nc", "package palisade.rules.nc2"),
    );
    assert_rejected(
        &b,
        "rules/nc2.rego",
        "duplicate rule id `T-001`: already used by rules/nc.rego",
    );
    std::fs::remove_file(b.path().join("rules/nc2.rego")).unwrap();
    b.write("rules/nc.rego", &NC_RULE.replace("\"block\"", "\"quarantine\""));
    assert_rejected(&b, "rules/nc.rego:5", "unknown action `quarantine`");
}

#[test]
fn an_exception_needs_owner_reason_and_expiry() {
    let b = TempBundle::new("exc");
    b.write(
        EXCEPTIONS_FILE,
        r#"[
  {"id": "EX-1", "rules": ["T-001"], "scope": {"binary": "/usr/bin/nc"}, "owner": "sec", "reason": "probe"}
]"#,
    );
    assert_rejected(&b, "palisade/exceptions/data.json:2", "exception `EX-1` has no `expires`");
    b.write(
        EXCEPTIONS_FILE,
        r#"[
  {"id": "EX-1", "rules": ["T-001"], "scope": {}, "reason": "probe", "expires": "2027-01-01T00:00:00Z"}
]"#,
    );
    assert_rejected(&b, "palisade/exceptions/data.json:2", "has no `owner`");
    b.write(
        EXCEPTIONS_FILE,
        r#"[
  {"id": "EX-1", "rules": ["T-001"], "scope": {}, "owner": "sec", "reason": "probe", "expires": "soon"}
]"#,
    );
    assert_rejected(&b, "palisade/exceptions/data.json:2", "not an RFC 3339 time");
}

/// A FIFO never hangs the reader and a link to /dev/zero is not read until
/// memory runs out: both are refused at once, naming the file.
#[test]
fn special_files_in_a_bundle_are_refused_without_blocking() {
    let fifo = TempBundle::new("fifo");
    let path = fifo.path().join("data.json");
    let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let started = std::time::Instant::now();
    assert_rejected(&fifo, "data.json", "is not a regular file");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "blocked on the FIFO");
    let zero = TempBundle::new("zero");
    std::os::unix::fs::symlink("/dev/zero", zero.path().join("zero.json")).unwrap();
    assert_rejected(&zero, "zero.json", "is not a regular file");
    let loop_dir = TempBundle::new("dirlink");
    std::os::unix::fs::symlink("/", loop_dir.path().join("root.json")).unwrap();
    assert_rejected(&loop_dir, "root.json", "is a link to a directory");
}

#[test]
fn an_unknown_exception_scope_key_is_rejected() {
    let b = TempBundle::new("scope");
    b.write(
        EXCEPTIONS_FILE,
        r#"[
  {"id": "EX-1", "rules": ["T-001"], "scope": {"binray": "/usr/bin/nc"}, "owner": "sec", "reason": "probe", "expires": "2027-01-01T00:00:00Z"}
]"#,
    );
    assert_rejected(&b, "palisade/exceptions/data.json:2", "unknown scope key `binray`");
}

#[test]
fn malformed_triggers_and_a_main_that_ignores_them_are_rejected() {
    let b = TempBundle::new("triggers");
    let with_triggers = |triggers: &str| {
        NC_RULE.replace(
            "\"kinds\": [\"process_exec\"]",
            &format!("\"kinds\": [\"process_exec\"], \"triggers\": {triggers}"),
        )
    };
    b.write("rules/nc.rego", &with_triggers(r#"[{"names": ["nc"], "path": ["/tmp/"]}]"#));
    assert_rejected(&b, "rules/nc.rego:5", "`meta.triggers[0]`: unknown key `path`");
    b.write("rules/nc.rego", &with_triggers(r#"[{"container": "yes"}]"#));
    assert_rejected(&b, "rules/nc.rego:5", "`container` can only be true");
    // Valid triggers, but this main.rego does not apply them: the agent
    // would skip what OPA still judges.
    b.write("rules/nc.rego", &with_triggers(r#"[{"names": ["nc"]}]"#));
    assert_rejected(&b, "main.rego: cannot evaluate", "main.rego must apply them");
}

/// A copy of the baseline bundle (policies/) to modify. (Copied here, not
/// by `cp`: the 6.1 VM has no `cp`.)
fn baseline_copy(name: &str) -> TempBundle {
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    let b = TempBundle::new(name);
    std::fs::remove_dir_all(b.path()).unwrap();
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies"), b.path());
    b
}

#[test]
fn the_baselines_guardrails_refuse_far_expiries_empty_scopes_and_unknown_owners() {
    let b = baseline_copy("guardrails");
    let write = |owner: &str, scope: &str, expires: &str| {
        b.write(
            EXCEPTIONS_FILE,
            &format!(
                "[\n  {{\"id\": \"EX-G\", \"rules\": [\"PAL-005\"], \"scope\": {scope}, \"owner\": \"{owner}\", \"reason\": \"r\", \"expires\": \"{expires}\"}}\n]"
            ),
        );
    };
    let (near, far) = (support::rfc3339_in(3 * 86_400), support::rfc3339_in(200 * 86_400));
    let shop = r#"{"namespace": "shop"}"#;
    write("team:payments", shop, &far);
    assert_rejected(
        &b,
        "palisade/exceptions/data.json:2",
        "more than 90 days ahead (exception_guardrails.max_days)",
    );
    write("team:payments", "{}", &near);
    assert_rejected(&b, "palisade/exceptions/data.json:2", "has an empty scope");
    write("bob", shop, &near);
    assert_rejected(
        &b,
        "palisade/exceptions/data.json:2",
        "has owner `bob`, which is neither a mail address nor a team id",
    );
    // Said so explicitly: accepted, with a warning that it ends soon.
    write("sre@example.com", r#"{}, "everywhere": true"#, &near);
    let out = palisade(&["policy", "check", "--json", b.path().to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = summary["exception_warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{summary:#}");
    let warning = warnings[0].as_str().unwrap();
    assert!(
        warning.starts_with("palisade/exceptions/data.json:2: exception `EX-G` expires in 2 days"),
        "{warning}"
    );
}

#[test]
fn triggers_narrower_than_their_rule_are_rejected_on_the_samples() {
    let b = baseline_copy("narrow");
    let path = b.path().join("rules/netcat_in_container.rego");
    let rule = std::fs::read_to_string(&path).unwrap();
    let narrowed = rule.replace(r#""names": config.netcat_tools"#, r#""names": ["ncat"]"#);
    assert_ne!(rule, narrowed, "the baseline rule's triggers changed; update this test");
    b.write("rules/netcat_in_container.rego", &narrowed);
    // The corpus runs nc (not ncat) in a container: the rule hits it, but
    // its triggers no longer match it.
    assert_rejected(&b, "rules/netcat_in_container.rego", "PAL-001 hits sample event `corpus-");
    let (ok, stderr) = check(&b);
    assert!(!ok && stderr.contains("its triggers must cover every event it can hit"), "{stderr}");
}

#[test]
fn a_policy_that_recurses_or_blows_up_is_rejected() {
    let b = TempBundle::new("recurse");
    let looping = NC_RULE
        .replace("package palisade.rules.nc", "package palisade.rules.loop")
        .replace("T-001", "T-003")
        .replace("endswith(input.process.binary, \"/nc\")", "a");
    b.write("rules/loop.rego", &format!("{looping}\na if b\n\nb if a\n"));
    let (ok, stderr) = check(&b);
    assert!(!ok && stderr.lines().count() == 1, "{stderr}");
    assert!(stderr.contains("recursion"), "{stderr}");

    let b = TempBundle::new("blowup");
    b.write(
        "rules/big.rego",
        &NC_RULE
            .replace("package palisade.rules.nc", "package palisade.rules.big")
            .replace("T-001", "T-002")
            .replace(
                "endswith(input.process.binary, \"/nc\")",
                // Nine million iterations: far past the evaluation limits.
                "count([x | some i in numbers.range(1, 3000); some j in numbers.range(1, 3000); x := i * j]) > 0",
            ),
    );
    let (ok, stderr) = check(&b);
    assert!(!ok && stderr.lines().count() == 1, "{stderr}");
    assert!(stderr.contains("fails on a `process_exec` event"), "{stderr}");
}

#[test]
fn eval_judges_each_line_and_survives_garbage_and_huge_lines() {
    let b = TempBundle::new("eval");
    let nc = r#"{"id":"1","kind":"process_exec","time":"2026-11-24T00:00:00Z","process":{"pid":1,"binary":"/usr/bin/nc"}}"#;
    let ls = r#"{"id":"2","kind":"process_exec","time":"2026-11-24T00:00:00Z","process":{"pid":2,"binary":"/usr/bin/ls"}}"#;
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(10 << 20));
    let input = format!("{nc}\nthis is not json\n{huge}\n[1,2]\n{ls}\n");
    let out = palisade(&["policy", "eval", b.path().to_str().unwrap()], input.as_bytes());
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "one line out per line in");
    assert_eq!(lines[0]["action"], "alert");
    assert_eq!(lines[0]["would_block"], true, "audit mode: a block rule would block");
    assert_eq!(lines[0]["matched"][0]["rule"], "T-001");
    assert!(lines[1]["error"].as_str().unwrap().starts_with("not JSON"));
    assert!(lines[2]["error"].as_str().unwrap().contains("over the 1048576-byte event limit"));
    assert!(lines[3]["error"].as_str().unwrap().contains("must be a JSON object"));
    assert_eq!(lines[4]["action"], "allow");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2: not JSON"), "{stderr}");
}

#[test]
fn enforce_mode_exceptions_and_their_expiry() {
    let b = TempBundle::new("modes");
    b.write(CONFIG_FILE, r#"{"mode": "enforce", "rule_modes": {}}"#);
    b.write(
        EXCEPTIONS_FILE,
        r#"[
  {"id": "EX-1", "rules": ["T-001"], "scope": {"binary": "/opt/probe/nc"}, "owner": "sec-team", "reason": "health probe", "expires": "2027-01-01T00:00:00Z"}
]"#,
    );
    let event = |binary: &str, time: &str| {
        format!(
            r#"{{"kind":"process_exec","time":"{time}","process":{{"pid":1,"binary":"{binary}"}}}}"#
        )
    };
    let input = [
        event("/usr/bin/nc", "2026-11-24T00:00:00Z"),
        event("/opt/probe/nc", "2026-11-24T00:00:00Z"),
        event("/opt/probe/nc", "2027-01-01T00:00:01Z"),
    ]
    .join("\n");
    let out = palisade(&["policy", "eval", b.path().to_str().unwrap()], input.as_bytes());
    let d: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(d[0]["action"], "block", "enforce mode: {}", d[0]);
    assert_eq!(d[1]["action"], "allow", "the exception applies: {}", d[1]);
    assert_eq!(d[1]["suppressed"][0]["exception"], "EX-1");
    assert_eq!(d[2]["action"], "block", "expired exceptions stop applying: {}", d[2]);
}

#[test]
fn test_runs_rego_tests_and_fails_on_a_failing_one() {
    let b = TempBundle::new("tests");
    let out = palisade(&["policy", "test", b.path().to_str().unwrap()], b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("PASS data.palisade.rules.nc_test.test_nc_matches"), "{stdout}");
    assert!(stdout.contains("2 passed, 0 failed"), "{stdout}");

    b.write("rules/nc_test.rego", &format!("{NC_TEST}\ntest_wrong if {{\n\tcount(data.palisade.rules.nc.hits) == 1 with input as {{\"kind\": \"process_exec\", \"process\": {{\"binary\": \"/bin/ls\"}}}}\n}}\n"));
    let out = palisade(&["policy", "test", b.path().to_str().unwrap()], b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(stdout.contains("FAIL data.palisade.rules.nc_test.test_wrong"), "{stdout}");
    assert!(stdout.contains("2 passed, 1 failed"), "{stdout}");
}

#[test]
fn replay_counts_per_rule_and_shows_what_a_change_would_change() {
    let before = TempBundle::new("replay-a");
    let after = TempBundle::new("replay-b");
    after.write(CONFIG_FILE, r#"{"mode": "enforce", "rule_modes": {}}"#);
    let events = before.path().join("events.log");
    let lines = [
        r#"{"id":"e1","kind":"process_exec","time":"2026-11-24T00:00:00Z","process":{"pid":1,"binary":"/usr/bin/nc"}}"#,
        r#"{"id":"e2","kind":"process_exec","time":"2026-11-24T00:00:00Z","process":{"pid":2,"binary":"/usr/bin/ls"}}"#,
        r#"{"id":"e3","kind":"process_exec","time":"2026-11-24T00:00:00Z","process":{"pid":3,"binary":"/bin/nc"}}"#,
        "not json",
    ];
    std::fs::write(&events, lines.join("\n")).unwrap();
    let out = palisade(
        &[
            "policy",
            "replay",
            before.path().to_str().unwrap(),
            "--events",
            events.to_str().unwrap(),
            "--against",
            after.path().to_str().unwrap(),
            "--json",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["events"], 3);
    assert_eq!(summary["unreadable"], 1);
    assert_eq!(summary["rules"]["T-001"]["would_block"], 2);
    assert_eq!(summary["against"]["rules"]["T-001"]["enforced"], 2);
    let changed = summary["against"]["changed"].as_array().unwrap();
    let ids: Vec<&str> = changed.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["e1", "e3"]);
    assert_eq!(changed[0]["before"]["action"], "alert");
    assert_eq!(changed[0]["after"]["action"], "block");
}

/// The line of `text` (a section of `check`'s output) about rule `id`.
fn rule_line<'a>(text: &'a str, id: &str) -> Option<&'a str> {
    text.lines().find(|l| l.trim_start().starts_with(&format!("{id} ")))
}

#[test]
fn check_lists_what_the_kernel_enforces_in_the_baseline() {
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("policies");
    let out = palisade(&["policy", "check", policies.to_str().unwrap()], b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (kernel, userspace) =
        stdout.split_once("  userspace-only (").expect("a userspace-only list");
    let (_, kernel) = kernel.split_once("  kernel-enforced (").expect("a kernel-enforced list");
    let nc = rule_line(kernel, "PAL-001").expect("PAL-001 is kernel-enforced");
    assert!(nc.contains("scope containers"), "{nc}");
    assert!(nc.contains("exec names [nc, nc.openbsd,"), "{nc}");
    let imds = rule_line(kernel, "PAL-011").expect("PAL-011 is kernel-enforced");
    assert!(imds.contains("connect deny [") && imds.contains("169.254.169.254/32"), "{imds}");
    let reverse_shell = rule_line(userspace, "PAL-002").expect("PAL-002 is userspace-only");
    assert!(reverse_shell.contains("no `kernel` section"), "{reverse_shell}");
    assert!(rule_line(userspace, "PAL-001").is_none(), "{userspace}");

    let out = palisade(&["policy", "check", policies.to_str().unwrap(), "--json"], b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids = |list: &Value| -> Vec<String> {
        list.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
    };
    assert!(ids(&plan["kernel"]["rules"]).contains(&"PAL-001".to_string()), "{plan}");
    assert!(ids(&plan["kernel"]["userspace_only"]).contains(&"PAL-002".to_string()), "{plan}");
    let imds = plan["kernel"]["rules"].as_array().unwrap().iter().find(|r| r["id"] == "PAL-011");
    assert_eq!(imds.unwrap()["connect"][0]["prefix_len"], 32);
}

/// NC_RULE with `kernel := {kernel}` appended, and the line it is on.
fn with_kernel(rule: &str, kernel: &str) -> (String, usize) {
    let text = format!("{rule}\nkernel := {kernel}\n");
    let line = text.lines().position(|l| l.starts_with("kernel :=")).unwrap() + 1;
    (text, line)
}

#[test]
fn a_kernel_section_is_listed_with_its_scope_and_carve_outs() {
    let b = TempBundle::new("kernel-ok");
    let (rule, _) = with_kernel(
        NC_RULE,
        r#"{"scope": [{"namespace": ["payments", "billing"], "pod_labels": {"tier": "web"}}, "host"], "exec": {"names": ["nc", "ncat"]}}"#,
    );
    b.write("rules/nc.rego", &rule);
    b.write(
        EXCEPTIONS_FILE,
        r#"[
  {"id": "EX-1", "rules": ["T-001"], "scope": {"binary": "/opt/probe/nc"}, "owner": "sec", "reason": "probe", "expires": "2027-01-01T00:00:00Z"},
  {"id": "EX-2", "rules": ["T-001"], "scope": {"namespace": "payments", "actor": "ci"}, "owner": "sec", "reason": "ci", "expires": "2027-02-01T00:00:00Z"}
]"#,
    );
    let out = palisade(&["policy", "check", b.path().to_str().unwrap()], b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed = stdout.split_once("kernel-enforced (1)").unwrap().1;
    let line = rule_line(listed, "T-001").unwrap();
    assert!(
        line.contains(
            "audit   scope namespace=billing|payments,pod_labels{tier=web} or host: exec names [nc, ncat]"
        ),
        "{line}"
    );
    assert!(
        listed.contains("carved out by exception EX-1 until 2027-01-01T00:00:00Z: reported only for every workload"),
        "a scope without workload keys opens every workload: {stdout}"
    );
    assert!(
        listed.contains(r#"carved out by exception EX-2 until 2027-02-01T00:00:00Z: reported only for the workloads of its scope {"actor":"ci","namespace":"payments"}"#),
        "{stdout}"
    );
    assert!(stdout.contains("userspace-only (0)"), "{stdout}");

    // File prefixes, listed with the mechanism that can deny them.
    let file_kinds = NC_RULE
        .replace(r#""kinds": ["process_exec"]"#, r#""kinds": ["process_exec", "file_open"]"#);
    let (rule, _) = with_kernel(
        &file_kinds,
        r#"{"file": {"read": ["/etc/shadow", "/etc/gshadow"], "write": ["/etc/cron.d/"]}}"#,
    );
    b.write("rules/nc.rego", &rule);
    let out = palisade(&["policy", "check", b.path().to_str().unwrap()], b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let line = rule_line(stdout.split_once("kernel-enforced (1)").unwrap().1, "T-001").unwrap();
    assert!(
        line.contains(
            "file read under [/etc/gshadow, /etc/shadow] (BPF-LSM); file write under [/etc/cron.d/] (BPF-LSM)"
        ),
        "{line}"
    );
    assert!(stdout.contains("IPv6, 3 file and 0 socket family entries"), "{stdout}");
}

#[test]
fn a_bad_kernel_section_names_its_line_and_field() {
    let b = TempBundle::new("kernel-bad");
    let both_kinds = NC_RULE
        .replace(r#""kinds": ["process_exec"]"#, r#""kinds": ["process_exec", "network_connect"]"#);
    let (rule, line) = with_kernel(
        &both_kinds,
        r#"{"connect": [{"cidr": "10.0.0.0/8"}, {"cidr": "10.0.0.0/33"}]}"#,
    );
    b.write("rules/nc.rego", &rule);
    assert_rejected(
        &b,
        &format!("rules/nc.rego:{line}: "),
        r#"kernel.connect[1].cidr: "10.0.0.0/33" is not an IP address or CIDR"#,
    );

    let (rule, line) = with_kernel(NC_RULE, r#"{"exec": {"names": ["nc", "bin/ncat"]}}"#);
    b.write("rules/nc.rego", &rule);
    assert_rejected(
        &b,
        &format!("rules/nc.rego:{line}: "),
        r#"kernel.exec.names[1]: "bin/ncat" contains '/'"#,
    );

    for (scope, reason) in [
        (r#"{"nmespace": "payments"}"#, "kernel.scope.nmespace: unknown field"),
        (
            r#"[{"namespace": "payments"}, {}]"#,
            "kernel.scope[1]: an empty selector selects every container",
        ),
        (r#"{"pod_labels": {"tier": 3}}"#, "kernel.scope.pod_labels.tier: 3 is not a string"),
        (
            r#""pods""#,
            r#"kernel.scope: "pods" is not "all", "containers", "host", a selector object"#,
        ),
    ] {
        let (rule, line) =
            with_kernel(NC_RULE, &format!(r#"{{"scope": {scope}, "exec": {{"names": ["nc"]}}}}"#));
        b.write("rules/nc.rego", &rule);
        assert_rejected(&b, &format!("rules/nc.rego:{line}: "), reason);
    }

    let (rule, line) = with_kernel(NC_RULE, r#"{"file": {"read": ["etc/shadow"]}}"#);
    b.write("rules/nc.rego", &rule);
    assert_rejected(
        &b,
        &format!("rules/nc.rego:{line}: "),
        r#"kernel.file.read[0]: "etc/shadow" is not absolute"#,
    );

    let (rule, line) = with_kernel(NC_RULE, r#"{"connect": [{"cidr": "169.254.169.254"}]}"#);
    b.write("rules/nc.rego", &rule);
    assert_rejected(
        &b,
        &format!("rules/nc.rego:{line}: "),
        r#"kernel.connect: the rule's meta.kinds must include "network_connect""#,
    );
}
