//! File activity from the real kernel: the syscall tracepoints, filtered in
//! the kernel by the prefixes the bundle watches. Real programs (cat, tee,
//! mv, chmod, rm) act on files under a temporary directory the test bundle
//! watches; the test asserts each event with its process and the rule's
//! match, and that activity outside the prefixes, reads under a
//! write-only prefix, and the agent's own reads produce nothing; a reloaded
//! bundle's prefixes replace the old ones. A kernel file rule denies opens
//! where BPF-LSM runs (the 6.1 VM), by the resolved path whatever the
//! spelling, and is reported only where it does not (this host).

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

/// A rule denying, in the kernel, opens for reading of `key` and for
/// writing of anything under `locked`; its `hits` report the same opens
/// where the kernel cannot deny them.
fn denying_rule(key: &str, locked: &str) -> String {
    format!(
        r#"package palisade.rules.denied

import rego.v1

key := {key:?}

locked := {locked:?}

files := {{"read": [key], "write": [locked]}}

kernel := {{"scope": "all", "file": {{"read": [key], "write": [locked]}}}}

meta := {{"id": "T-DENY", "title": "locked files", "severity": "high", "mitre": "T1005", "action": "block", "kinds": ["file_open"]}}

hits contains msg if {{
	startswith(input.file.path, key)
	msg := concat(" ", ["read", input.file.path])
}}

hits contains msg if {{
	input.file.access == "write"
	startswith(input.file.path, locked)
	msg := concat(" ", ["write", input.file.path])
}}
"#
    )
}

/// The mechanism `palisade probe` says denies opens.
fn file_mechanism() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_palisade")).args(["probe", "--json"]).output();
    let probe: Value = serde_json::from_slice(&out.expect("probe").stdout).expect("probe JSON");
    probe["mechanisms"]["file"].as_str().expect("file mechanism").to_string()
}

/// Runs `sh -c script` (a builtin's redirection opens in the shell
/// itself); whether it succeeded, and its pid.
fn sh(script: &str) -> (bool, u32) {
    outcome(Command::new("sh").args(["-c", script]))
}

/// `cat path` in `dir`; whether it succeeded, and its pid.
fn cat_in(dir: &Path, path: &str) -> (bool, u32) {
    outcome(Command::new("cat").arg(path).current_dir(dir))
}

fn outcome(command: &mut Command) -> (bool, u32) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh starts");
    let pid = child.id();
    (child.wait().expect("wait").success(), pid)
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
    let locked = root.join("locked");
    std::fs::create_dir_all(&locked).unwrap();
    let (key, open_file) = (locked.join("key"), locked.join("open"));
    for file in [&key, &open_file] {
        std::fs::write(file, "x\n").unwrap();
    }
    // Another name for the key, made before the rule.
    std::fs::hard_link(&key, root.join("key-prelinked")).unwrap();
    let bundle = TempBundle::new("files");
    bundle
        .write("files.rego", support::bundle::FILES_LIB)
        .write("rules/watched.rego", &watching_rule(&[&read_prefix, "/proc/1/"], &[&write_prefix]))
        .write("rules/denied.rego", &denying_rule(text(&key), &format!("{}/", text(&locked))))
        .write(
            support::bundle::CONFIG_FILE,
            r#"{"mode": "audit", "rule_modes": {"T-DENY": "enforce"}}"#,
        );
    let mut agent = Agent::start_with(&["--policy", text(bundle.path())]);
    let me = agent.pid();
    agent.wait_for_log("watched file prefixes in the kernel");
    agent.wait_for_log("kernel rules in force");

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

    kernel_file_rule_holds(&mut agent, &root, &key, &open_file);

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

/// The kernel file rule of [`denying_rule`] (`key` read-denied, its
/// directory write-denied), as the mechanism allows: denied with EPERM by
/// BPF-LSM through every spelling of the path, or reported as a block
/// that was not enforced.
fn kernel_file_rule_holds(agent: &mut Agent, root: &Path, key: &Path, open_file: &Path) {
    let mechanism = file_mechanism();
    if std::env::var("PALISADE_EXPECT_EXEC_MECHANISM").as_deref() == Ok("bpf-lsm") {
        assert_eq!(mechanism, "bpf-lsm", "BPF-LSM runs here, yet file opens are not judged by it");
    }
    let lsm = mechanism == "bpf-lsm";
    let locked = key.parent().expect("key's directory");
    let denied = |e: &Value| {
        let enforcement = &e["decision"]["enforcement"];
        if lsm {
            assert_eq!(enforcement["mechanism"], "bpf-lsm", "{e:#}");
            assert_eq!(enforcement["result"], "denied", "{e:#}");
            assert_eq!(enforcement["rule"], "T-DENY", "{e:#}");
            assert_eq!(
                (e["file"]["result"].as_str(), e["file"]["errno"].as_i64()),
                (Some("failed"), Some(1)),
                "{e:#}"
            );
        } else {
            // Judged in userspace, after the open: a block not carried out.
            assert_eq!(e["decision"]["matched"][0]["rule"], "T-DENY", "{e:#}");
            assert_eq!(enforcement["mechanism"], "none", "{e:#}");
            assert_eq!(e["file"]["result"], "ok", "{e:#}");
        }
    };

    // Reading the key, by its path: stopped, or reported.
    let (ok, pid) = cat_in(root, text(key));
    assert_eq!(ok, !lsm, "cat of the read-denied key: succeeded {ok} with {mechanism}");
    let e = file_event(agent, "file_open", pid, key);
    denied(&e);
    // Reading another file of the directory is allowed; writing it is not.
    let (ok, _) = cat_in(root, text(open_file));
    assert!(ok, "a read the rule does not name failed");
    let (ok, pid) = sh(&format!("echo y > {}", text(open_file)));
    assert_eq!(ok, !lsm, "a write under the write-denied directory: succeeded {ok}");
    let e = file_event(agent, "file_open", pid, open_file);
    assert_eq!(e["file"]["access"], "write", "{e:#}");
    denied(&e);
    assert_eq!(std::fs::read_to_string(open_file).unwrap(), if lsm { "x\n" } else { "y\n" });
    if !lsm {
        return;
    }
    // Other spellings of the key reach the same file, and the hook judges
    // the file: a symlink, a relative path, the process's root through
    // /proc. The sensor does not watch these strings: the hook's own
    // record carries the resolved path.
    let link = root.join("key-link");
    std::os::unix::fs::symlink(key, &link).unwrap();
    for (dir, path) in [
        (root, text(&link).to_string()),
        (locked, "key".to_string()),
        (root, format!("/proc/self/root{}", text(key))),
    ] {
        let (ok, pid) = cat_in(dir, &path);
        assert!(!ok, "cat {path} in {} read the denied key", dir.display());
        let e = agent.wait_for(&format!("the hook's record of cat {path}"), |e| {
            e["kind"] == "file_open" && e["process"]["pid"] == pid
        });
        assert_schema(&e);
        assert_eq!(e["file"]["path"], text(key), "{e:#}");
        denied(&e);
    }
    chroot_cannot_respell_the_key(agent, root, key, &denied);
    names_under_the_write_prefix_hold(agent, root, locked, key, &denied);
    other_names_of_the_same_files_hold(agent, root, locked, key, &denied);
}

/// The key's hard link made before the rule, and the locked directory
/// bind-mounted elsewhere: other paths to the same files, denied by their
/// identity (the key's inode, the directory's).
fn other_names_of_the_same_files_hold(
    agent: &mut Agent,
    root: &Path,
    locked: &Path,
    key: &Path,
    denied: &dyn Fn(&Value),
) {
    let bound = root.join("bound");
    std::fs::create_dir_all(&bound).unwrap();
    let c = |p: &Path| std::ffi::CString::new(text(p)).unwrap();
    let (source, target) = (c(locked), c(&bound));
    // SAFETY: mount(2) with NUL-terminated paths; MS_BIND ignores the rest.
    let mounted = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    assert_eq!(mounted, 0, "bind mount: {}", std::io::Error::last_os_error());
    let prelinked = root.join("key-prelinked");
    let bound_key = bound.join("key");
    let ino = |p: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(p).unwrap());
    assert!(ino(&prelinked) == ino(key) && ino(&bound_key) == ino(key), "not the key's inode");
    for path in [&prelinked, &bound_key] {
        let (ok, pid) = cat_in(root, text(path));
        assert!(!ok, "cat {} read the denied key", path.display());
        let e = agent.wait_for(&format!("the hook's record of cat {}", path.display()), |e| {
            e["kind"] == "file_open" && e["process"]["pid"] == pid
        });
        assert_schema(&e);
        assert_eq!(e["file"]["path"], text(path), "{e:#}");
        denied(&e);
    }
    let (ok, pid) = sh(&format!("echo y > {}", text(&bound.join("open"))));
    assert!(!ok, "a write through the bind mount went through");
    let e = agent.wait_for("the hook's record of the write through the bind mount", |e| {
        e["kind"] == "file_open" && e["process"]["pid"] == pid
    });
    denied(&e);
    let removed = std::fs::remove_file(bound.join("open"));
    assert_eq!(
        removed.map_err(|e| e.raw_os_error()),
        Err(Some(libc::EPERM)),
        "unlink through the bind mount"
    );
    // SAFETY: umount(2) of the mount made above.
    assert_eq!(unsafe { libc::umount(target.as_ptr()) }, 0, "umount");
    assert_eq!(std::fs::read_to_string(locked.join("open")).unwrap(), "x\n");
}

/// A process chrooted into the key's parent asks for `/locked/key`: the
/// hook resolves the path up to its mount namespace's root, not its root
/// directory, and denies it.
fn chroot_cannot_respell_the_key(
    agent: &mut Agent,
    root: &Path,
    key: &Path,
    denied: &dyn Fn(&Value),
) {
    use std::{ffi::CString, os::unix::ffi::OsStrExt};
    let new_root = CString::new(root.as_os_str().as_bytes()).unwrap();
    let inside = CString::new(key.strip_prefix(root).unwrap().as_os_str().as_bytes()).unwrap();
    let inside = CString::new([b"/", inside.as_bytes()].concat()).unwrap();
    // SAFETY: the child makes only async-signal-safe calls (chroot, open,
    // _exit) on memory prepared before the fork.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        unsafe {
            if libc::chroot(new_root.as_ptr()) != 0 {
                libc::_exit(100);
            }
            let fd = libc::open(inside.as_ptr(), libc::O_RDONLY);
            libc::_exit(if fd >= 0 { 0 } else { *libc::__errno_location() });
        }
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status), "the chrooted child did not exit");
    assert_eq!(
        libc::WEXITSTATUS(status),
        libc::EPERM,
        "the chrooted open of {inside:?} was not denied"
    );
    let e = agent.wait_for("the hook's record of the chrooted open", |e| {
        e["kind"] == "file_open" && e["process"]["pid"] == pid
    });
    assert_schema(&e);
    assert_eq!(e["file"]["path"], text(key), "{e:#}");
    assert_eq!(e["file"]["syscall"], "file_open_hook", "{e:#}");
    denied(&e);
}

/// A call made, and the record it must leave: (what, the call's result,
/// kind, the hook when the record is its own (else the system call's
/// tracepoint made it), the path in the record).
type Case = (&'static str, std::io::Result<()>, &'static str, Option<&'static str>, PathBuf);

/// Under the write-denied directory, every call that changes a name or an
/// attribute fails with EPERM and changes nothing, whether spelled through
/// the watched prefix (the verdict joins the syscall's record) or through a
/// symlinked directory the sensor does not watch (the hook's own record, of
/// the resolved path); a hard link of the read-denied key is refused too.
/// The calls are this test process's own.
fn names_under_the_write_prefix_hold(
    agent: &mut Agent,
    root: &Path,
    locked: &Path,
    key: &Path,
    denied: &dyn Fn(&Value),
) {
    use std::os::unix::fs::{PermissionsExt, chown, symlink};
    let me = std::process::id();
    let alias = root.join("locked-alias");
    symlink(locked, &alias).unwrap();
    let outside = root.join("outside");
    std::fs::write(&outside, "o\n").unwrap();
    let open_file = locked.join("open");
    let refused = |what: &str, result: std::io::Result<()>| match result {
        Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{what}: {e}"),
        Ok(()) => panic!("{what} succeeded under the write-denied directory"),
    };
    let truncate = |path: &Path| {
        let c = std::ffi::CString::new(text(path)).unwrap();
        // SAFETY: truncate(2) on a NUL-terminated path.
        match unsafe { libc::truncate(c.as_ptr(), 0) } {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        }
    };
    let cases: Vec<Case> = vec![
        ("unlink", std::fs::remove_file(&open_file), "file_unlink", None, open_file.clone()),
        (
            "unlink through the alias",
            std::fs::remove_file(alias.join("open")),
            "file_unlink",
            Some("path_unlink_hook"),
            open_file.clone(),
        ),
        (
            "rename out",
            std::fs::rename(&open_file, root.join("moved")),
            "file_rename",
            None,
            open_file.clone(),
        ),
        (
            "rename in through the alias",
            std::fs::rename(&outside, alias.join("new")),
            "file_rename",
            Some("path_rename_hook"),
            outside.clone(),
        ),
        (
            "chmod through the alias",
            std::fs::set_permissions(alias.join("open"), PermissionsExt::from_mode(0o600)),
            "file_chmod",
            Some("path_chmod_hook"),
            open_file.clone(),
        ),
        (
            "chown through the alias",
            chown(alias.join("open"), Some(0), Some(0)),
            "file_chmod",
            Some("path_chown_hook"),
            open_file.clone(),
        ),
        (
            "create through the alias",
            std::fs::File::create_new(alias.join("created")).map(drop),
            "file_open",
            Some("path_mknod_hook"),
            locked.join("created"),
        ),
        (
            "symlink through the alias",
            symlink("/etc/hostname", alias.join("planted")),
            "file_open",
            Some("path_symlink_hook"),
            locked.join("planted"),
        ),
        (
            "hard link of the read-denied key",
            std::fs::hard_link(key, root.join("key-hard")),
            "file_open",
            Some("path_link_hook"),
            key.to_path_buf(),
        ),
        (
            "truncate through the alias",
            truncate(&alias.join("open")),
            "file_open",
            Some("path_truncate_hook"),
            open_file.clone(),
        ),
    ];
    for (what, result, kind, hook, path) in cases {
        refused(what, result);
        let e = agent.wait_for(&format!("the record of the {what}"), |e| {
            let syscall = e["file"]["syscall"].as_str().unwrap_or_default();
            let by = match hook {
                Some(hook) => syscall == hook,
                None => !syscall.ends_with("_hook"),
            };
            e["kind"] == kind && e["process"]["pid"] == me && by
        });
        assert_schema(&e);
        assert_eq!(e["file"]["path"], text(&path), "{what}: {e:#}");
        denied(&e);
    }
    // Nothing changed.
    assert_eq!(std::fs::read_to_string(&open_file).unwrap(), "x\n");
    let mode = std::fs::metadata(&open_file).unwrap().permissions().mode() & 0o777;
    assert_ne!(mode, 0o600, "the chmod went through");
    for gone in
        [locked.join("new"), locked.join("created"), locked.join("planted"), root.join("key-hard")]
    {
        assert!(std::fs::symlink_metadata(&gone).is_err(), "{} exists", gone.display());
    }
    assert!(outside.exists(), "the renamed-in file left its place");
}
