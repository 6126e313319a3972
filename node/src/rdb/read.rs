//! Reading RDB's primitives from a payload: lengths, strings (plain,
//! integer-encoded, LZF-compressed) and scores.

use super::DecodeError::{self, BadFormat};
use bytes::Bytes;

/// The largest string an LZF string may inflate to (Redis' proto-max-bulk-len).
const MAX_STRING: u64 = 512 << 20;
/// LZF's best case: a 3-byte back reference copies 264 bytes.
const LZF_MAX_RATIO: u64 = 264 / 3 + 1;

/// What a decoded value may take in memory: one raft entry's worth (the
/// node proposes it as one), counting each item's bytes plus its handle. A
/// payload under the request limit can claim far more (LZF, and compact
/// encodings whose 1-byte integers become decimal strings); past this,
/// decoding stops before it allocates.
pub struct Budget(u64);

/// One raft entry (kvraft's max_entry_size).
pub const VALUE_BUDGET: u64 = 64 << 20;
/// What one item costs beyond its bytes (its `Bytes` handle).
const ITEM_COST: u64 = 32;

impl Budget {
    pub fn new() -> Budget {
        Budget(VALUE_BUDGET)
    }

    /// Charges an item of `len` bytes.
    pub fn take(&mut self, len: u64) -> Result<(), DecodeError> {
        let cost = len.saturating_add(ITEM_COST);
        if cost > self.0 {
            return Err(DecodeError::TooLarge);
        }
        self.0 -= cost;
        Ok(())
    }
}

pub struct Reader<'a> {
    buf: &'a [u8],
    pub budget: Budget,
}

/// A length, or a string's special encoding (RDB_ENCVAL).
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, budget: Budget::new() }
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() as u64 {
            return Err(BadFormat);
        }
        let (head, rest) = self.buf.split_at(n as usize);
        self.buf = rest;
        Ok(head)
    }

    fn len_or_encoding(&mut self) -> Result<Len, DecodeError> {
        let first = self.u8()?;
        Ok(match first >> 6 {
            0 => Len::Plain((first & 0x3f) as u64),
            1 => Len::Plain((((first & 0x3f) as u64) << 8) | self.u8()? as u64),
            3 => Len::Encoded(first & 0x3f),
            _ if first == 0x80 => Len::Plain(u32::from_be_bytes(self.take(4)?.try_into().unwrap()) as u64),
            _ if first == 0x81 => Len::Plain(u64::from_be_bytes(self.take(8)?.try_into().unwrap())),
            _ => return Err(BadFormat),
        })
    }

    /// A count of things that follow (each at least one byte, so a count
    /// beyond the bytes left is refused here).
    pub fn len(&mut self) -> Result<u64, DecodeError> {
        match self.len_or_encoding()? {
            Len::Plain(n) if n <= self.buf.len() as u64 => Ok(n),
            _ => Err(BadFormat),
        }
    }

    /// A number stored in the length encoding (stream IDs and counters).
    pub fn len_value(&mut self) -> Result<u64, DecodeError> {
        match self.len_or_encoding()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(BadFormat),
        }
    }

    /// `n` bytes as they are.
    pub fn raw(&mut self, n: u64) -> Result<&'a [u8], DecodeError> {
        self.take(n)
    }

    /// A time in milliseconds: 8 bytes, little-endian.
    pub fn millis(&mut self) -> Result<u64, DecodeError> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().unwrap()) as u64)
    }

    pub fn string(&mut self) -> Result<Bytes, DecodeError> {
        let n = match self.len_or_encoding()? {
            Len::Plain(n) => n,
            Len::Encoded(0) => return int_string(self.take(1)?[0] as i8 as i64, &mut self.budget),
            Len::Encoded(1) => {
                let v = i16::from_le_bytes(self.take(2)?.try_into().unwrap()) as i64;
                return int_string(v, &mut self.budget);
            }
            Len::Encoded(2) => {
                let v = i32::from_le_bytes(self.take(4)?.try_into().unwrap()) as i64;
                return int_string(v, &mut self.budget);
            }
            Len::Encoded(3) => return self.lzf(),
            Len::Encoded(_) => return Err(BadFormat),
        };
        let data = self.take(n)?;
        self.budget.take(n)?;
        Ok(Bytes::copy_from_slice(data))
    }

    fn lzf(&mut self) -> Result<Bytes, DecodeError> {
        let (Len::Plain(clen), Len::Plain(len)) = (self.len_or_encoding()?, self.len_or_encoding()?) else {
            return Err(BadFormat);
        };
        let packed = self.take(clen)?;
        // Redis checks that the data inflates to exactly `len` bytes; bound
        // `len` first, since the inflater allocates it up front.
        if len == 0 || len > MAX_STRING || len > clen.saturating_mul(LZF_MAX_RATIO) {
            return Err(BadFormat);
        }
        self.budget.take(len)?;
        match lzf::decompress(packed, len as usize) {
            Ok(v) if v.len() as u64 == len => Ok(Bytes::from(v)),
            _ => Err(BadFormat),
        }
    }

    /// A count, then that many strings.
    pub fn strings(&mut self) -> Result<Vec<Bytes>, DecodeError> {
        let n = self.len()?;
        (0..n).map(|_| self.string()).collect()
    }

    /// A count, then that many pairs of strings.
    pub fn pairs(&mut self) -> Result<Vec<(Bytes, Bytes)>, DecodeError> {
        let n = self.len()?;
        (0..n).map(|_| Ok((self.string()?, self.string()?))).collect()
    }

    /// RDB_TYPE_ZSET_2's score: 8 bytes, little-endian IEEE 754.
    pub fn binary_double(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    /// RDB_TYPE_ZSET's score: a length byte (253 NaN, 254 inf, 255 -inf),
    /// then that many bytes of text.
    pub fn text_double(&mut self) -> Result<f64, DecodeError> {
        match self.u8()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => parse_score(self.take(n as u64)?),
        }
    }
}

/// An integer as its decimal text, charged to `budget`.
pub fn int_string(v: i64, budget: &mut Budget) -> Result<Bytes, DecodeError> {
    let s = v.to_string();
    budget.take(s.len() as u64)?;
    Ok(Bytes::from(s))
}

/// Bytes of a compact encoding's entry, charged to `budget`.
pub fn copied(b: &[u8], budget: &mut Budget) -> Result<Bytes, DecodeError> {
    budget.take(b.len() as u64)?;
    Ok(Bytes::copy_from_slice(b))
}

/// A score written as text (old zsets, ziplist and listpack zsets).
pub fn parse_score(s: &[u8]) -> Result<f64, DecodeError> {
    crate::num::parse_range_f64(s).filter(|_| !s.is_empty()).ok_or(BadFormat)
}
