//! A JSON-lines file rotated by size: `events.jsonl` is written, and when a
//! record would take it past the bound it becomes `events.jsonl.1` (the
//! previous `.1` becomes `.2`, and so on); only `keep` rotated files stay.
//!
//! A failed write (a full disk, a removed directory) loses the records
//! buffered since the last successful flush: they are counted, the file is
//! reopened on the next record, and a torn last line is ended first so the
//! next record starts on its own line.

use std::{
    fs::{File, OpenOptions},
    io::{self, BufWriter, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    out: Option<BufWriter<File>>,
    /// Bytes in the active file, buffered ones included.
    size: u64,
    /// Records buffered since the last successful flush.
    unflushed: u64,
}

impl RotatingFile {
    /// Opens (or creates) the file now, so a bad path fails the start.
    pub fn open(path: &Path, max_bytes: u64, keep: usize) -> io::Result<Self> {
        let mut file =
            Self { path: path.to_path_buf(), max_bytes, keep, out: None, size: 0, unflushed: 0 };
        file.reopen()?;
        Ok(file)
    }

    /// Appends one record (a line without its newline).
    pub fn write(&mut self, line: &[u8]) -> Result<(), Lost> {
        let len = line.len() as u64 + 1;
        if self.out.is_some() && self.size > 0 && self.size + len > self.max_bytes {
            self.flush()?;
            self.rotate().map_err(|e| self.lose(e))?;
        }
        if self.out.is_none() {
            self.reopen().map_err(|e| self.lose(e))?;
        }
        let out = self.out.as_mut().expect("opened above");
        match out.write_all(line).and_then(|()| out.write_all(b"\n")) {
            Ok(()) => {
                self.size += len;
                self.unflushed += 1;
                Ok(())
            }
            Err(e) => {
                self.unflushed += 1;
                Err(self.lose(e))
            }
        }
    }

    /// Hands buffered records to the kernel.
    pub fn flush(&mut self) -> Result<(), Lost> {
        let Some(out) = self.out.as_mut() else { return Ok(()) };
        match out.flush() {
            Ok(()) => {
                self.unflushed = 0;
                Ok(())
            }
            Err(e) => Err(self.lose(e)),
        }
    }

    /// Drops the writer and its unflushed records, reporting how many.
    fn lose(&mut self, error: io::Error) -> Lost {
        if let Some(out) = self.out.take() {
            // Whatever the buffer holds is gone; do not retry it on drop.
            let _ = out.into_parts();
        }
        Lost { records: std::mem::take(&mut self.unflushed), error }
    }

    fn reopen(&mut self) -> io::Result<()> {
        let mut file = OpenOptions::new().create(true).append(true).read(true).open(&self.path)?;
        let size = file.metadata()?.len();
        if size > 0 {
            let mut last = [0u8];
            file.seek(SeekFrom::Start(size - 1))?;
            file.read_exact(&mut last)?;
            if last[0] != b'\n' {
                file.write_all(b"\n")?;
            }
        }
        self.size = file.metadata()?.len();
        self.out = Some(BufWriter::with_capacity(1 << 16, file));
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.out = None;
        let numbered = |n: usize| {
            let mut name = self.path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        if self.keep == 0 {
            return remove_if_present(&self.path);
        }
        remove_if_present(&numbered(self.keep))?;
        for n in (1..self.keep).rev() {
            match std::fs::rename(numbered(n), numbered(n + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, numbered(1))
    }
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Records that could not be written.
#[derive(Debug)]
pub struct Lost {
    pub records: u64,
    pub error: io::Error,
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::scratch;

    #[test]
    fn rotates_by_size_and_keeps_the_configured_number_of_files() {
        let dir = scratch("file-rotate");
        let path = dir.join("events.jsonl");
        let mut file = RotatingFile::open(&path, 4096, 2).unwrap();
        let line = [b'x'; 999];
        for _ in 0..30 {
            file.write(&line).unwrap();
        }
        file.flush().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["events.jsonl", "events.jsonl.1", "events.jsonl.2"]);
        for name in &names {
            let len = std::fs::metadata(dir.join(name)).unwrap().len();
            assert!(len <= 4096 && len.is_multiple_of(1000), "{name}: {len}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_last_line_is_ended_before_the_next_record() {
        let dir = scratch("file-torn");
        let path = dir.join("events.jsonl");
        std::fs::write(&path, b"{\"a\":1}\n{\"tor").unwrap();
        let mut file = RotatingFile::open(&path, 1 << 20, 1).unwrap();
        file.write(b"{\"b\":2}").unwrap();
        file.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().last(), Some("{\"b\":2}"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
