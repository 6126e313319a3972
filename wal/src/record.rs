//! On-disk framing of WAL records and the payload codecs of each record type.
//!
//! A record is `[len u32 LE][crc u32 LE][type u8][payload]`, where `len` counts
//! the type byte and the payload, and the CRC32 (IEEE, crc32fast) covers the
//! type byte and the payload. A zero length never frames a record: a zero-filled
//! region reads as "end of data".

use crate::{HardState, LogEntry};
use bytes::Bytes;

pub const HEADER_LEN: usize = 9;
/// Any single record larger than this is treated as garbage when scanning
/// (a torn length field must not make recovery allocate gigabytes).
pub const MAX_RECORD_LEN: usize = 1 << 31;

/// Record types. Their numeric values are part of the file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordType {
    /// Entries of one group; the first entry's index truncates the group's
    /// log after `first - 1` (a new leader overwrites a conflicting suffix).
    Entries = 1,
    /// The hard state (term, vote, commit) of one group.
    HardState = 2,
    /// The group's log prefix up to `index` is no longer needed.
    Compact = 3,
    /// The group's whole log is replaced by a snapshot at `index`: every
    /// entry is dropped, the log continues at `index + 1`.
    Reset = 4,
    /// The group is gone: every record about it before this one is dead.
    RemoveGroup = 5,
    /// A group's complete live state rewritten forward by purge. It replaces
    /// the group's state as of this point; it never means "truncate after".
    Moved = 6,
}

impl RecordType {
    pub fn from_u8(v: u8) -> Option<RecordType> {
        Some(match v {
            1 => RecordType::Entries,
            2 => RecordType::HardState,
            3 => RecordType::Compact,
            4 => RecordType::Reset,
            5 => RecordType::RemoveGroup,
            6 => RecordType::Moved,
            _ => return None,
        })
    }
}

/// One logical operation of a batch.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Entries { group: u64, entries: Vec<LogEntry> },
    HardState { group: u64, state: HardState },
    Compact { group: u64, index: u64, term: u64 },
    Reset { group: u64, index: u64, term: u64 },
    RemoveGroup { group: u64 },
    Moved(MovedState),
}

/// What purge rewrites forward for one group.
#[derive(Clone, Debug, PartialEq)]
pub struct MovedState {
    pub group: u64,
    pub mark_index: u64,
    pub mark_term: u64,
    pub hard_state: Option<HardState>,
    pub entries: Vec<LogEntry>,
}

impl Op {
    pub fn group(&self) -> u64 {
        match self {
            Op::Entries { group, .. }
            | Op::HardState { group, .. }
            | Op::Compact { group, .. }
            | Op::Reset { group, .. }
            | Op::RemoveGroup { group } => *group,
            Op::Moved(m) => m.group,
        }
    }
}

/// Where, relative to the start of an encoded batch, an entry's data lies.
#[derive(Clone, Copy, Debug)]
pub struct DataSpan {
    pub offset: u64,
    pub len: u32,
}

fn put_u64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_le_bytes());
}
fn put_u32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}

fn put_entries(buf: &mut Vec<u8>, entries: &[LogEntry], spans: &mut Vec<DataSpan>) {
    put_u32(buf, entries.len() as u32);
    for e in entries {
        put_u64(buf, e.index);
        put_u64(buf, e.term);
        put_u32(buf, e.data.len() as u32);
        spans.push(DataSpan { offset: buf.len() as u64, len: e.data.len() as u32 });
        buf.extend_from_slice(&e.data);
    }
}

fn put_hard_state(buf: &mut Vec<u8>, hs: &HardState) {
    put_u64(buf, hs.term);
    put_u64(buf, hs.vote);
    put_u64(buf, hs.commit);
}

/// Appends the framed record of `op` to `buf`. The data spans of the entries it
/// carries (relative to the start of `buf`) are pushed to `spans`, in order.
pub fn encode(buf: &mut Vec<u8>, op: &Op, spans: &mut Vec<DataSpan>) {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; HEADER_LEN]);
    let ty = match op {
        Op::Entries { group, entries } => {
            put_u64(buf, *group);
            put_entries(buf, entries, spans);
            RecordType::Entries
        }
        Op::HardState { group, state } => {
            put_u64(buf, *group);
            put_hard_state(buf, state);
            RecordType::HardState
        }
        Op::Compact { group, index, term } => {
            put_u64(buf, *group);
            put_u64(buf, *index);
            put_u64(buf, *term);
            RecordType::Compact
        }
        Op::Reset { group, index, term } => {
            put_u64(buf, *group);
            put_u64(buf, *index);
            put_u64(buf, *term);
            RecordType::Reset
        }
        Op::RemoveGroup { group } => {
            put_u64(buf, *group);
            RecordType::RemoveGroup
        }
        Op::Moved(m) => {
            put_u64(buf, m.group);
            put_u64(buf, m.mark_index);
            put_u64(buf, m.mark_term);
            match &m.hard_state {
                Some(hs) => {
                    buf.push(1);
                    put_hard_state(buf, hs);
                }
                None => buf.push(0),
            }
            put_entries(buf, &m.entries, spans);
            RecordType::Moved
        }
    };
    buf[start + 8] = ty as u8;
    let len = (buf.len() - start - 8) as u32;
    let crc = crc32fast::hash(&buf[start + 8..]);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Why a record could not be read at some offset.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes remain than the header or the length promises.
    Truncated,
    /// A zero length: the rest is (probably) zero fill.
    Zero,
    /// The CRC does not match or the type/payload does not parse.
    Corrupt(&'static str),
}

/// A decoded record with its payload still borrowed from the read buffer.
pub struct Frame<'a> {
    pub ty: RecordType,
    pub payload: &'a [u8],
    /// Total framed length (header + payload).
    pub framed_len: usize,
}

/// Reads one framed record at the start of `buf`.
pub fn read_frame(buf: &[u8]) -> Result<Frame<'_>, FrameError> {
    if buf.len() < HEADER_LEN {
        if buf.iter().all(|b| *b == 0) {
            return Err(FrameError::Zero);
        }
        return Err(FrameError::Truncated);
    }
    let len = u32::from_le_bytes(buf[0..4].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(buf[4..8].try_into().unwrap());
    if len == 0 {
        return Err(FrameError::Zero);
    }
    if len > MAX_RECORD_LEN {
        return Err(FrameError::Corrupt("record length out of range"));
    }
    if buf.len() < 8 + len {
        return Err(FrameError::Truncated);
    }
    let body = &buf[8..8 + len];
    if crc32fast::hash(body) != crc {
        return Err(FrameError::Corrupt("crc mismatch"));
    }
    let ty = RecordType::from_u8(body[0]).ok_or(FrameError::Corrupt("unknown record type"))?;
    Ok(Frame { ty, payload: &body[1..], framed_len: 8 + len })
}

/// A cursor over a record payload.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn u64(&mut self) -> Result<u64, FrameError> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32, FrameError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes(b.try_into().unwrap()))
    }
    fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.take(1)?[0])
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        if self.buf.len() - self.pos < n {
            return Err(FrameError::Corrupt("payload shorter than its fields"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn hard_state(&mut self) -> Result<HardState, FrameError> {
        Ok(HardState { term: self.u64()?, vote: self.u64()?, commit: self.u64()? })
    }
    /// Entries with their data spans relative to the payload start.
    fn entries(&mut self) -> Result<Vec<(LogEntry, DataSpan)>, FrameError> {
        let n = self.u32()? as usize;
        let mut out = Vec::with_capacity(n.min(1 << 16));
        let mut prev: Option<u64> = None;
        for _ in 0..n {
            let index = self.u64()?;
            let term = self.u64()?;
            let len = self.u32()?;
            let offset = self.pos as u64;
            let data = Bytes::copy_from_slice(self.take(len as usize)?);
            if let Some(p) = prev {
                if index != p + 1 {
                    return Err(FrameError::Corrupt("entries of a record are not contiguous"));
                }
            }
            prev = Some(index);
            out.push((LogEntry { index, term, data }, DataSpan { offset, len }));
        }
        Ok(out)
    }
    fn done(&self) -> Result<(), FrameError> {
        if self.pos != self.buf.len() {
            return Err(FrameError::Corrupt("trailing bytes in payload"));
        }
        Ok(())
    }
}

/// A decoded op, with the payload-relative data spans of its entries.
pub struct Decoded {
    pub op: Op,
    pub spans: Vec<DataSpan>,
}

pub fn decode(frame: &Frame<'_>) -> Result<Decoded, FrameError> {
    let mut c = Cursor { buf: frame.payload, pos: 0 };
    let mut spans = Vec::new();
    let mut split = |v: Vec<(LogEntry, DataSpan)>| {
        let mut es = Vec::with_capacity(v.len());
        for (e, s) in v {
            es.push(e);
            spans.push(s);
        }
        es
    };
    let op = match frame.ty {
        RecordType::Entries => {
            let group = c.u64()?;
            let entries = split(c.entries()?);
            Op::Entries { group, entries }
        }
        RecordType::HardState => Op::HardState { group: c.u64()?, state: c.hard_state()? },
        RecordType::Compact => Op::Compact { group: c.u64()?, index: c.u64()?, term: c.u64()? },
        RecordType::Reset => Op::Reset { group: c.u64()?, index: c.u64()?, term: c.u64()? },
        RecordType::RemoveGroup => Op::RemoveGroup { group: c.u64()? },
        RecordType::Moved => {
            let group = c.u64()?;
            let mark_index = c.u64()?;
            let mark_term = c.u64()?;
            let hard_state = match c.u8()? {
                0 => None,
                1 => Some(c.hard_state()?),
                _ => return Err(FrameError::Corrupt("bad hard state flag")),
            };
            let entries = split(c.entries()?);
            Op::Moved(MovedState { group, mark_index, mark_term, hard_state, entries })
        }
    };
    c.done()?;
    Ok(Decoded { op, spans })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: u64, t: u64, d: &str) -> LogEntry {
        LogEntry { index: i, term: t, data: Bytes::copy_from_slice(d.as_bytes()) }
    }

    #[test]
    fn every_op_round_trips() {
        let ops = vec![
            Op::Entries { group: 7, entries: vec![entry(3, 1, "a"), entry(4, 2, "bcd")] },
            Op::HardState { group: 7, state: HardState { term: 2, vote: 1, commit: 4 } },
            Op::Compact { group: 7, index: 3, term: 1 },
            Op::Reset { group: 9, index: 100, term: 5 },
            Op::RemoveGroup { group: 9 },
            Op::Moved(MovedState {
                group: 7,
                mark_index: 3,
                mark_term: 1,
                hard_state: Some(HardState { term: 2, vote: 1, commit: 4 }),
                entries: vec![entry(4, 2, "bcd")],
            }),
        ];
        let mut buf = Vec::new();
        let mut spans = Vec::new();
        for op in &ops {
            encode(&mut buf, op, &mut spans);
        }
        let mut pos = 0;
        let mut span_iter = spans.iter();
        for op in &ops {
            let f = read_frame(&buf[pos..]).unwrap();
            let d = decode(&f).unwrap();
            assert_eq!(&d.op, op);
            for s in &d.spans {
                let abs = span_iter.next().unwrap();
                // payload starts after the 9-byte header
                assert_eq!(abs.offset, (pos + HEADER_LEN) as u64 + s.offset);
            }
            pos += f.framed_len;
        }
        assert_eq!(pos, buf.len());
    }

    #[test]
    fn damage_is_detected() {
        let mut buf = Vec::new();
        encode(&mut buf, &Op::RemoveGroup { group: 1 }, &mut Vec::new());
        assert_eq!(read_frame(&buf[..5]).err(), Some(FrameError::Truncated));
        assert_eq!(read_frame(&[0u8; 20]).err(), Some(FrameError::Zero));
        let mut bad = buf.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(matches!(read_frame(&bad).err(), Some(FrameError::Corrupt(_))));
    }
}
