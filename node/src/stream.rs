//! Stream entry IDs (`<ms>-<seq>`) as Redis parses, orders and prints them,
//! and the stored form of an entry's fields.
//!
//! An entry's element sub-key is [`ENTRY`] followed by its ID as 16
//! big-endian bytes, so the elements of a stream sort by ID.

use bytes::Bytes;

/// A stream entry ID. The derived order (ms, then seq) is Redis' order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Message)]
pub struct StreamId {
    #[prost(uint64, tag = "1")]
    pub ms: u64,
    #[prost(uint64, tag = "2")]
    pub seq: u64,
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

pub const MIN_ID: StreamId = StreamId { ms: 0, seq: 0 };
pub const MAX_ID: StreamId = StreamId { ms: u64::MAX, seq: u64::MAX };

impl StreamId {
    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    pub fn from_bytes(b: &[u8]) -> Option<StreamId> {
        if b.len() < 16 {
            return None;
        }
        Some(StreamId {
            ms: u64::from_be_bytes(b[..8].try_into().unwrap()),
            seq: u64::from_be_bytes(b[8..16].try_into().unwrap()),
        })
    }

    /// The next ID (Redis' streamIncrID); `None` past the last one.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous ID (streamDecrID); `None` before 0-0.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    pub fn reply(self) -> crate::Reply {
        crate::Reply::bulk(self.to_string())
    }
}

pub const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

/// Redis' `string2ull`: `string2ll` when that takes it (a negative value
/// refused), else C's strtoull over the whole string (which allows leading
/// spaces, a sign, and values past i64::MAX), without overflow.
pub fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = crate::num::parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let s = crate::num::c_string(s);
    let mut i = 0;
    while i < s.len() && crate::num::is_c_space(s[i]) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// A parsed ID argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParsedId {
    pub id: StreamId,
    /// False for `<ms>-*` (XADD picks the sequence).
    pub seq_given: bool,
}

/// Redis' `streamGenericParseIDOrReply`: `-`, `+` (unless `strict`),
/// `<ms>`, `<ms>-<seq>`, and with `allow_auto_seq` `<ms>-*`. A missing
/// sequence is `missing_seq`.
pub fn parse_id(arg: &[u8], missing_seq: u64, strict: bool, allow_auto_seq: bool) -> Option<ParsedId> {
    // Redis copies the argument into a 128-byte buffer first.
    if arg.len() > 127 {
        return None;
    }
    let arg = crate::num::c_string(arg);
    if arg == b"-" || arg == b"+" {
        if strict {
            return None;
        }
        let id = if arg == b"-" { MIN_ID } else { MAX_ID };
        return Some(ParsedId { id, seq_given: true });
    }
    let (ms_part, seq_part) = match arg.iter().position(|&b| b == b'-') {
        Some(p) => (&arg[..p], Some(&arg[p + 1..])),
        None => (arg, None),
    };
    let ms = string2ull(ms_part)?;
    match seq_part {
        Some(b"*") if allow_auto_seq => Some(ParsedId { id: StreamId::new(ms, 0), seq_given: false }),
        Some(s) => Some(ParsedId { id: StreamId::new(ms, string2ull(s)?), seq_given: true }),
        None => Some(ParsedId { id: StreamId::new(ms, missing_seq), seq_given: true }),
    }
}

/// An ID argument where `-` and `+` are allowed, or the invalid-ID error.
pub fn parse_id_arg(arg: &[u8], missing_seq: u64) -> Result<StreamId, crate::Reply> {
    parse_id(arg, missing_seq, false, false).map(|p| p.id).ok_or_else(|| crate::Reply::error(INVALID_ID))
}

/// An ID argument without `-` and `+` (XDEL, XACK, XCLAIM...).
pub fn parse_strict_id_arg(arg: &[u8]) -> Result<StreamId, crate::Reply> {
    parse_id(arg, 0, true, false).map(|p| p.id).ok_or_else(|| crate::Reply::error(INVALID_ID))
}

/// The element sub-key prefix of entries.
pub const ENTRY: u8 = b'e';

pub fn entry_sub(id: StreamId) -> [u8; 17] {
    let mut b = [0u8; 17];
    b[0] = ENTRY;
    b[1..].copy_from_slice(&id.to_bytes());
    b
}

/// An entry's fields and values, flattened, as stored:
/// `[n u32]([len u32][bytes])*`.
pub fn encode_fields(fields: &[Bytes]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + fields.iter().map(|f| 4 + f.len()).sum::<usize>());
    v.extend_from_slice(&(fields.len() as u32).to_be_bytes());
    for f in fields {
        v.extend_from_slice(&(f.len() as u32).to_be_bytes());
        v.extend_from_slice(f);
    }
    v
}

pub fn decode_fields(b: &[u8]) -> Vec<Bytes> {
    let mut out = Vec::new();
    if b.len() < 4 {
        return out;
    }
    let n = u32::from_be_bytes(b[..4].try_into().unwrap()) as usize;
    let mut i = 4;
    for _ in 0..n {
        if i + 4 > b.len() {
            break;
        }
        let len = u32::from_be_bytes(b[i..i + 4].try_into().unwrap()) as usize;
        i += 4;
        let end = (i + len).min(b.len());
        out.push(Bytes::copy_from_slice(&b[i..end]));
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<(u64, u64, bool)> {
        parse_id(s.as_bytes(), 0, false, true).map(|p| (p.id.ms, p.id.seq, p.seq_given))
    }

    #[test]
    fn ids_parse_as_redis_does() {
        assert_eq!(p("5"), Some((5, 0, true)));
        assert_eq!(p("5-3"), Some((5, 3, true)));
        assert_eq!(p("5-*"), Some((5, 0, false)));
        assert_eq!(p("+5-3"), Some((5, 3, true)));
        assert_eq!(p(" 6-3"), Some((6, 3, true)));
        assert_eq!(p("7-+3"), Some((7, 3, true)));
        assert_eq!(p("18446744073709551615-18446744073709551615"), Some((u64::MAX, u64::MAX, true)));
        assert_eq!(p("18446744073709551616"), None);
        assert_eq!(p("-1"), None);
        assert_eq!(p("1--1"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("1-"), None);
        assert_eq!(p("x"), None);
        assert_eq!(p("-"), Some((0, 0, true)));
        assert_eq!(p("+"), Some((u64::MAX, u64::MAX, true)));
        assert_eq!(parse_id(b"+", 0, true, false), None);
        assert_eq!(parse_id(b"5-*", 0, false, false), None);
        assert_eq!(parse_id(b"5", u64::MAX, false, false).unwrap().id, StreamId::new(5, u64::MAX));
    }

    #[test]
    fn increments_carry() {
        assert_eq!(StreamId::new(1, u64::MAX).incr(), Some(StreamId::new(2, 0)));
        assert_eq!(MAX_ID.incr(), None);
        assert_eq!(StreamId::new(2, 0).decr(), Some(StreamId::new(1, u64::MAX)));
        assert_eq!(MIN_ID.decr(), None);
    }

    #[test]
    fn fields_round_trip() {
        let f = vec![Bytes::from_static(b"a"), Bytes::new(), Bytes::from_static(b"xyz")];
        assert_eq!(decode_fields(&encode_fields(&f)), f);
    }
}
