//! A bounded on-disk queue of records for a sink that can be down: the
//! processing thread appends, a sender takes batches from the front and
//! acknowledges them once delivered.
//!
//! Layout: numbered segment files (`00000000000000000001.seg`, ...), each a
//! run of JSON lines, oldest first; the last one takes appends. `cursor`
//! holds `<segment> <offset>` of the first record not yet delivered, written
//! (atomically, by rename) after every acknowledged batch. After a restart
//! delivery resumes at the cursor; a batch delivered but not yet
//! acknowledged is sent again (at-least-once: receivers de-duplicate on the
//! record's `id`).
//!
//! When appending would take the spool past its bound, whole segments are
//! dropped from the front (at most an eighth of the bound each), and their
//! undelivered records are counted, never silently lost. Appends reach the
//! kernel on every flush, so they survive the agent's death; an unclean
//! power loss may lose what was not yet written back.

use std::{
    collections::VecDeque,
    fs::{self, File, OpenOptions},
    io::{self, BufWriter, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::{Condvar, Mutex, MutexGuard},
    time::Duration,
};

/// Segments a spool is cut into: the granularity of dropping.
const SEGMENTS: u64 = 8;

pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    state: Mutex<State>,
    /// Signalled when appends become readable.
    readable: Condvar,
}

struct State {
    segments: VecDeque<Segment>,
    /// Writer of the last segment.
    writer: Option<BufWriter<File>>,
    cursor: Cursor,
    next_seq: u64,
    /// Records dropped before delivery since the spool was opened.
    dropped: u64,
    /// How many readable records the sender waits for, if it waits: a
    /// flush wakes it only then (not once per flush, a wake-up and a
    /// context switch for every few records).
    wake_at: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    seq: u64,
    /// Bytes appended (some maybe still buffered).
    bytes: u64,
    /// Bytes flushed: what a reader may read.
    readable: u64,
    records: u64,
    /// Records flushed.
    readable_records: u64,
}

impl Segment {
    fn empty(seq: u64) -> Self {
        Self { seq, bytes: 0, readable: 0, records: 0, readable_records: 0 }
    }
}

/// The first undelivered record: segment, byte offset, and how many records
/// of that segment precede it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    seq: u64,
    offset: u64,
    index: u64,
}

/// What the spool counted since it was opened.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    /// Records dropped before delivery: the bound was reached, a record was
    /// larger than the bound, or a record was torn by a crash.
    pub dropped: u64,
    /// Records appended and waiting for delivery.
    pub waiting: u64,
    /// Bytes on disk.
    pub bytes: u64,
}

/// Records taken from the front, to deliver then [`Spool::ack`].
pub struct Batch {
    from: Cursor,
    to: Cursor,
    pub records: u64,
    /// The records, each ending in a newline.
    pub body: Vec<u8>,
}

#[cfg(test)]
impl Batch {
    /// A batch holding `body`, for transports' tests.
    pub fn for_test(body: Vec<u8>, records: u64) -> Self {
        let at = Cursor { seq: 0, offset: 0, index: 0 };
        Self { from: at, to: at, records, body }
    }
}

impl Spool {
    /// Opens the spool in `dir` (created if missing), recovering what a
    /// previous agent left: torn last records are cut and counted.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let mut seqs: Vec<u64> = fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".seg")?.parse().ok())
            .collect();
        seqs.sort_unstable();
        let mut dropped = 0;
        let mut segments = VecDeque::new();
        for seq in seqs {
            let (segment, torn) = recover(&segment_path(dir, seq), seq)?;
            dropped += torn;
            segments.push_back(segment);
        }
        let first = segments.front().map(|s| s.seq);
        let last = segments.back().map(|s| s.seq);
        let cursor = match read_cursor(dir) {
            Some((seq, offset)) if segments.iter().any(|s| s.seq == seq) => {
                let segment = segments.iter().find(|s| s.seq == seq).expect("checked");
                let offset = offset.min(segment.bytes);
                Cursor { seq, offset, index: count_lines(&segment_path(dir, seq), offset)? }
            }
            // Past every segment: all were delivered (the agent stopped
            // before removing them).
            Some((seq, _)) if last.is_none_or(|l| seq > l) => Cursor { seq, offset: 0, index: 0 },
            // Before the first (dropped since), or no cursor: the front.
            _ => Cursor { seq: first.unwrap_or(1), offset: 0, index: 0 },
        };
        // Segments wholly before the cursor were delivered.
        while segments.front().is_some_and(|s| s.seq < cursor.seq) {
            let gone = segments.pop_front().expect("checked");
            fs::remove_file(segment_path(dir, gone.seq))?;
        }
        let next_seq = segments.back().map_or(cursor.seq, |s| s.seq + 1);
        let spool = Self {
            dir: dir.to_path_buf(),
            max_bytes,
            segment_bytes: (max_bytes / SEGMENTS).max(1),
            state: Mutex::new(State {
                segments,
                writer: None,
                cursor,
                next_seq,
                dropped,
                wake_at: None,
            }),
            readable: Condvar::new(),
        };
        Ok(spool)
    }

    pub fn counts(&self) -> Counts {
        self.lock().counts()
    }

    /// Appends one record (without its newline). Makes room by dropping the
    /// oldest segments; a record larger than a segment is dropped itself. A
    /// failed write drops the records not yet flushed (counted) and the next
    /// append starts a new segment.
    pub fn append(&self, line: &[u8]) -> io::Result<()> {
        let len = line.len() as u64 + 1;
        let mut state = self.lock();
        if len > self.segment_bytes {
            state.dropped += 1;
            return Ok(());
        }
        let mut total: u64 = state.segments.iter().map(|s| s.bytes).sum();
        while total + len > self.max_bytes && state.segments.len() > 1 {
            total -= state.drop_oldest(&self.dir)?;
        }
        let full = state.segments.back().is_none_or(|s| s.bytes + len > self.segment_bytes);
        if state.writer.is_none() || full {
            state.flush()?;
            let seq = state.next_seq;
            let path = segment_path(&self.dir, seq);
            let file = OpenOptions::new().create(true).append(true).open(path)?;
            state.next_seq += 1;
            state.writer = Some(BufWriter::with_capacity(1 << 16, file));
            state.segments.push_back(Segment::empty(seq));
            if state.segments.len() == 1 {
                state.cursor = Cursor { seq, offset: 0, index: 0 };
            }
        }
        let writer = state.writer.as_mut().expect("a segment is open");
        if let Err(e) = writer.write_all(line).and_then(|()| writer.write_all(b"\n")) {
            state.abandon_unflushed(&self.dir, 1);
            return Err(e);
        }
        let last = state.segments.back_mut().expect("a segment is open");
        last.bytes += len;
        last.records += 1;
        Ok(())
    }

    /// Makes appended records readable by the sender, and wakes it if it
    /// waits for as many.
    pub fn flush(&self) -> io::Result<()> {
        let mut state = self.lock();
        state.flush()?;
        let wake = state.wake_at.is_some_and(|n| state.readable_records() >= n);
        drop(state);
        if wake {
            self.readable.notify_all();
        }
        Ok(())
    }

    /// Wakes a sender waiting for records (it is stopping).
    pub fn wake(&self) {
        self.readable.notify_all();
    }

    /// Waits up to `linger` until `records` are readable: a trickle of
    /// records then leaves in a few full batches rather than one request
    /// each (what a request costs, HTTP and compression, dwarfs a record).
    pub fn linger(&self, records: usize, linger: Duration) {
        let deadline = std::time::Instant::now() + linger;
        let mut state = self.lock();
        while state.readable_records() < records as u64 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            state.wake_at = Some(records as u64);
            state = self.readable.wait_timeout(state, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        state.wake_at = None;
    }

    /// Waits up to `wait` for records, then takes up to `max_records` (and
    /// about `max_bytes`) from the front; `None` when there are none.
    pub fn next_batch(
        &self,
        max_records: usize,
        max_bytes: usize,
        wait: Duration,
    ) -> io::Result<Option<Batch>> {
        let mut state = self.lock();
        if !state.has_readable() {
            state.wake_at = Some(1);
            state = self.readable.wait_timeout(state, wait).unwrap_or_else(|e| e.into_inner()).0;
            state.wake_at = None;
        }
        // Step over segments read to their end that no longer take appends.
        loop {
            let Some(pos) = state.cursor_segment() else { return Ok(None) };
            let segment = state.segments[pos];
            if state.cursor.offset < segment.readable {
                break;
            }
            if pos + 1 == state.segments.len() {
                return Ok(None);
            }
            state.remove_front_through(pos, &self.dir)?;
        }
        let pos = state.cursor_segment().expect("found above");
        let segment = state.segments[pos];
        let from = state.cursor;
        let want = (segment.readable - from.offset).min(max_bytes as u64) as usize;
        let mut body = vec![0; want];
        let mut file = File::open(segment_path(&self.dir, segment.seq))?;
        file.seek(SeekFrom::Start(from.offset))?;
        file.read_exact(&mut body)?;
        // Whole records only, at most max_records; one record larger than
        // max_bytes goes alone.
        let mut end = 0;
        let mut records = 0;
        for (i, b) in body.iter().enumerate() {
            if *b == b'\n' {
                end = i + 1;
                records += 1;
                if records == max_records as u64 {
                    break;
                }
            }
        }
        if records == 0 {
            let mut rest = Vec::new();
            file.read_to_end(&mut rest)?;
            let more = rest.iter().position(|b| *b == b'\n').map_or(rest.len(), |p| p + 1);
            body.extend_from_slice(&rest[..more]);
            end = body.len();
            records = 1;
        }
        body.truncate(end);
        let to =
            Cursor { seq: from.seq, offset: from.offset + end as u64, index: from.index + records };
        Ok(Some(Batch { from, to, records, body }))
    }

    /// Marks `batch` delivered; `false` when its records were dropped
    /// meanwhile (the spool overflowed while it was in flight): they are
    /// already counted dropped, and nothing changes.
    pub fn ack(&self, batch: &Batch) -> io::Result<bool> {
        let mut state = self.lock();
        if state.cursor != batch.from {
            return Ok(false);
        }
        state.cursor = batch.to;
        write_cursor(&self.dir, &state.cursor).map(|()| true)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    fn flush(&mut self) -> io::Result<()> {
        let Some(w) = self.writer.as_mut() else { return Ok(()) };
        if let Err(e) = w.flush() {
            self.abandon_unflushed_in(0);
            return Err(e);
        }
        if let Some(last) = self.segments.back_mut() {
            last.readable = last.bytes;
            last.readable_records = last.records;
        }
        Ok(())
    }

    /// After a failed write: forgets the buffered records of the open
    /// segment (and `also` more), counts them dropped, cuts the file back
    /// to what was flushed, and closes the writer.
    fn abandon_unflushed(&mut self, dir: &Path, also: u64) {
        if let Some(last) = self.segments.back() {
            let _ = OpenOptions::new()
                .write(true)
                .open(segment_path(dir, last.seq))
                .and_then(|f| f.set_len(last.readable));
        }
        self.abandon_unflushed_in(also);
    }

    fn abandon_unflushed_in(&mut self, also: u64) {
        if let Some(w) = self.writer.take() {
            let _ = w.into_parts();
        }
        if let Some(last) = self.segments.back_mut() {
            self.dropped += last.records - last.readable_records + also;
            last.bytes = last.readable;
            last.records = last.readable_records;
        }
    }

    fn has_readable(&self) -> bool {
        self.cursor_segment().is_some_and(|pos| {
            self.cursor.offset < self.segments[pos].readable || pos + 1 < self.segments.len()
        })
    }

    /// Records flushed and not yet delivered.
    fn readable_records(&self) -> u64 {
        let Some(pos) = self.cursor_segment() else { return 0 };
        let total: u64 = self.segments.iter().skip(pos).map(|s| s.readable_records).sum();
        total.saturating_sub(self.cursor.index)
    }

    fn cursor_segment(&self) -> Option<usize> {
        self.segments.iter().position(|s| s.seq == self.cursor.seq)
    }

    /// Drops the oldest segment, counting its undelivered records; returns
    /// its size.
    fn drop_oldest(&mut self, dir: &Path) -> io::Result<u64> {
        let Some(oldest) = self.segments.pop_front() else { return Ok(0) };
        self.dropped += self.undelivered(&oldest);
        if self.segments.is_empty() {
            self.writer = None;
        }
        if self.cursor.seq <= oldest.seq {
            let next = self.segments.front().map_or(self.next_seq, |s| s.seq);
            self.cursor = Cursor { seq: next, offset: 0, index: 0 };
        }
        remove(&segment_path(dir, oldest.seq))?;
        write_cursor(dir, &self.cursor)?;
        Ok(oldest.bytes)
    }

    /// Removes delivered segments up to and including index `pos` and moves
    /// the cursor to the next one.
    fn remove_front_through(&mut self, pos: usize, dir: &Path) -> io::Result<()> {
        for _ in 0..=pos {
            if let Some(done) = self.segments.pop_front() {
                remove(&segment_path(dir, done.seq))?;
            }
        }
        let next = self.segments.front().map_or(self.next_seq, |s| s.seq);
        self.cursor = Cursor { seq: next, offset: 0, index: 0 };
        write_cursor(dir, &self.cursor)
    }

    /// Records of `segment` at or after the cursor.
    fn undelivered(&self, segment: &Segment) -> u64 {
        match segment.seq.cmp(&self.cursor.seq) {
            std::cmp::Ordering::Equal => segment.records - self.cursor.index,
            std::cmp::Ordering::Greater => segment.records,
            std::cmp::Ordering::Less => 0,
        }
    }

    /// Derived from the segments and the cursor whenever asked.
    fn counts(&self) -> Counts {
        let waiting = self.segments.iter().map(|s| self.undelivered(s)).sum();
        let bytes = self.segments.iter().map(|s| s.bytes).sum();
        Counts { dropped: self.dropped, waiting, bytes }
    }
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.seg"))
}

fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Reads a segment left by a previous run: cuts a torn last record (the
/// agent died mid-write) and counts the records.
fn recover(path: &Path, seq: u64) -> io::Result<(Segment, u64)> {
    let data = fs::read(path)?;
    let whole = data.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
    let torn = u64::from(whole < data.len());
    if torn == 1 {
        OpenOptions::new().write(true).open(path)?.set_len(whole as u64)?;
    }
    let records = data[..whole].iter().filter(|b| **b == b'\n').count() as u64;
    let bytes = whole as u64;
    Ok((Segment { seq, bytes, readable: bytes, records, readable_records: records }, torn))
}

fn count_lines(path: &Path, upto: u64) -> io::Result<u64> {
    let mut data = vec![0; upto as usize];
    File::open(path)?.read_exact(&mut data)?;
    Ok(data.iter().filter(|b| **b == b'\n').count() as u64)
}

fn read_cursor(dir: &Path) -> Option<(u64, u64)> {
    let text = fs::read_to_string(dir.join("cursor")).ok()?;
    let (seq, offset) = text.trim().split_once(' ')?;
    Some((seq.parse().ok()?, offset.parse().ok()?))
}

fn write_cursor(dir: &Path, cursor: &Cursor) -> io::Result<()> {
    let tmp = dir.join("cursor.tmp");
    fs::write(&tmp, format!("{} {}\n", cursor.seq, cursor.offset))?;
    fs::rename(tmp, dir.join("cursor"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::scratch;

    fn record(i: u32) -> Vec<u8> {
        format!("{{\"id\":\"{i:08}\",\"pad\":\"{}\"}}", "x".repeat(100)).into_bytes()
    }

    fn ids(batch: &Batch) -> Vec<u32> {
        batch
            .body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| std::str::from_utf8(&l[7..15]).unwrap().parse().unwrap())
            .collect()
    }

    const NOW: Duration = Duration::ZERO;

    #[test]
    fn delivers_in_order_and_resumes_after_a_restart_at_least_once() {
        let dir = scratch("spool-resume");
        let spool = Spool::open(&dir, 1 << 20).unwrap();
        for i in 0..100 {
            spool.append(&record(i)).unwrap();
        }
        spool.flush().unwrap();
        let first = spool.next_batch(30, 1 << 20, NOW).unwrap().unwrap();
        assert_eq!(ids(&first), (0..30).collect::<Vec<_>>());
        spool.ack(&first).unwrap();
        // Taken but never acknowledged: the restart sends it again.
        let second = spool.next_batch(30, 1 << 20, NOW).unwrap().unwrap();
        assert_eq!(ids(&second)[0], 30);
        drop(spool);
        let spool = Spool::open(&dir, 1 << 20).unwrap();
        assert_eq!(spool.counts().waiting, 70);
        let mut seen = Vec::new();
        while let Some(b) = spool.next_batch(25, 1 << 20, NOW).unwrap() {
            seen.extend(ids(&b));
            spool.ack(&b).unwrap();
        }
        assert_eq!(seen, (30..100).collect::<Vec<_>>());
        assert_eq!(spool.counts().waiting, 0);
        let _ = fs::remove_dir_all(&dir);
    }

    /// A batch in flight whose records the spool drops meanwhile is not
    /// acknowledged: they are counted once, as dropped.
    #[test]
    fn a_batch_dropped_while_in_flight_is_not_acknowledged() {
        let dir = scratch("spool-in-flight");
        let spool = Spool::open(&dir, 64 << 10).unwrap();
        for i in 0..10 {
            spool.append(&record(i)).unwrap();
        }
        spool.flush().unwrap();
        let in_flight = spool.next_batch(5, 1 << 20, NOW).unwrap().unwrap();
        for i in 10..2000 {
            spool.append(&record(i)).unwrap();
        }
        spool.flush().unwrap();
        let dropped = spool.counts().dropped;
        assert!(dropped >= 10, "the first segment went: {dropped}");
        assert!(!spool.ack(&in_flight).unwrap(), "acknowledged records already dropped");
        assert_eq!(spool.counts().dropped, dropped);
        let next = spool.next_batch(5, 1 << 20, NOW).unwrap().unwrap();
        assert!(spool.ack(&next).unwrap());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn overflow_drops_the_oldest_and_counts_them() {
        let dir = scratch("spool-overflow");
        let spool = Spool::open(&dir, 64 << 10).unwrap();
        let n = 2000;
        for i in 0..n {
            spool.append(&record(i)).unwrap();
        }
        spool.flush().unwrap();
        let counts = spool.counts();
        assert!(counts.bytes <= 64 << 10, "{counts:?}");
        assert_eq!(counts.dropped + counts.waiting, u64::from(n), "{counts:?}");
        assert!(counts.dropped > 0);
        let mut seen = Vec::new();
        while let Some(b) = spool.next_batch(500, 1 << 20, NOW).unwrap() {
            seen.extend(ids(&b));
            spool.ack(&b).unwrap();
        }
        // What is left is the newest, in order, up to the last record.
        assert_eq!(seen.len() as u64, counts.waiting);
        assert_eq!(*seen.last().unwrap(), n - 1);
        assert!(seen.windows(2).all(|w| w[1] == w[0] + 1));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_record_is_cut_and_counted_on_recovery() {
        let dir = scratch("spool-torn");
        let spool = Spool::open(&dir, 1 << 20).unwrap();
        spool.append(&record(1)).unwrap();
        spool.flush().unwrap();
        drop(spool);
        let seg = segment_path(&dir, 1);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(b"{\"id\":\"000").unwrap();
        let spool = Spool::open(&dir, 1 << 20).unwrap();
        assert_eq!(spool.counts().dropped, 1);
        let batch = spool.next_batch(10, 1 << 20, NOW).unwrap().unwrap();
        assert_eq!(ids(&batch), [1]);
        let _ = fs::remove_dir_all(&dir);
    }
}
