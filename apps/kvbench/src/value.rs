//! Values: every value written names its writer and sequence number in its
//! first bytes, so a read can be checked against the exact write it should
//! return, and is padded to the requested size.

use rand::Rng;
use serde::Serialize;

/// A fixed size (`min == max`) or a range picked uniformly per write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ValueSize {
    pub min: u32,
    pub max: u32,
}

impl ValueSize {
    /// `64`, `16-1024` or `16..1024`.
    pub fn parse(s: &str) -> Result<ValueSize, String> {
        let num =
            |t: &str| t.trim().parse::<u32>().map_err(|_| format!("bad value size {s:?}: expected 64 or 16-1024"));
        let (min, max) = match s.split_once('-').or_else(|| s.split_once("..")) {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(s)?, num(s)?),
        };
        if min > max {
            return Err(format!("bad value size {s:?}: the range is empty"));
        }
        if max > 512 << 20 {
            return Err(format!("bad value size {s:?}: at most 512 MiB"));
        }
        Ok(ValueSize { min, max })
    }

    pub fn pick(&self, rng: &mut impl Rng) -> u32 {
        if self.min == self.max {
            self.min
        } else {
            rng.gen_range(self.min..=self.max)
        }
    }
}

/// Names one written value: who wrote it, its sequence number in that
/// writer's run, its index within a multi-key write, and its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValId {
    pub client: u32,
    pub seq: u64,
    pub sub: u16,
    pub len: u32,
}

/// Longest header: "c4294967295:s18446744073709551615:j65535:".
const HEADER_MAX: usize = 48;

impl ValId {
    fn header(&self) -> ([u8; HEADER_MAX], usize) {
        use std::io::Write;
        let mut buf = [0u8; HEADER_MAX];
        let mut cur = std::io::Cursor::new(&mut buf[..]);
        write!(cur, "c{}:s{}:j{}:", self.client, self.seq, self.sub).expect("header fits");
        let n = cur.position() as usize;
        (buf, n)
    }

    /// The bytes on the wire: the header, then `x` up to `len` (a value
    /// smaller than its header is the header alone).
    pub fn encoded_len(&self) -> usize {
        (self.len as usize).max(self.header().1)
    }

    pub fn write_to(&self, out: &mut Vec<u8>) {
        let (h, n) = self.header();
        out.extend_from_slice(&h[..n]);
        out.resize(out.len() + (self.len as usize).saturating_sub(n), b'x');
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.encoded_len());
        self.write_to(&mut v);
        v
    }

    pub fn matches(&self, got: &[u8]) -> bool {
        let (h, n) = self.header();
        got.len() == self.encoded_len() && got.starts_with(&h[..n]) && got[n..].iter().all(|b| *b == b'x')
    }
}

/// A short printable form of a value read back, for mismatch reports.
pub fn describe(got: Option<&[u8]>) -> String {
    match got {
        None => "nil".into(),
        Some(b) => {
            let head = &b[..b.len().min(40)];
            let head = head.iter().position(|c| *c == b'x').map_or(head, |p| &head[..p]);
            format!("{:?} ({} bytes)", String::from_utf8_lossy(head), b.len())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(ValueSize::parse("64").unwrap(), ValueSize { min: 64, max: 64 });
        assert_eq!(ValueSize::parse("16-1024").unwrap(), ValueSize { min: 16, max: 1024 });
        assert_eq!(ValueSize::parse("16..32").unwrap(), ValueSize { min: 16, max: 32 });
        assert!(ValueSize::parse("32-16").is_err());
        assert!(ValueSize::parse("big").is_err());
    }

    #[test]
    fn values_round_trip_and_differ() {
        let a = ValId { client: 3, seq: 17, sub: 0, len: 64 };
        let b = ValId { seq: 18, ..a };
        let bytes = a.to_bytes();
        assert_eq!(bytes.len(), 64);
        assert!(a.matches(&bytes));
        assert!(!b.matches(&bytes));
        assert!(!a.matches(&bytes[..63]));
        // A value shorter than its header is the header.
        let tiny = ValId { len: 1, ..a };
        assert!(tiny.matches(&tiny.to_bytes()));
        assert_eq!(describe(Some(&bytes)), "\"c3:s17:j0:\" (64 bytes)");
    }
}
