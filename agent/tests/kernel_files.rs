//! File activity from the real kernel: the syscall tracepoints, filtered in
//! the kernel by the prefixes the bundle watches. Real programs (cat, tee,
//! mv, chmod, rm) act on files under a temporary directory the test bundle
//! watches; the test asserts each event with its process and the rule's
//! match, and that activity outside the prefixes, reads under a
//! write-only prefix, and the agent's own reads produce nothing; a reloaded
//! bundle's prefixes replace the old ones.

mod support;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use serde_json::Value;
use support::{Agent, assert_schema, bundle::TempBundle};

/// The bundle's watch set and a rule matching everything it watches.
fn watching_rule(read: &[&str], write: &[&str]) -> String {
    let list = |l: &[&str]| l.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>().join(", ");
    format!(
        r#"package palisade.rules.watched

import rego.v1

files := {{"read": [{}], "write": [{}]}}

meta := {{"id": "T-FILE", "title": "watched file", "severity": "high", "mitre": "T1005", "action": "alert", "kinds": ["file_open", "file_unlink", "file_rename", "file_chmod"]}}

hits contains msg if {{
	some prefix in array.concat(files.read, files.write)
	startswith(input.file.path, prefix)
	msg := concat(" ", [input.kind, input.file.path])
}}
"#,
        list(read),
        list(write)
    )
}

/// Runs `program args` to completion; its pid.
fn run(program: &str, args: &[&Path]) -> u32 {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} starts: {e}"));
    let pid = child.id();
    child.wait().expect("wait");
    pid
}

/// The executable `program` resolves to, as the kernel names it: on PATH,
/// symlinks followed (busybox applets, /bin -> /usr/bin).
fn resolved(program: &str) -> String {
    let path = std::env::var_os("PATH").expect("PATH");
    let found = std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{program} is not on PATH"));
    let real = std::fs::canonicalize(found).expect("canonical path");
    real.to_str().expect("UTF-8").to_string()
}

fn text(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}

/// The file event of `kind` on `path` by process `pid`.
fn file_event(agent: &mut Agent, kind: &str, pid: u32, path: &Path) -> Value {
    let path = text(path).to_string();
    let event = agent.wait_for(&format!("{kind} of {path} by pid {pid}"), |e| {
        e["kind"] == kind && e["process"]["pid"] == pid && e["file"]["path"] == path.as_str()
    });
    assert_schema(&event);
    event
}

fn assert_matched(event: &Value) {
    assert_eq!(event["decision"]["matched"][0]["rule"], "T-FILE", "{event:#}");
}

#[test]
fn watched_file_activity_is_reported_with_its_process_and_outcome_and_nothing_else_is() {
    let root: PathBuf = std::env::temp_dir().join(format!("palisade-files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (watched, persist, other) = (root.join("w"), root.join("w/persist"), root.join("other"));
    for dir in [&persist, &other] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let secret = watched.join("secret");
    let unread = persist.join("unread");
    let outside = other.join("file");
    for file in [&secret, &unread, &outside] {
        std::fs::write(file, "x\n").unwrap();
    }
    let read_prefix = text(&secret).to_string();
    let write_prefix = format!("{}/", text(&persist));
    // /proc/1/: the agent reads it when it seeds its process table, after
    // the programs are attached; its own reads must not be reported.
    let bundle = TempBundle::new("files");
    bundle
        .write("files.rego", support::bundle::FILES_LIB)
        .write("rules/watched.rego", &watching_rule(&[&read_prefix, "/proc/1/"], &[&write_prefix]));
    let mut agent = Agent::start_with(&["--policy", text(bundle.path())]);
    let me = agent.pid();
    agent.wait_for_log("watched file prefixes in the kernel");

    // A read of a watched file.
    let cat = run("cat", &[&secret]);
    let e = file_event(&mut agent, "file_open", cat, &secret);
    assert_eq!(e["process"]["binary"], resolved("cat").as_str(), "{e:#}");
    assert_eq!(e["file"]["access"], "read");
    assert_eq!(e["file"]["result"], "ok");
    assert_matched(&e);

    // A create under a write prefix, then rename, chmod, unlink.
    let (a, b) = (persist.join("a"), persist.join("b"));
    let tee = run("tee", &[&a]);
    let e = file_event(&mut agent, "file_open", tee, &a);
    assert_eq!(e["process"]["binary"], resolved("tee").as_str(), "{e:#}");
    assert_eq!(e["file"]["access"], "write");
    let flags = e["file"]["flags"].as_array().expect("flags");
    assert!(flags.contains(&"create".into()) && flags.contains(&"truncate".into()), "{e:#}");
    assert_matched(&e);

    let mv = run("mv", &[&a, &b]);
    let e = file_event(&mut agent, "file_rename", mv, &a);
    assert_eq!(e["file"]["new_path"], text(&b), "{e:#}");
    assert_eq!(e["file"]["result"], "ok");
    assert_matched(&e);

    let chmod = run("chmod", &[Path::new("600"), &b]);
    let e = file_event(&mut agent, "file_chmod", chmod, &b);
    assert_eq!(e["file"]["mode"], "0600", "{e:#}");

    let rm = run("rm", &[&b]);
    let e = file_event(&mut agent, "file_unlink", rm, &b);
    assert_eq!(e["file"]["result"], "ok", "{e:#}");

    // A failed attempt carries its errno.
    let missing = persist.join("no-such-dir/x");
    let tee = run("tee", &[&missing]);
    let e = file_event(&mut agent, "file_open", tee, &missing);
    assert_eq!(
        (e["file"]["result"].as_str(), e["file"]["errno"].as_i64()),
        (Some("failed"), Some(2))
    );

    // Not reported: outside the prefixes, a read under a write-only prefix.
    run("cat", &[&outside]);
    run("touch", &[&other.join("new")]);
    run("cat", &[&unread]);
    // The kernel's prefix is live for /proc/1/ (a control), and then a
    // sentinel: once it arrives, whatever came before it has too.
    let proc1 = Path::new("/proc/1/comm");
    let cat = run("cat", &[proc1]);
    file_event(&mut agent, "file_open", cat, proc1);
    let sentinel = persist.join("sentinel");
    let touch = run("touch", &[&sentinel]);
    file_event(&mut agent, "file_open", touch, &sentinel);

    let files: Vec<&Value> = agent
        .drain()
        .iter()
        .filter(|e| e["kind"].as_str().is_some_and(|k| k.starts_with("file_")))
        .collect();
    for e in &files {
        let path = e["file"]["path"].as_str().unwrap_or_default();
        assert!(!path.starts_with(text(&other)), "outside the prefixes, yet reported: {e:#}");
        assert_ne!(path, text(&unread), "a read under a write-only prefix was reported: {e:#}");
        assert_ne!(e["process"]["pid"], me, "the agent's own file activity was reported: {e:#}");
    }

    // A new bundle changes what the kernel watches: `other/` now, and no
    // longer `persist/`.
    let other_prefix = format!("{}/", text(&other));
    bundle.write("rules/watched.rego", &watching_rule(&[], &[&other_prefix]));
    agent.wait_for_log("the new bundle's watched file prefixes are in force");
    let unwatched = persist.join("after-reload");
    run("touch", &[&unwatched]);
    let now_watched = other.join("after-reload");
    let touch = run("touch", &[&now_watched]);
    file_event(&mut agent, "file_open", touch, &now_watched);
    let stale = agent.drain().iter().find(|e| e["file"]["path"] == text(&unwatched));
    assert!(stale.is_none(), "a prefix the new bundle dropped is still watched: {stale:#?}");

    drop(agent);
    let _ = std::fs::remove_dir_all(&root);
}
