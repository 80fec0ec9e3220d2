//! Watches the runtimes' state roots with inotify (raw libc, no extra
//! crate) and learns each new container as soon as its runtime writes its
//! state: before the container's first process runs, and before a
//! container that runs one command and exits is gone.
//!
//! inotify rather than polling the directories: a container that runs
//! `/bin/true` lives for a few milliseconds, far less than any sane poll
//! period. A root that does not exist yet (the runtime has not started) is
//! looked for again every [`WAIT_MS`].

use std::{
    collections::HashMap,
    ffi::CString,
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
    thread::JoinHandle,
};

use tracing::{debug, info, warn};

use super::{error::WatchError, known::Learner};

/// The poll timeout: how often missing roots are looked for, and how soon
/// the thread notices that the resolver is gone.
const WAIT_MS: i32 = 500;
/// Files whose appearance completes a container's state: runc's
/// `state.json` (written to a temporary file, then renamed), crun's
/// `status` and its copy of `config.json`.
const STATE_FILES: &[&[u8]] = &[b"state.json", b"status", b"config.json"];

const ROOT_MASK: u32 =
    libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_DELETE | libc::IN_MOVED_FROM | libc::IN_ONLYDIR;
const CONTAINER_MASK: u32 = libc::IN_CLOSE_WRITE | libc::IN_MOVED_TO | libc::IN_ONLYDIR;

/// Starts the watcher thread; it stops when `learner`'s other holders are
/// gone.
pub fn spawn(learner: Learner) -> Result<JoinHandle<()>, WatchError> {
    // SAFETY: no pointers; the flags are valid.
    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if fd < 0 {
        return Err(WatchError::Init { source: std::io::Error::last_os_error() });
    }
    let fd = Fd(fd);
    std::thread::Builder::new()
        .name("palisade-runtimes".into())
        .spawn(move || {
            raise_priority();
            Watcher::new(fd, learner).run()
        })
        .map_err(|source| WatchError::Thread { source })
}

/// Nice value of the watcher thread: it must read a container's state in
/// the milliseconds between its runtime writing and removing it, and on a
/// busy node a thread of the default weight waits longer than that for a
/// CPU (`kernel_containers`' one-command container under three busy loops
/// on two CPUs: its name and image lost in 4 of 20 runs at the default
/// priority, 0 of 12 at this one). The thread sleeps in `poll` all but the
/// moments it reads a state file, so its weight costs the node nothing.
const WATCHER_NICE: i32 = -10;

/// Gives this thread [`WATCHER_NICE`]; without CAP_SYS_NICE it keeps the
/// default, and says so.
fn raise_priority() {
    // SAFETY: gettid has no preconditions; setpriority on this thread's id.
    let raised = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, WATCHER_NICE)
    };
    if raised != 0 {
        info!(
            err = %std::io::Error::last_os_error(),
            "the runtime state watcher keeps the default priority (no CAP_SYS_NICE): on a busy node a container that lives a few ms may go unnamed"
        );
    }
}

/// Closes the inotify descriptor when the thread ends.
struct Fd(i32);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

struct Watcher {
    fd: Fd,
    learner: Learner,
    /// Watched roots by watch descriptor.
    roots: HashMap<i32, PathBuf>,
    /// Containers whose state is not complete yet, by watch descriptor.
    pending: HashMap<i32, PathBuf>,
    /// Roots that did not exist when last looked for.
    missing: Vec<PathBuf>,
}

impl Watcher {
    fn new(fd: Fd, learner: Learner) -> Self {
        let missing = learner.roots().to_vec();
        Self { fd, learner, roots: HashMap::new(), pending: HashMap::new(), missing }
    }

    fn run(mut self) {
        let mut buf = Buffer([0; 16 * 1024]);
        while self.learner.shared() {
            self.watch_new_roots();
            let mut pfd = libc::pollfd { fd: self.fd.0, events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut pfd, 1, WAIT_MS) };
            if ready <= 0 {
                continue;
            }
            loop {
                // SAFETY: reads into our buffer, within its length.
                let n = unsafe { libc::read(self.fd.0, buf.0.as_mut_ptr().cast(), buf.0.len()) };
                if n <= 0 {
                    break;
                }
                for event in Events::new(&buf.0[..n as usize]) {
                    self.handle(&event);
                }
            }
        }
        debug!("runtime state watcher stopped");
    }

    /// Watches the roots that exist now and learns what they already hold.
    fn watch_new_roots(&mut self) {
        let mut still_missing = Vec::new();
        for root in std::mem::take(&mut self.missing) {
            match self.add_watch(&root, ROOT_MASK) {
                Some(wd) => {
                    info!(root = %root.display(), "watching a container runtime's state");
                    self.roots.insert(wd, root.clone());
                    // A directory created before the watch was added sent no
                    // event, and its state may still be on its way.
                    for dir in self.learner.unknown_dirs(&root) {
                        self.follow(dir);
                    }
                }
                None => still_missing.push(root),
            }
        }
        self.missing = still_missing;
    }

    fn handle(&mut self, event: &Event<'_>) {
        if event.mask & libc::IN_Q_OVERFLOW != 0 {
            warn!("the runtime state watcher's queue overflowed; reading the state roots again");
            self.learner.sweep();
            return;
        }
        if event.mask & libc::IN_IGNORED != 0 {
            // The directory is gone (its watch with it).
            self.pending.remove(&event.wd);
            if let Some(root) = self.roots.remove(&event.wd) {
                self.missing.push(root);
            }
            return;
        }
        if let Some(root) = self.roots.get(&event.wd) {
            let id = String::from_utf8_lossy(event.name).into_owned();
            let dir = root.join(&id);
            if event.mask & (libc::IN_DELETE | libc::IN_MOVED_FROM) != 0 {
                self.learner.forget_later(&id);
            } else if event.mask & libc::IN_ISDIR != 0 {
                self.follow(dir);
            }
        } else if let Some(dir) = self.pending.get(&event.wd)
            && STATE_FILES.contains(&event.name)
            && self.learner.learn(dir)
        {
            self.pending.remove(&event.wd);
            self.unwatch(Some(event.wd));
        }
    }

    /// Learns the container in `dir`, or watches it until its state is
    /// complete. Watch first, then read: a state file written in between
    /// is seen either way.
    fn follow(&mut self, dir: PathBuf) {
        let wd = self.add_watch(&dir, CONTAINER_MASK);
        if self.learner.learn(&dir) {
            self.unwatch(wd);
        } else if let Some(wd) = wd {
            self.pending.insert(wd, dir);
        }
    }

    fn add_watch(&self, dir: &Path, mask: u32) -> Option<i32> {
        let path = CString::new(dir.as_os_str().as_bytes()).ok()?;
        // SAFETY: a valid NUL-terminated path.
        let wd = unsafe { libc::inotify_add_watch(self.fd.0, path.as_ptr(), mask) };
        (wd >= 0).then_some(wd)
    }

    fn unwatch(&self, wd: Option<i32>) {
        if let Some(wd) = wd {
            // SAFETY: a descriptor we added; a stale one only fails.
            unsafe { libc::inotify_rm_watch(self.fd.0, wd) };
        }
    }
}

/// Aligned for `struct inotify_event`.
#[repr(C, align(8))]
struct Buffer([u8; 16 * 1024]);

/// One `struct inotify_event`.
struct Event<'a> {
    wd: i32,
    mask: u32,
    /// The file's name in the watched directory, without its NUL padding.
    name: &'a [u8],
}

/// The events in a buffer `read(2)` filled, parsed field by field.
struct Events<'a> {
    buf: &'a [u8],
}

impl<'a> Events<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }
}

impl<'a> Iterator for Events<'a> {
    type Item = Event<'a>;

    fn next(&mut self) -> Option<Event<'a>> {
        const HEADER: usize = 16; // wd, mask, cookie, len
        let field = |at: usize| -> Option<[u8; 4]> { self.buf.get(at..at + 4)?.try_into().ok() };
        let wd = i32::from_ne_bytes(field(0)?);
        let mask = u32::from_ne_bytes(field(4)?);
        let len = u32::from_ne_bytes(field(12)?) as usize;
        let name = self.buf.get(HEADER..HEADER + len)?;
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(len)];
        self.buf = &self.buf[HEADER + len..];
        Some(Event { wd, mask, name })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::container::state::tests::{ID, runc_container, scratch};

    #[test]
    fn parses_events_with_padded_names() {
        let mut buf = Vec::new();
        for (wd, mask, name) in
            [(1, libc::IN_CREATE, &b"abc\0\0\0\0\0"[..]), (2, libc::IN_IGNORED, b"")]
        {
            buf.extend_from_slice(&i32::to_ne_bytes(wd));
            buf.extend_from_slice(&u32::to_ne_bytes(mask));
            buf.extend_from_slice(&0u32.to_ne_bytes());
            buf.extend_from_slice(&(name.len() as u32).to_ne_bytes());
            buf.extend_from_slice(name);
        }
        let events: Vec<_> = Events::new(&buf).map(|e| (e.wd, e.mask, e.name.to_vec())).collect();
        assert_eq!(events, [(1, libc::IN_CREATE, b"abc".to_vec()), (2, libc::IN_IGNORED, vec![])]);
        // A truncated buffer ends the iteration instead of reading past it.
        assert_eq!(Events::new(&buf[..20]).count(), 0);
    }

    #[test]
    fn learns_a_container_created_after_the_watch_started_and_a_root_that_appears_later() {
        let base = scratch("watch");
        let root = base.join("k8s.io");
        let learner = Learner::new(vec![root.clone()], Path::new("/sys/fs/cgroup/unified"));
        let handle = spawn(learner.clone()).unwrap();
        // The root appears after the watcher started, then a container in it.
        std::thread::sleep(Duration::from_millis(50));
        std::fs::create_dir_all(&root).unwrap();
        std::thread::sleep(Duration::from_millis(2 * WAIT_MS as u64));
        runc_container(&root, &base.join("bundles"), ID, "/x", Path::new("/sys/fs/cgroup"));
        // Generous: the watcher thread shares two cores with the VM's
        // emulation under `cargo xtask test` (5 s was exceeded once).
        let deadline = Instant::now() + Duration::from_secs(30);
        // Looked up without reading the root: only what the watcher learned.
        let learned = || learner.knows(ID);
        while !learned() {
            assert!(Instant::now() < deadline, "the watcher did not learn the container");
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(learner);
        handle.join().unwrap();
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn learns_a_container_whose_directory_predates_the_watch_and_its_state_does_not() {
        let base = scratch("watch-early");
        let root = base.join("k8s.io");
        let (early, marker) = (ID.replace('9', "7"), ID.replace('9', "6"));
        // Made before the watch exists: no creation event will ever come.
        std::fs::create_dir_all(root.join(&early)).unwrap();
        runc_container(&root, &base.join("bundles"), &marker, "/m", Path::new("/sys/fs/cgroup"));
        let learner = Learner::new(vec![root.clone()], Path::new("/sys/fs/cgroup/unified"));
        let handle = spawn(learner.clone()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        // The marker is learned in the same pass over the root as `early`.
        while !learner.knows(&marker) {
            assert!(Instant::now() < deadline, "the watcher did not read the root");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(50));
        runc_container(&root, &base.join("bundles"), &early, "/e", Path::new("/sys/fs/cgroup"));
        while !learner.knows(&early) {
            assert!(
                Instant::now() < deadline,
                "a state completed after the root was read was missed"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(learner);
        handle.join().unwrap();
        std::fs::remove_dir_all(&base).unwrap();
    }
}
