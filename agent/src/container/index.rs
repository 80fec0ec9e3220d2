//! Cgroup id -> cgroup path. A cgroup v2 id is the inode number of the
//! cgroup's directory in the cgroup2 mount, so a walk of the mount builds
//! the index; the kernel's `cgroup_mkdir` records (or a rescan on a miss,
//! at most once per [`RESCAN_EVERY`]) keep it current.

use std::{
    collections::HashMap,
    os::unix::fs::DirEntryExt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// The shortest time between two walks of the cgroup tree.
pub const RESCAN_EVERY: Duration = Duration::from_secs(1);
/// A walk stops after this many cgroups (a node has a few thousand).
const MAX_CGROUPS: usize = 200_000;

#[derive(Debug)]
pub struct CgroupIndex {
    root: PathBuf,
    /// Path (relative to the root, starting with `/`), and the scan that
    /// last saw it.
    paths: HashMap<u64, (String, u64)>,
    scans: u64,
    last_scan: Instant,
}

impl CgroupIndex {
    /// Walks `root` (the cgroup2 mount) once.
    pub fn scan(root: &Path) -> Self {
        let mut index = Self {
            root: root.to_path_buf(),
            paths: HashMap::new(),
            scans: 0,
            last_scan: Instant::now(),
        };
        index.rescan();
        index
    }

    pub fn len(&self) -> usize {
        self.paths.len()
    }

    pub fn get(&self, id: u64) -> Option<&str> {
        self.paths.get(&id).map(|(path, _)| path.as_str())
    }

    /// Every cgroup id known.
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.paths.keys().copied()
    }

    /// Records a cgroup the kernel reported created.
    pub fn insert(&mut self, id: u64, path: &str) {
        self.paths.insert(id, (path.to_string(), self.scans));
    }

    /// Walks the tree again unless the last walk was less than
    /// [`RESCAN_EVERY`] ago; true if it did.
    pub fn rescan_if_due(&mut self) -> bool {
        if self.last_scan.elapsed() < RESCAN_EVERY {
            return false;
        }
        self.rescan();
        true
    }

    /// Adds what the walk finds. A cgroup missing from two walks in a row
    /// is forgotten; one missing from the last walk only is kept, so a
    /// record read late still finds the cgroup its process ran in.
    fn rescan(&mut self) {
        self.scans += 1;
        let scan = self.scans;
        walk(&self.root, |id, path| {
            self.paths.insert(id, (path, scan));
        });
        self.paths.retain(|_, (_, seen)| *seen + 1 >= scan);
        self.last_scan = Instant::now();
    }
}

/// The ancestors of a cgroup path spelled as the index spells paths
/// (`/a/b`), nearest first, ending with the root, `/`.
pub fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut at = path;
    std::iter::from_fn(move || {
        if at == "/" {
            return None;
        }
        let (parent, _) = at.rsplit_once('/')?;
        at = if parent.is_empty() { "/" } else { parent };
        Some(at)
    })
}

/// Calls `found(id, relative path)` for `root` and every cgroup below it.
/// Directories that vanish during the walk are skipped.
fn walk(root: &Path, mut found: impl FnMut(u64, String)) {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(root) else { return };
    found(meta.ino(), "/".to_string());
    let mut stack = vec![(root.to_path_buf(), String::new())];
    let mut count = 1;
    while let Some((dir, relative)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.filter_map(Result::ok) {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = format!("{relative}/{name}");
            // kernfs reports the same inode number in readdir as in stat.
            found(entry.ino(), path.clone());
            count += 1;
            if count >= MAX_CGROUPS {
                return;
            }
            stack.push((entry.path(), path));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn ancestors_run_from_the_parent_to_the_root() {
        assert_eq!(ancestors("/a/b/c").collect::<Vec<_>>(), ["/a/b", "/a", "/"]);
        assert_eq!(ancestors("/a").collect::<Vec<_>>(), ["/"]);
        assert_eq!(ancestors("/").count(), 0);
    }

    #[test]
    fn indexes_a_tree_by_inode_and_forgets_after_two_scans() {
        let dir = std::env::temp_dir().join(format!("palisade-index-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a.slice/b.scope")).unwrap();
        std::fs::write(dir.join("a.slice/file"), "not a cgroup").unwrap();
        let ino = |p: &str| std::fs::metadata(dir.join(p)).unwrap().ino();

        let mut index = CgroupIndex::scan(&dir);
        assert_eq!(index.len(), 3);
        assert_eq!(index.get(ino("")), Some("/"));
        assert_eq!(index.get(ino("a.slice")), Some("/a.slice"));
        assert_eq!(index.get(ino("a.slice/b.scope")), Some("/a.slice/b.scope"));
        assert!(!index.rescan_if_due(), "a second walk within a second is refused");

        let gone = ino("a.slice/b.scope");
        std::fs::remove_dir(dir.join("a.slice/b.scope")).unwrap();
        index.rescan();
        assert_eq!(index.get(gone), Some("/a.slice/b.scope"), "kept one more scan");
        index.rescan();
        assert_eq!(index.get(gone), None);

        index.insert(7, "/kernel/said");
        assert_eq!(index.get(7), Some("/kernel/said"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_real_cgroup2_ids_are_directory_inodes() {
        let Some(root) = crate::kernel::probe::cgroup2_mount() else {
            eprintln!("skipped: no cgroup2 mount");
            return;
        };
        let index = CgroupIndex::scan(&root);
        assert_eq!(index.get(std::fs::metadata(&root).unwrap().ino()), Some("/"));
        // This process's own cgroup is in the index under its own path.
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let path = own.lines().find_map(|l| l.strip_prefix("0::")).expect("a cgroup v2 line");
        let dir = root.join(path.trim_start_matches('/'));
        let id = std::fs::metadata(dir).unwrap().ino();
        assert_eq!(index.get(id), Some(path));
    }
}
