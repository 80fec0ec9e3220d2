//! How records follow one another in a spool segment. A segment's framing
//! is named by its file's extension, so a spool left by an earlier agent
//! is read as it was written, whatever the sink writes now.

use std::io::{self, Read, Write};

use prost::{decode_length_delimiter, encode_length_delimiter, length_delimiter_len};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Each record followed by a newline (`.seg`): JSON lines, which a
    /// webhook sends as they are. (Earlier agents spooled OTLP records so
    /// too, as base64 lines.)
    Lines,
    /// Each record preceded by its length, a protobuf varint (`.rec`): any
    /// bytes, unescaped (OTLP's LogRecords). A zero length is not a record:
    /// it ends the segment (a torn or zero-filled tail).
    Lengths,
}

impl Framing {
    pub const ALL: [Framing; 2] = [Framing::Lines, Framing::Lengths];

    pub fn extension(self) -> &'static str {
        match self {
            Framing::Lines => "seg",
            Framing::Lengths => "rec",
        }
    }

    /// Whether `record` can be framed (a length framing has no empty
    /// record).
    pub fn can_frame(self, record: &[u8]) -> bool {
        self == Framing::Lines || !record.is_empty()
    }

    /// The bytes `record` takes, framed.
    pub fn framed_len(self, record: &[u8]) -> u64 {
        (match self {
            Framing::Lines => record.len() + 1,
            Framing::Lengths => length_delimiter_len(record.len()) + record.len(),
        }) as u64
    }

    pub fn write(self, out: &mut impl Write, record: &[u8]) -> io::Result<()> {
        match self {
            Framing::Lines => {
                out.write_all(record)?;
                out.write_all(b"\n")
            }
            Framing::Lengths => {
                let mut prefix = [0; 10];
                let mut free = &mut prefix[..];
                encode_length_delimiter(record.len(), &mut free).map_err(io::Error::other)?;
                let used = 10 - free.len();
                out.write_all(&prefix[..used])?;
                out.write_all(record)
            }
        }
    }

    /// The first whole record of `data`, and where it ends (its framing
    /// included).
    fn first(self, data: &[u8]) -> Option<(&[u8], usize)> {
        match self {
            Framing::Lines => data.iter().position(|b| *b == b'\n').map(|p| (&data[..p], p + 1)),
            Framing::Lengths => {
                let len = decode_length_delimiter(data).ok().filter(|len| *len > 0)?;
                let start = length_delimiter_len(len);
                let end = start.checked_add(len).filter(|end| *end <= data.len())?;
                Some((&data[start..end], end))
            }
        }
    }

    /// How many whole records, up to `max`, the front of `data` holds, and
    /// where they end.
    pub fn scan(self, data: &[u8], max: u64) -> (usize, u64) {
        let (mut end, mut records) = (0, 0);
        while records < max {
            let Some((_, len)) = self.first(&data[end..]) else { break };
            end += len;
            records += 1;
        }
        (end, records)
    }

    /// Like [`Framing::scan`] over the first `limit` bytes of `reader`, read
    /// a chunk at a time: recovering a spool segment (up to an eighth of the
    /// spool's bound) holds one chunk, or one record larger than it, in
    /// memory rather than the whole file.
    pub fn scan_reader(self, reader: impl Read, limit: u64) -> io::Result<(u64, u64)> {
        const CHUNK: usize = 64 << 10;
        let mut reader = reader.take(limit);
        let mut buf = vec![0; CHUNK];
        let (mut filled, mut consumed, mut records) = (0, 0u64, 0u64);
        loop {
            if filled == buf.len() {
                // A record larger than what is held: hold more.
                buf.resize(buf.len() * 2, 0);
            }
            let read = reader.read(&mut buf[filled..])?;
            filled += read;
            let (end, found) = self.scan(&buf[..filled], u64::MAX);
            consumed += end as u64;
            records += found;
            buf.copy_within(end..filled, 0);
            filled -= end;
            // A zero where a record would start: a zero-filled tail (no
            // length is zero, no JSON line holds a NUL). Stop rather than
            // hold the rest of a file of zeros in memory.
            if read == 0 || buf[..filled].first() == Some(&0) {
                return Ok((consumed, records));
            }
        }
    }

    /// The whole records of `data`, without their framing; empty lines are
    /// left out.
    pub fn records(self, mut data: &[u8]) -> impl Iterator<Item = &[u8]> {
        std::iter::from_fn(move || {
            loop {
                let (record, end) = self.first(data)?;
                data = &data[end..];
                if !record.is_empty() {
                    return Some(record);
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_as_written_and_a_torn_tail_is_not_a_record() {
        // Longer than what a recovering spool reads at once.
        let long = vec![b'\n'; 100 << 10];
        for framing in Framing::ALL {
            let records: Vec<&[u8]> = match framing {
                Framing::Lines => vec![b"a", b"{\"id\":1}"],
                Framing::Lengths => vec![b"a", &long, b"{\"id\":1}"],
            };
            let mut data = Vec::new();
            for record in &records {
                framing.write(&mut data, record).unwrap();
            }
            let whole = data.len();
            let framed: u64 = records.iter().map(|r| framing.framed_len(r)).sum();
            assert_eq!(framed, whole as u64, "{framing:?}");
            assert_eq!(framing.records(&data).collect::<Vec<_>>(), records, "{framing:?}");
            let n = records.len() as u64;
            assert_eq!(framing.scan(&data, 1), (framing.framed_len(b"a") as usize, 1));
            // Torn: the last record's end missing, or a zero-filled tail.
            let mut torn = data.clone();
            framing.write(&mut torn, b"torn record").unwrap();
            torn.pop();
            let mut zeroed = data.clone();
            // Larger than what a recovering spool reads at once.
            zeroed.extend([0; 200 << 10]);
            for tail in [torn, zeroed] {
                assert_eq!(framing.scan(&tail, u64::MAX), (whole, n), "{framing:?}");
                assert_eq!(framing.records(&tail).count() as u64, n, "{framing:?}");
                // Read a few bytes at a time, as a recovering spool reads
                // its segment, the same records end at the same place.
                let dribble = Dribble(&tail);
                assert_eq!(framing.scan_reader(dribble, u64::MAX).unwrap(), (whole as u64, n));
            }
        }
    }

    /// A reader that hands out a few bytes at a time.
    struct Dribble<'a>(&'a [u8]);

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(7);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
}
