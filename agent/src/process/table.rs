//! The process table: what the agent knows about every live process, so an
//! event can carry its ancestry. Seeded from /proc at start, then kept up to
//! date by fork, exec and exit records.

use std::{os::unix::ffi::OsStrExt, path::Path, sync::Arc};

use foldhash::HashMap;

use serde::Serialize;

use crate::{model::bytes::SharedBytes, sensor::decode::Exec};

/// Parents followed at most when building ancestry (a guard against cycles
/// from pid reuse, and against pathological depth).
pub const ANCESTRY_DEPTH_MAX: usize = 64;
/// How long an exited process stays known, so records that arrive after its
/// exit (its children's, reordered across CPUs) still find their ancestry.
pub const EXITED_GRACE_NS: u64 = 10_000_000_000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: u32,
    /// What it runs: shared with its forks until they exec, so a fork
    /// costs a count, not a copy.
    pub image: Arc<Image>,
    pub uid: u32,
    /// Start time, monotonic ns since boot.
    pub start_ns: u64,
    /// When it exited, monotonic ns; `None` while alive.
    pub exited_ns: Option<u64>,
}

/// A process's program, as its last exec (or /proc) gave it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Image {
    pub binary: SharedBytes,
    pub args: Vec<Vec<u8>>,
    pub cwd: Vec<u8>,
}

/// One link of an event's ancestry.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Ancestor {
    pub pid: u32,
    pub binary: SharedBytes,
}

#[derive(Debug, Default)]
pub struct ProcessTable {
    procs: HashMap<u32, ProcessInfo>,
}

impl ProcessTable {
    /// Reads every process in `proc_root` (normally `/proc`). Processes that
    /// vanish or cannot be read while scanning are skipped.
    pub fn seed_from(proc_root: &Path) -> Self {
        let mut table = Self::default();
        let Ok(entries) = std::fs::read_dir(proc_root) else {
            return table;
        };
        let ns_per_tick = 1_000_000_000 / procfs::ticks_per_second().max(1);
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(info) = read_proc(&entry.path(), pid, ns_per_tick) {
                table.procs.insert(pid, info);
            }
        }
        table
    }

    pub fn len(&self) -> usize {
        self.procs.len()
    }

    pub fn get(&self, pid: u32) -> Option<&ProcessInfo> {
        self.procs.get(&pid)
    }

    /// A new process: it runs its parent's program until it execs.
    pub fn on_fork(&mut self, pid: u32, ppid: u32, start_ns: u64) {
        let parent = self.procs.get(&ppid).cloned().unwrap_or_default();
        self.procs.insert(pid, ProcessInfo { pid, ppid, start_ns, exited_ns: None, ..parent });
    }

    pub fn on_exec(&mut self, exec: &Exec) {
        let pid = exec.header.pid;
        self.procs.insert(
            pid,
            ProcessInfo {
                pid,
                ppid: exec.ppid,
                image: Arc::new(Image {
                    binary: SharedBytes(Arc::from(exec.binary.as_slice())),
                    args: exec.args.clone(),
                    cwd: exec.cwd.clone(),
                }),
                uid: exec.uid,
                start_ns: exec.start_ns,
                exited_ns: None,
            },
        );
    }

    /// Marks `pid` exited at `now_ns` and returns what was known of it.
    pub fn on_exit(&mut self, pid: u32, now_ns: u64) -> Option<ProcessInfo> {
        let info = self.procs.get_mut(&pid)?;
        info.exited_ns = Some(now_ns);
        Some(info.clone())
    }

    /// The chain of parents from `ppid` up to the first process with no known
    /// parent (pid 1, or a process the agent never saw), nearest first.
    pub fn ancestors(&self, ppid: u32) -> Vec<Ancestor> {
        let mut chain = Vec::new();
        let mut next = ppid;
        while next != 0 && chain.len() < ANCESTRY_DEPTH_MAX {
            let Some(info) = self.procs.get(&next) else {
                break;
            };
            chain.push(Ancestor { pid: info.pid, binary: info.image.binary.clone() });
            if info.ppid == next {
                break;
            }
            next = info.ppid;
        }
        chain
    }

    /// Forgets processes that exited more than [`EXITED_GRACE_NS`] before `now_ns`.
    pub fn purge(&mut self, now_ns: u64) -> usize {
        let before = self.procs.len();
        self.procs
            .retain(|_, p| p.exited_ns.is_none_or(|t| now_ns.saturating_sub(t) < EXITED_GRACE_NS));
        before - self.procs.len()
    }
}

fn read_proc(dir: &Path, pid: u32, ns_per_tick: u64) -> Option<ProcessInfo> {
    let stat = procfs::process::Process::new(pid as i32).ok()?.stat().ok()?;
    let bytes_of_link = |name: &str| -> Vec<u8> {
        std::fs::read_link(dir.join(name))
            .map(|p| p.as_os_str().as_bytes().to_vec())
            .unwrap_or_default()
    };
    let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
    let uid = std::fs::metadata(dir).map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(0);
    Some(ProcessInfo {
        pid,
        ppid: stat.ppid as u32,
        image: Arc::new(Image {
            binary: SharedBytes(Arc::from(bytes_of_link("exe"))),
            args: crate::sensor::decode::split_args(&cmdline),
            cwd: bytes_of_link("cwd"),
        }),
        uid,
        start_ns: stat.starttime * ns_per_tick,
        exited_ns: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::exec_record as exec;

    #[test]
    fn ancestry_follows_forks_and_execs() {
        let mut t = ProcessTable::default();
        t.on_exec(&exec(1, 0, b"/sbin/init"));
        t.on_fork(100, 1, 5);
        t.on_exec(&exec(100, 1, b"/usr/sbin/sshd"));
        t.on_fork(200, 100, 6);
        // Before exec, the child runs its parent's program.
        assert_eq!(&*t.get(200).unwrap().image.binary.0, b"/usr/sbin/sshd");
        t.on_exec(&exec(200, 100, b"/bin/bash"));
        let chain: Vec<(u32, Vec<u8>)> =
            t.ancestors(200).into_iter().map(|a| (a.pid, a.binary.0.to_vec())).collect();
        assert_eq!(
            chain,
            vec![
                (200, b"/bin/bash".to_vec()),
                (100, b"/usr/sbin/sshd".to_vec()),
                (1, b"/sbin/init".to_vec())
            ]
        );
    }

    #[test]
    fn ancestry_stops_on_cycles_and_unknown_parents() {
        let mut t = ProcessTable::default();
        t.on_exec(&exec(10, 11, b"/a"));
        t.on_exec(&exec(11, 10, b"/b"));
        assert_eq!(t.ancestors(10).len(), 2 + (ANCESTRY_DEPTH_MAX - 2));
        assert!(t.ancestors(999).is_empty());
        t.on_exec(&exec(12, 12, b"/self"));
        assert_eq!(t.ancestors(12).len(), 1);
    }

    #[test]
    fn exited_processes_linger_then_go() {
        let mut t = ProcessTable::default();
        t.on_exec(&exec(5, 1, b"/x"));
        assert_eq!(&*t.on_exit(5, 1_000).unwrap().image.binary.0, b"/x");
        assert_eq!(t.purge(1_000 + EXITED_GRACE_NS - 1), 0);
        assert!(t.get(5).is_some());
        assert_eq!(t.purge(1_000 + EXITED_GRACE_NS), 1);
        assert!(t.get(5).is_none());
        assert!(t.on_exit(5, 0).is_none());
    }

    #[test]
    fn seeds_from_proc_including_this_process() {
        let t = ProcessTable::seed_from(Path::new("/proc"));
        let me = t.get(std::process::id()).expect("this test process is in /proc");
        assert_eq!(&*me.image.binary.0, std::env::current_exe().unwrap().as_os_str().as_bytes());
        assert!(t.get(1).is_some(), "pid 1 is seen");
        assert!(!t.ancestors(std::process::id()).is_empty());
    }
}
