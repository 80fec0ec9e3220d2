//! A directory updated the way the kubelet updates a mounted ConfigMap
//! (its AtomicWriter): the files go into a new `..<timestamp>` directory, a
//! `..data` link is renamed onto it in one step, then the top-level per-key
//! links are added and stale ones removed, then the old directory goes. A
//! nested path (a volume's `items`) is a directory in the snapshot, reached
//! by a top-level link to its first component.

use std::{
    os::unix::fs::symlink,
    path::{Path, PathBuf},
};

use anyhow::Context;

pub struct ConfigMap {
    dir: PathBuf,
}

impl ConfigMap {
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf() }
    }

    /// Publishes `files` (path, contents) as the ConfigMap's new contents.
    pub fn publish(&self, files: &[(String, String)]) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir).context("creating the ConfigMap directory")?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
        let stamp = format!("..{}.{:09}", now.as_secs(), now.subsec_nanos());
        let snapshot = self.dir.join(&stamp);
        std::fs::create_dir(&snapshot).context("creating the snapshot directory")?;
        for (path, text) in files {
            let at = snapshot.join(path);
            std::fs::create_dir_all(at.parent().context("a path in the snapshot")?)?;
            std::fs::write(at, text).with_context(|| format!("writing {path}"))?;
        }
        let tops: Vec<&str> =
            files.iter().map(|(path, _)| path.split('/').next().unwrap_or(path)).collect();
        let old = std::fs::read_link(self.dir.join("..data")).ok();
        let tmp = self.dir.join("..data_tmp");
        symlink(&stamp, &tmp).context("linking ..data_tmp")?;
        std::fs::rename(&tmp, self.dir.join("..data")).context("swapping ..data")?;
        for top in &tops {
            let link = self.dir.join(top);
            if std::fs::symlink_metadata(&link).is_err() {
                symlink(format!("..data/{top}"), &link)
                    .with_context(|| format!("linking {top}"))?;
            }
        }
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && !tops.contains(&name.as_str()) {
                std::fs::remove_file(self.dir.join(&name))?;
            }
        }
        if let Some(old) = old {
            std::fs::remove_dir_all(self.dir.join(old)).context("removing the old snapshot")?;
        }
        Ok(())
    }
}
