//! A bounded on-disk queue of records for a sink that can be down: the
//! processing thread appends, a sender takes batches from the front and
//! acknowledges them once delivered.
//!
//! Layout: numbered segment files, oldest first, each a run of records in
//! one [`Framing`]: JSON lines (`00000000000000000001.seg`, ...) or records
//! preceded by their length (`.rec`); the last one takes appends. A spool
//! reads segments of either framing, so what an earlier agent left in
//! another framing is delivered as it was written. `cursor`
//! holds `<segment> <offset>` of the first record not yet delivered, written
//! (atomically, by rename) at most once a second as batches are
//! acknowledged, and when the spool closes. After a restart delivery
//! resumes at the cursor; batches delivered since it was last written are
//! sent again (at-least-once: receivers de-duplicate on the record's `id`).
//!
//! The open segment's recent bytes are also kept in memory (up to
//! [`TAIL_MAX`]): a sender that keeps up takes its batches from there
//! instead of reading back from disk what was just written. The disk copy
//! is for a restart and for a backlog.
//!
//! With `spill_after` set (a sink's `spill_after=`), the open segment's
//! records stay only in memory until they are that old (counted from the
//! flush that made them readable) or more than [`TAIL_MAX`] wait: records
//! the receiver takes sooner never touch the disk. When the sender has
//! delivered every record the file holds and some that it does not, the
//! segment is ended there and what is left starts a new one (a new file,
//! created once something must be written), so a file never has a gap.
//! What a `SIGKILL` loses grows from the last flush to that long; a stop
//! writes everything.
//!
//! When appending would take the spool past its bound, whole segments are
//! dropped from the front (at most an eighth of the bound each), and their
//! undelivered records are counted, never silently lost. Appends reach the
//! kernel on every flush, so they survive the agent's death; an unclean
//! power loss may lose what was not yet written back.

use std::{
    collections::VecDeque,
    fs::{self, File, OpenOptions},
    io::{self, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::{Condvar, Mutex, MutexGuard},
    time::{Duration, Instant},
};

mod framing;

pub use framing::Framing;

/// Segments a spool is cut into: the granularity of dropping.
const SEGMENTS: u64 = 8;
/// Appends are written to the file once this many bytes wait (and at
/// every flush).
const WRITE_CHUNK: usize = 64 << 10;
/// The most of the open segment kept in memory for the sender: a batch
/// and what arrived while it was in flight, unless the receiver is behind.
const TAIL_MAX: usize = 2 << 20;
/// How often, at most, an acknowledgement writes the cursor to disk.
const CURSOR_PERIOD: Duration = Duration::from_secs(1);

pub struct Spool {
    dir: PathBuf,
    /// How appended records are framed.
    framing: Framing,
    max_bytes: u64,
    segment_bytes: u64,
    state: Mutex<State>,
    /// Signalled when appends become readable.
    readable: Condvar,
}

struct State {
    segments: VecDeque<Segment>,
    /// Whether the last segment takes appends.
    open: bool,
    /// The last segment's file, opened when something must be written.
    file: Option<File>,
    /// How long flushed records may wait in memory only (zero: every flush
    /// writes them).
    spill_after: Duration,
    /// The last segment's latest bytes.
    tail: Tail,
    cursor: Cursor,
    /// When the cursor was last written to disk, and whether it has moved
    /// since.
    cursor_written: Instant,
    cursor_dirty: bool,
    /// The buffer of the last batch delivered, for the next one.
    spare: Vec<u8>,
    next_seq: u64,
    /// Records dropped before delivery since the spool was opened.
    dropped: u64,
    /// How many readable records the sender waits for, if it waits: a
    /// flush wakes it only then (not once per flush, a wake-up and a
    /// context switch for every few records).
    wake_at: Option<u64>,
}

/// The end of the last segment, in memory: appends land here, are written
/// to the file in [`WRITE_CHUNK`]s and at every flush, and stay until the
/// sender has taken them (or the tail outgrows [`TAIL_MAX`]).
#[derive(Default)]
struct Tail {
    /// The segment it belongs to.
    seq: u64,
    /// Where `bytes` starts in the segment.
    start: u64,
    bytes: Vec<u8>,
    /// How much of `bytes` is written to the file.
    written: usize,
    /// Segment offsets flushed, with when: how old unwritten bytes are.
    flushed: VecDeque<(u64, Instant)>,
}

impl Tail {
    /// Empty, for segment `seq` (0: none), keeping the allocation.
    fn reset(&mut self, seq: u64) {
        self.bytes.clear();
        self.flushed.clear();
        self.seq = seq;
        self.start = 0;
        self.written = 0;
    }

    fn unwritten(&self) -> usize {
        self.bytes.len() - self.written
    }

    /// When the oldest byte not written to the file was flushed.
    fn unwritten_since(&self) -> Option<Instant> {
        let written = self.start + self.written as u64;
        self.flushed.iter().find(|(end, _)| *end > written).map(|(_, at)| *at)
    }

    /// Marks the bytes written so far (a segment offset) as written, and
    /// forgets the flush times they no longer need.
    fn mark_written(&mut self) {
        self.written = self.bytes.len();
        let written = self.start + self.written as u64;
        while self.flushed.front().is_some_and(|(end, _)| *end <= written) {
            self.flushed.pop_front();
        }
    }

    /// The segment's bytes `from..to`, when they are all here.
    fn get(&self, seq: u64, from: u64, to: u64) -> Option<&[u8]> {
        let end = self.start + self.bytes.len() as u64;
        (seq == self.seq && from >= self.start && to <= end)
            .then(|| &self.bytes[(from - self.start) as usize..(to - self.start) as usize])
    }

    /// Forgets what is written and before `needed` (a segment offset), and,
    /// past [`TAIL_MAX`], written bytes the sender has yet to take (it
    /// reads those from disk). Cut in large steps: each cut moves what is
    /// left to the front.
    fn trim(&mut self, needed: u64) {
        let before_needed = needed.saturating_sub(self.start) as usize;
        let over = self.bytes.len().saturating_sub(TAIL_MAX);
        let cut = before_needed.max(over).min(self.written);
        if cut > 0 && (cut >= WRITE_CHUNK || cut == self.bytes.len()) {
            self.bytes.drain(..cut);
            self.start += cut as u64;
            self.written -= cut;
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    seq: u64,
    framing: Framing,
    /// Bytes appended (some maybe still buffered).
    bytes: u64,
    /// Bytes flushed: what a reader may read.
    readable: u64,
    records: u64,
    /// Records flushed.
    readable_records: u64,
    /// Bytes, and records, written to the file.
    on_disk: u64,
    on_disk_records: u64,
}

impl Segment {
    fn empty(seq: u64, framing: Framing) -> Self {
        Self {
            seq,
            framing,
            bytes: 0,
            readable: 0,
            records: 0,
            readable_records: 0,
            on_disk: 0,
            on_disk_records: 0,
        }
    }

    fn path(&self, dir: &Path) -> PathBuf {
        segment_path(dir, self.seq, self.framing)
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
    /// Bytes held, on disk or (with `spill_after`) waiting in memory.
    pub bytes: u64,
}

/// Records taken from the front, to deliver then [`Spool::ack`].
pub struct Batch {
    from: Cursor,
    to: Cursor,
    pub records: u64,
    /// The records, framed.
    pub body: Vec<u8>,
    pub framing: Framing,
}

impl Batch {
    /// The records, without their framing.
    pub fn records(&self) -> impl Iterator<Item = &[u8]> {
        self.framing.records(&self.body)
    }
}

#[cfg(test)]
impl Batch {
    /// A batch holding `body`, for transports' tests.
    pub fn for_test(body: Vec<u8>, records: u64, framing: Framing) -> Self {
        let at = Cursor { seq: 0, offset: 0, index: 0 };
        Self { from: at, to: at, records, body, framing }
    }
}

impl Spool {
    /// Opens the spool in `dir` (created if missing), to append records
    /// framed by `framing`, recovering what a previous agent left, in
    /// either framing: torn last records are cut and counted.
    pub fn open(dir: &Path, max_bytes: u64, framing: Framing) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let mut found: Vec<(u64, Framing)> = fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name();
                let (seq, extension) = name.to_str()?.split_once('.')?;
                let framing = Framing::ALL.into_iter().find(|f| f.extension() == extension)?;
                Some((seq.parse().ok()?, framing))
            })
            .collect();
        found.sort_unstable_by_key(|(seq, _)| *seq);
        let mut dropped = 0;
        let mut segments = VecDeque::new();
        for (seq, framing) in found {
            let (segment, torn) = recover(dir, seq, framing)?;
            dropped += torn;
            segments.push_back(segment);
        }
        let first = segments.front().map(|s| s.seq);
        let last = segments.back().map(|s| s.seq);
        let cursor = match read_cursor(dir) {
            Some((seq, offset)) if segments.iter().any(|s| s.seq == seq) => {
                let segment = segments.iter().find(|s| s.seq == seq).expect("checked");
                // At a record's end: the cursor is written only there.
                let (offset, index) = count_records(segment, dir, offset)?;
                Cursor { seq, offset, index }
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
            fs::remove_file(gone.path(dir))?;
        }
        let next_seq = segments.back().map_or(cursor.seq, |s| s.seq + 1);
        let spool = Self {
            dir: dir.to_path_buf(),
            framing,
            max_bytes,
            segment_bytes: (max_bytes / SEGMENTS).max(1),
            state: Mutex::new(State {
                segments,
                open: false,
                file: None,
                spill_after: Duration::ZERO,
                tail: Tail::default(),
                cursor,
                cursor_written: Instant::now(),
                cursor_dirty: false,
                spare: Vec::new(),
                next_seq,
                dropped,
                wake_at: None,
            }),
            readable: Condvar::new(),
        };
        Ok(spool)
    }

    /// Keeps flushed records in memory only until they are `after` old
    /// (see the module's comment).
    pub fn spill_after(self, after: Duration) -> Self {
        self.lock().spill_after = after;
        self
    }

    pub fn counts(&self) -> Counts {
        self.lock().counts()
    }

    /// Appends one record (unframed). Makes room by dropping the oldest
    /// segments; a record larger than a segment, or one the framing cannot
    /// hold (an empty one), is dropped itself. A failed write drops the
    /// records not yet flushed (counted) and the next append starts a new
    /// segment.
    pub fn append(&self, record: &[u8]) -> io::Result<()> {
        let len = self.framing.framed_len(record);
        let mut state = self.lock();
        if len > self.segment_bytes || !self.framing.can_frame(record) {
            state.dropped += 1;
            return Ok(());
        }
        let mut total: u64 = state.segments.iter().map(|s| s.bytes).sum();
        while total + len > self.max_bytes && state.segments.len() > 1 {
            total -= state.drop_oldest(&self.dir)?;
        }
        let full = state.segments.back().is_none_or(|s| s.bytes + len > self.segment_bytes);
        if !state.open || full {
            state.flush(&self.dir, true)?;
            let segment = Segment::empty(state.next_seq, self.framing);
            state.next_seq += 1;
            state.open = true;
            state.file = None;
            state.tail.reset(segment.seq);
            state.segments.push_back(segment);
            let seq = segment.seq;
            if state.segments.len() == 1 {
                state.cursor = Cursor { seq, offset: 0, index: 0 };
            }
        }
        self.framing.write(&mut state.tail.bytes, record)?;
        let last = state.segments.back_mut().expect("a segment is open");
        last.bytes += len;
        last.records += 1;
        let unwritten = state.tail.unwritten();
        let limit = if state.spill_after.is_zero() { WRITE_CHUNK } else { TAIL_MAX };
        if unwritten >= limit {
            if let Err(e) = state.write_out(&self.dir) {
                state.abandon_unwritten(&self.dir);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Makes appended records readable by the sender, and wakes it if it
    /// waits for as many.
    pub fn flush(&self) -> io::Result<()> {
        let mut state = self.lock();
        state.flush(&self.dir, false)?;
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
        let mut body = std::mem::take(&mut state.spare);
        body.clear();
        state.read(&self.dir, &segment, from.offset, from.offset + want as u64, &mut body)?;
        // Whole records only, at most max_records; one record larger than
        // max_bytes goes alone.
        let (mut end, mut records) = segment.framing.scan(&body, max_records as u64);
        if records == 0 {
            let readable = (segment.readable - from.offset) as usize;
            state.read(
                &self.dir,
                &segment,
                from.offset + want as u64,
                segment.readable,
                &mut body,
            )?;
            (end, records) = segment.framing.scan(&body, 1);
            if records == 0 {
                // Not a record (a corrupt segment): taken as one, which
                // the transport counts as unreadable.
                (end, records) = (readable, 1);
            }
        }
        body.truncate(end);
        let to =
            Cursor { seq: from.seq, offset: from.offset + end as u64, index: from.index + records };
        Ok(Some(Batch { from, to, records, body, framing: segment.framing }))
    }

    /// Marks `batch` delivered; `false` when its records were dropped
    /// meanwhile (the spool overflowed while it was in flight): they are
    /// already counted dropped, and nothing changes.
    pub fn ack(&self, batch: &Batch) -> io::Result<bool> {
        let mut state = self.lock();
        // A failed write may have cut records the batch holds.
        let within = |s: &Segment| s.seq == batch.to.seq && batch.to.offset <= s.bytes;
        if state.cursor != batch.from || !state.segments.iter().any(within) {
            return Ok(false);
        }
        state.cursor = batch.to;
        state.cursor_dirty = true;
        state.restart_past_the_file(&self.dir)?;
        state.trim_tail();
        if state.cursor_written.elapsed() >= CURSOR_PERIOD {
            state.write_cursor(&self.dir)?;
        }
        Ok(true)
    }

    /// Gives back a delivered batch's buffer, for the next batch.
    pub fn recycle(&self, batch: Batch) {
        self.lock().spare = batch.body;
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Spool {
    /// Writes what is appended and the cursor, for the next agent.
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = state.flush(&self.dir, true);
        if state.cursor_dirty {
            let _ = state.write_cursor(&self.dir);
        }
    }
}

impl State {
    /// Makes appended records readable, and writes them to the file unless
    /// they may still wait in memory (`all`: they may not).
    fn flush(&mut self, dir: &Path, all: bool) -> io::Result<()> {
        if !self.open {
            return Ok(());
        }
        let Some(last) = self.segments.back_mut() else { return Ok(()) };
        if last.readable < last.bytes {
            self.tail.flushed.push_back((last.bytes, Instant::now()));
        }
        last.readable = last.bytes;
        last.readable_records = last.records;
        let due = all
            || self.spill_after.is_zero()
            || self.tail.unwritten_since().is_some_and(|at| at.elapsed() >= self.spill_after);
        if due {
            if let Err(e) = self.write_out(dir) {
                self.abandon_unwritten(dir);
                return Err(e);
            }
        }
        self.trim_tail();
        Ok(())
    }

    /// Once the sender has delivered past what the open segment's file
    /// holds (records kept in memory only, see `spill_after`), ends the
    /// segment at the cursor and starts a new one with what is left, so
    /// the delivered records are never written and no file has a gap. The
    /// new segment's file is created only if it must be written.
    fn restart_past_the_file(&mut self, dir: &Path) -> io::Result<()> {
        let Some(last) = self.segments.back().copied() else { return Ok(()) };
        if !self.open || self.cursor.seq != last.seq || self.cursor.offset <= last.on_disk {
            return Ok(());
        }
        let Cursor { offset, index, .. } = self.cursor;
        // Every segment before the cursor's is delivered too.
        let done = std::mem::take(&mut self.segments);
        self.file = None;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.segments.push_back(Segment {
            seq,
            framing: last.framing,
            bytes: last.bytes - offset,
            readable: last.readable - offset,
            records: last.records - index,
            readable_records: last.readable_records - index,
            on_disk: 0,
            on_disk_records: 0,
        });
        let tail = &mut self.tail;
        tail.bytes.drain(..(offset - tail.start) as usize);
        tail.seq = seq;
        tail.start = 0;
        tail.written = 0;
        tail.flushed.retain_mut(|(end, _)| {
            *end = end.saturating_sub(offset);
            *end > 0
        });
        self.cursor = Cursor { seq, offset: 0, index: 0 };
        // Last, so a failure leaves the state whole: a file left behind
        // holds delivered records only (at worst sent again after a
        // restart).
        let removed: Vec<io::Result<()>> = done.iter().map(|s| remove(&s.path(dir))).collect();
        removed.into_iter().collect()
    }

    /// Lets the tail forget what the sender has taken (see [`Tail::trim`]).
    fn trim_tail(&mut self) {
        let needed =
            if self.cursor.seq == self.tail.seq { self.cursor.offset } else { self.tail.start };
        self.tail.trim(needed);
    }

    /// Appends bytes `from..to` of `segment` to `out`: from the tail while
    /// it holds them (a sender that keeps up), else from the file.
    fn read(
        &self,
        dir: &Path,
        segment: &Segment,
        from: u64,
        to: u64,
        out: &mut Vec<u8>,
    ) -> io::Result<()> {
        if let Some(bytes) = self.tail.get(segment.seq, from, to) {
            out.extend_from_slice(bytes);
            return Ok(());
        }
        let start = out.len();
        out.resize(start + (to - from) as usize, 0);
        let mut file = File::open(segment.path(dir))?;
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut out[start..])
    }

    /// Writes the tail's unwritten bytes to the open segment's file,
    /// creating it first if need be.
    fn write_out(&mut self, dir: &Path) -> io::Result<()> {
        let Some(last) = self.segments.back_mut().filter(|_| self.open) else { return Ok(()) };
        if self.tail.unwritten() == 0 {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(file) => file,
            empty => {
                empty.insert(OpenOptions::new().create(true).append(true).open(last.path(dir))?)
            }
        };
        file.write_all(&self.tail.bytes[self.tail.written..])?;
        // Appends end whole records, so the file does too.
        last.on_disk = last.bytes;
        last.on_disk_records = last.records;
        self.tail.mark_written();
        Ok(())
    }

    fn write_cursor(&mut self, dir: &Path) -> io::Result<()> {
        write_cursor(dir, &self.cursor)?;
        self.cursor_written = Instant::now();
        self.cursor_dirty = false;
        Ok(())
    }

    /// After a failed write: forgets the records of the open segment not
    /// on disk, counts them dropped, cuts the file back to what was
    /// written, and closes the segment. A batch in flight that held some
    /// of them is not acknowledged (the cursor moves back into the file).
    fn abandon_unwritten(&mut self, dir: &Path) {
        self.file = None;
        self.open = false;
        let Some(last) = self.segments.back_mut() else { return };
        let _ = OpenOptions::new()
            .write(true)
            .open(last.path(dir))
            .and_then(|f| f.set_len(last.on_disk));
        if self.cursor.seq == last.seq && self.cursor.offset > last.on_disk {
            self.dropped += last.records - self.cursor.index;
            self.cursor =
                Cursor { seq: last.seq, offset: last.on_disk, index: last.on_disk_records };
        } else {
            self.dropped += last.records - last.on_disk_records;
        }
        last.bytes = last.on_disk;
        last.records = last.on_disk_records;
        last.readable = last.on_disk;
        last.readable_records = last.on_disk_records;
        let kept = last.on_disk.saturating_sub(self.tail.start) as usize;
        self.tail.bytes.truncate(kept);
        self.tail.written = self.tail.written.min(kept);
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
            self.open = false;
            self.file = None;
            self.tail.reset(0);
        }
        if self.cursor.seq <= oldest.seq {
            let next = self.segments.front().map_or(self.next_seq, |s| s.seq);
            self.cursor = Cursor { seq: next, offset: 0, index: 0 };
        }
        remove(&oldest.path(dir))?;
        self.write_cursor(dir)?;
        Ok(oldest.bytes)
    }

    /// Removes delivered segments up to and including index `pos` and moves
    /// the cursor to the next one.
    fn remove_front_through(&mut self, pos: usize, dir: &Path) -> io::Result<()> {
        for _ in 0..=pos {
            if let Some(done) = self.segments.pop_front() {
                remove(&done.path(dir))?;
            }
        }
        let next = self.segments.front().map_or(self.next_seq, |s| s.seq);
        self.cursor = Cursor { seq: next, offset: 0, index: 0 };
        self.write_cursor(dir)
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

fn segment_path(dir: &Path, seq: u64, framing: Framing) -> PathBuf {
    dir.join(format!("{seq:020}.{}", framing.extension()))
}

fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Reads a segment left by a previous run: cuts a torn last record (the
/// agent died mid-write) and counts the records.
fn recover(dir: &Path, seq: u64, framing: Framing) -> io::Result<(Segment, u64)> {
    let path = segment_path(dir, seq, framing);
    let file = File::open(&path)?;
    let size = file.metadata()?.len();
    let (bytes, records) = framing.scan_reader(file, u64::MAX)?;
    let torn = u64::from(bytes < size);
    if torn == 1 {
        OpenOptions::new().write(true).open(&path)?.set_len(bytes)?;
    }
    let segment = Segment {
        seq,
        framing,
        bytes,
        readable: bytes,
        records,
        readable_records: records,
        on_disk: bytes,
        on_disk_records: records,
    };
    Ok((segment, torn))
}

/// The records of `segment` before `offset` (a record's end, or its
/// size): where they end, and how many.
fn count_records(segment: &Segment, dir: &Path, offset: u64) -> io::Result<(u64, u64)> {
    let file = File::open(segment.path(dir))?;
    segment.framing.scan_reader(file, offset.min(segment.bytes))
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
        batch.records().map(|l| std::str::from_utf8(&l[7..15]).unwrap().parse().unwrap()).collect()
    }

    const NOW: Duration = Duration::ZERO;

    /// Appends `record(i)` for each `i`, then flushes.
    fn fill(spool: &Spool, ids: std::ops::Range<u32>) {
        for i in ids {
            spool.append(&record(i)).unwrap();
        }
        spool.flush().unwrap();
    }

    /// Takes, acknowledges and recycles batches of up to `max` records
    /// until none is left; the ids delivered, in order.
    fn drain(spool: &Spool, max: usize) -> Vec<u32> {
        let mut seen = Vec::new();
        while let Some(b) = spool.next_batch(max, 1 << 20, NOW).unwrap() {
            seen.extend(ids(&b));
            spool.ack(&b).unwrap();
            spool.recycle(b);
        }
        seen
    }

    #[test]
    fn delivers_in_order_and_resumes_after_a_restart_at_least_once() {
        for framing in Framing::ALL {
            resumes_after_a_restart(framing);
        }
    }

    fn resumes_after_a_restart(framing: Framing) {
        let dir = scratch(&format!("spool-resume-{}", framing.extension()));
        let spool = Spool::open(&dir, 1 << 20, framing).unwrap();
        fill(&spool, 0..100);
        let first = spool.next_batch(30, 1 << 20, NOW).unwrap().unwrap();
        assert_eq!(ids(&first), (0..30).collect::<Vec<_>>());
        spool.ack(&first).unwrap();
        // Taken but never acknowledged: the restart sends it again.
        let second = spool.next_batch(30, 1 << 20, NOW).unwrap().unwrap();
        assert_eq!(ids(&second)[0], 30);
        drop(spool);
        let spool = Spool::open(&dir, 1 << 20, framing).unwrap();
        assert_eq!(spool.counts().waiting, 70);
        let seen = drain(&spool, 25);
        assert_eq!(seen, (30..100).collect::<Vec<_>>());
        assert_eq!(spool.counts().waiting, 0);
        let _ = fs::remove_dir_all(&dir);
    }

    /// Batches come from memory while the sender keeps up (the file's
    /// copy is not read: zeroing it changes nothing), and from disk for
    /// records the memory no longer holds, in order either way.
    #[test]
    fn a_sender_that_keeps_up_reads_from_memory_and_one_behind_from_disk() {
        let dir = scratch("spool-memory");
        let spool = Spool::open(&dir, 1 << 30, Framing::Lengths).unwrap();
        fill(&spool, 0..10);
        let segment = segment_path(&dir, 1, Framing::Lengths);
        let on_disk = fs::read(&segment).unwrap();
        fs::write(&segment, vec![0; on_disk.len()]).unwrap();
        let batch = spool.next_batch(100, 1 << 30, NOW).unwrap().unwrap();
        assert_eq!(ids(&batch), (0..10).collect::<Vec<_>>(), "from memory");
        spool.ack(&batch).unwrap();
        spool.recycle(batch);
        fs::write(&segment, on_disk).unwrap();
        // Far more than the memory holds, none delivered: the oldest are
        // read back from disk.
        let n = 3 * TAIL_MAX as u32 / record(0).len() as u32;
        fill(&spool, 10..n);
        let seen = drain(&spool, 1000);
        assert_eq!(seen, (10..n).collect::<Vec<_>>());
        let _ = fs::remove_dir_all(&dir);
    }

    /// Segment files in `dir`.
    fn segment_files(dir: &Path) -> usize {
        let segment = |e: &fs::DirEntry| {
            let name = e.file_name();
            Framing::ALL.iter().any(|f| name.to_string_lossy().ends_with(f.extension()))
        };
        fs::read_dir(dir).unwrap().filter_map(|e| e.ok()).filter(segment).count()
    }

    /// With `spill_after`, a sender that keeps up takes every record from
    /// memory, those that arrive while a batch is in flight included, and
    /// nothing is written; a stop writes what is left, a kill loses it.
    #[test]
    fn records_delivered_within_spill_after_never_reach_the_disk() {
        let dir = scratch("spool-spill");
        let spool = Spool::open(&dir, 1 << 30, Framing::Lengths)
            .unwrap()
            .spill_after(Duration::from_secs(60));
        // Through several times what the memory holds.
        let rounds = (3 * TAIL_MAX / (55 * record(0).len())) as u32;
        let mut seen = Vec::new();
        for round in 0..rounds {
            fill(&spool, round * 55..round * 55 + 50);
            let batch = spool.next_batch(60, 1 << 30, NOW).unwrap().unwrap();
            // Arrive while the batch is in flight.
            fill(&spool, round * 55 + 50..round * 55 + 55);
            seen.extend(ids(&batch));
            assert!(spool.ack(&batch).unwrap());
            spool.recycle(batch);
        }
        assert_eq!(segment_files(&dir), 0, "nothing written");
        let waiting = spool.counts().waiting;
        assert_eq!(waiting, 5, "only the last round's late records wait");
        assert_eq!(seen, (0..rounds * 55 - 5).collect::<Vec<_>>(), "in order, each once");
        // A stop writes the rest; the next spool delivers it.
        drop(spool);
        assert_eq!(segment_files(&dir), 1);
        let spool = Spool::open(&dir, 1 << 30, Framing::Lengths).unwrap();
        assert_eq!(spool.counts().waiting, waiting);
        assert_eq!(drain(&spool, 100), (rounds * 55 - 5..rounds * 55).collect::<Vec<_>>());
        drop(spool);
        // Killed with records in memory only: they are lost.
        let spool = Spool::open(&dir, 1 << 30, Framing::Lengths)
            .unwrap()
            .spill_after(Duration::from_secs(60));
        fill(&spool, 0..10);
        std::mem::forget(spool);
        assert_eq!(Spool::open(&dir, 1 << 30, Framing::Lengths).unwrap().counts().waiting, 0);
        let _ = fs::remove_dir_all(&dir);
    }

    /// Records older than `spill_after`, or more than the memory holds,
    /// are written: a killed agent's successor sends them.
    #[test]
    fn records_not_delivered_in_time_or_beyond_the_memory_are_written() {
        let dir = scratch("spool-spill-late");
        let spool = Spool::open(&dir, 1 << 30, Framing::Lengths)
            .unwrap()
            .spill_after(Duration::from_millis(20));
        fill(&spool, 0..10);
        assert_eq!(segment_files(&dir), 0);
        std::thread::sleep(Duration::from_millis(30));
        fill(&spool, 10..12);
        std::mem::forget(spool);
        let spool = Spool::open(&dir, 1 << 30, Framing::Lengths).unwrap();
        assert_eq!(drain(&spool, 100), (0..12).collect::<Vec<_>>());
        drop(spool);
        let _ = fs::remove_dir_all(&dir);

        let spool = Spool::open(&dir, 1 << 30, Framing::Lengths)
            .unwrap()
            .spill_after(Duration::from_secs(60));
        let n = 2 * TAIL_MAX as u32 / record(0).len() as u32;
        fill(&spool, 0..n);
        std::mem::forget(spool);
        let spool = Spool::open(&dir, 1 << 30, Framing::Lengths).unwrap();
        let written = spool.counts().waiting;
        assert!(written as usize >= TAIL_MAX / record(0).len(), "{written} of {n} written");
        assert_eq!(drain(&spool, 1000), (0..written as u32).collect::<Vec<_>>());
        let _ = fs::remove_dir_all(&dir);
    }

    /// A write that fails drops the records not on disk, counted, and a
    /// batch in flight that held some is not acknowledged; appends go on
    /// in a new segment.
    #[test]
    fn a_failed_spill_drops_what_memory_held_and_refuses_the_batch_in_flight() {
        let dir = scratch("spool-spill-full");
        let spool = Spool::open(&dir, 1 << 30, Framing::Lengths)
            .unwrap()
            .spill_after(Duration::from_millis(10));
        fill(&spool, 0..10);
        // Where the first segment's file will be created.
        std::os::unix::fs::symlink("/dev/full", segment_path(&dir, 1, Framing::Lengths)).unwrap();
        let in_flight = spool.next_batch(4, 1 << 30, NOW).unwrap().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        spool.append(&record(10)).unwrap();
        assert!(spool.flush().is_err(), "/dev/full refuses the write");
        assert_eq!(spool.counts().dropped, 11);
        assert!(!spool.ack(&in_flight).unwrap());
        fill(&spool, 11..13);
        assert_eq!(drain(&spool, 100), [11, 12]);
        let _ = fs::remove_dir_all(&dir);
    }

    /// The cursor is written at most once a second, and when the spool
    /// closes: an agent killed in between sends those batches again
    /// (at-least-once), one that stops does not.
    #[test]
    fn a_killed_agent_sends_again_what_its_cursor_had_not_recorded() {
        let dir = scratch("spool-cursor");
        let spool = Spool::open(&dir, 1 << 20, Framing::Lengths).unwrap();
        fill(&spool, 0..10);
        let first = spool.next_batch(4, 1 << 20, NOW).unwrap().unwrap();
        assert!(spool.ack(&first).unwrap());
        // Killed: nothing runs at exit.
        std::mem::forget(spool);
        let spool = Spool::open(&dir, 1 << 20, Framing::Lengths).unwrap();
        assert_eq!(spool.counts().waiting, 10, "the acknowledged batch is sent again");
        let again = spool.next_batch(4, 1 << 20, NOW).unwrap().unwrap();
        assert_eq!(ids(&again), [0, 1, 2, 3]);
        assert!(spool.ack(&again).unwrap());
        drop(spool);
        let spool = Spool::open(&dir, 1 << 20, Framing::Lengths).unwrap();
        assert_eq!(spool.counts().waiting, 6, "a clean stop wrote the cursor");
        let _ = fs::remove_dir_all(&dir);
    }

    /// A batch in flight whose records the spool drops meanwhile is not
    /// acknowledged: they are counted once, as dropped.
    #[test]
    fn a_batch_dropped_while_in_flight_is_not_acknowledged() {
        let dir = scratch("spool-in-flight");
        let spool = Spool::open(&dir, 64 << 10, Framing::Lines).unwrap();
        fill(&spool, 0..10);
        let in_flight = spool.next_batch(5, 1 << 20, NOW).unwrap().unwrap();
        fill(&spool, 10..2000);
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
        let spool = Spool::open(&dir, 64 << 10, Framing::Lines).unwrap();
        let n = 2000;
        fill(&spool, 0..n);
        let counts = spool.counts();
        assert!(counts.bytes <= 64 << 10, "{counts:?}");
        assert_eq!(counts.dropped + counts.waiting, u64::from(n), "{counts:?}");
        assert!(counts.dropped > 0);
        let seen = drain(&spool, 500);
        // What is left is the newest, in order, up to the last record.
        assert_eq!(seen.len() as u64, counts.waiting);
        assert_eq!(*seen.last().unwrap(), n - 1);
        assert!(seen.windows(2).all(|w| w[1] == w[0] + 1));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_torn_record_is_cut_and_counted_on_recovery() {
        for framing in Framing::ALL {
            let dir = scratch(&format!("spool-torn-{}", framing.extension()));
            let spool = Spool::open(&dir, 1 << 20, framing).unwrap();
            spool.append(&record(1)).unwrap();
            spool.flush().unwrap();
            drop(spool);
            let seg = segment_path(&dir, 1, framing);
            let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
            let mut torn = Vec::new();
            framing.write(&mut torn, &record(2)).unwrap();
            f.write_all(&torn[..torn.len() - 2]).unwrap();
            let spool = Spool::open(&dir, 1 << 20, framing).unwrap();
            assert_eq!(spool.counts().dropped, 1, "{framing:?}");
            let batch = spool.next_batch(10, 1 << 20, NOW).unwrap().unwrap();
            assert_eq!(ids(&batch), [1], "{framing:?}");
            let _ = fs::remove_dir_all(&dir);
        }
    }

    /// An agent of another framing left records, some delivered: the rest
    /// go first, as they were written, then the new ones, and the old
    /// segment is removed once delivered.
    #[test]
    fn segments_of_an_earlier_framing_are_delivered_before_the_new_ones() {
        let dir = scratch("spool-upgrade");
        let old = Spool::open(&dir, 1 << 20, Framing::Lines).unwrap();
        fill(&old, 0..10);
        let delivered = old.next_batch(4, 1 << 20, NOW).unwrap().unwrap();
        old.ack(&delivered).unwrap();
        drop(old);
        let spool = Spool::open(&dir, 1 << 20, Framing::Lengths).unwrap();
        assert_eq!(spool.counts().waiting, 6);
        fill(&spool, 10..15);
        let mut seen = Vec::new();
        while let Some(b) = spool.next_batch(100, 1 << 20, NOW).unwrap() {
            seen.push((b.framing, ids(&b)));
            spool.ack(&b).unwrap();
        }
        assert_eq!(
            seen,
            [(Framing::Lines, (4..10).collect()), (Framing::Lengths, (10..15).collect())]
        );
        assert!(!segment_path(&dir, 1, Framing::Lines).exists());
        assert_eq!(spool.counts().waiting, 0);
        let _ = fs::remove_dir_all(&dir);
    }
}
