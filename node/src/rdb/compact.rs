//! Redis' compact encodings inside RDB strings: intset, ziplist (Redis 2.6
//! to 6.2) and listpack (7.0 on). Each gives its entries in order, integers
//! as their decimal text, as Redis' own iterators do.

use super::read::{copied, int_string, Budget};
use super::DecodeError::{self, BadFormat};
use bytes::Bytes;

fn le(b: &[u8]) -> i64 {
    // Sign-extends a little-endian integer of 1 to 8 bytes.
    let mut v = [0u8; 8];
    v[..b.len()].copy_from_slice(b);
    let shift = 64 - 8 * b.len() as u32;
    (i64::from_le_bytes(v) << shift) >> shift
}

/// A cursor over a blob that refuses to read past its end.
struct Cur<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or(BadFormat)?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
}

/// `[encoding u32][length u32][values]`, little-endian, 2, 4 or 8 bytes each.
pub fn intset(blob: &[u8], budget: &mut Budget) -> Result<Vec<Bytes>, DecodeError> {
    let mut c = Cur { buf: blob, at: 0 };
    let width = le(c.take(4)?) as usize;
    let count = le(c.take(4)?) as u32 as usize;
    if !matches!(width, 2 | 4 | 8) || (blob.len() - 8) / width != count || !(blob.len() - 8).is_multiple_of(width) {
        return Err(BadFormat);
    }
    (0..count).map(|_| int_string(le(c.take(width)?), budget)).collect()
}

/// `[zlbytes u32][zltail u32][zllen u16][entries][0xff]`; each entry is
/// `[prevlen 1 or 5 bytes][encoding][data]`.
pub fn ziplist(blob: &[u8], budget: &mut Budget) -> Result<Vec<Bytes>, DecodeError> {
    let mut c = Cur { buf: blob, at: 0 };
    if le(c.take(4)?) as u32 as usize != blob.len() {
        return Err(BadFormat);
    }
    c.take(6)?;
    let mut out = Vec::new();
    loop {
        match c.u8()? {
            0xff => break,
            254 => {
                c.take(4)?;
            }
            _ => {}
        }
        let e = c.u8()?;
        let item = match e >> 6 {
            0 => copied(c.take((e & 0x3f) as usize)?, budget)?,
            1 => {
                let n = (((e & 0x3f) as usize) << 8) | c.u8()? as usize;
                copied(c.take(n)?, budget)?
            }
            2 if e == 0x80 => {
                let n = u32::from_be_bytes(c.take(4)?.try_into().unwrap()) as usize;
                copied(c.take(n)?, budget)?
            }
            2 => return Err(BadFormat),
            _ => int_string(
                match e {
                    0xc0 => le(c.take(2)?),
                    0xd0 => le(c.take(4)?),
                    0xe0 => le(c.take(8)?),
                    0xf0 => le(c.take(3)?),
                    0xfe => le(c.take(1)?),
                    0xf1..=0xfd => (e & 0x0f) as i64 - 1,
                    _ => return Err(BadFormat),
                },
                budget,
            )?,
        };
        out.push(item);
    }
    if c.at != blob.len() {
        return Err(BadFormat);
    }
    Ok(out)
}

/// `[total bytes u32][count u16][entries][0xff]`; each entry is
/// `[encoding + data][backlen 1-5 bytes]`.
pub fn listpack(blob: &[u8], budget: &mut Budget) -> Result<Vec<Bytes>, DecodeError> {
    let mut c = Cur { buf: blob, at: 0 };
    if le(c.take(4)?) as u32 as usize != blob.len() {
        return Err(BadFormat);
    }
    c.take(2)?;
    let mut out = Vec::new();
    loop {
        let start = c.at;
        let e = c.u8()?;
        let item = if e == 0xff {
            break;
        } else if e & 0x80 == 0 {
            int_string((e & 0x7f) as i64, budget)?
        } else if e & 0xc0 == 0x80 {
            copied(c.take((e & 0x3f) as usize)?, budget)?
        } else if e & 0xe0 == 0xc0 {
            // 13-bit signed integer.
            let v = (((e & 0x1f) as i64) << 8) | c.u8()? as i64;
            int_string(if v >= 1 << 12 { v - (1 << 13) } else { v }, budget)?
        } else if e & 0xf0 == 0xe0 {
            let n = (((e & 0x0f) as usize) << 8) | c.u8()? as usize;
            copied(c.take(n)?, budget)?
        } else {
            match e {
                0xf0 => {
                    let n = u32::from_le_bytes(c.take(4)?.try_into().unwrap()) as usize;
                    copied(c.take(n)?, budget)?
                }
                0xf1 => int_string(le(c.take(2)?), budget)?,
                0xf2 => int_string(le(c.take(3)?), budget)?,
                0xf3 => int_string(le(c.take(4)?), budget)?,
                0xf4 => int_string(le(c.take(8)?), budget)?,
                _ => return Err(BadFormat),
            }
        };
        // The back-length: the entry's size in as many 7-bit groups as it needs.
        let size = c.at - start;
        c.take(match size {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2097150 => 3,
            2097151..=268435454 => 4,
            _ => 5,
        })?;
        out.push(item);
    }
    if c.at != blob.len() {
        return Err(BadFormat);
    }
    Ok(out)
}

/// An element to write into a listpack.
pub enum Lp<'a> {
    Int(i64),
    Str(&'a [u8]),
}

/// A listpack of `items` (Redis' encodings: integers in the smallest
/// integer form, strings with 6-, 12- or 32-bit lengths, each entry followed
/// by its back-length).
pub fn write_listpack(items: &[Lp]) -> Vec<u8> {
    let mut out = vec![0u8; 6];
    for item in items {
        let start = out.len();
        match item {
            Lp::Int(v @ 0..=127) => out.push(*v as u8),
            Lp::Int(v @ -4096..=4095) => {
                let u = (*v as u16) & 0x1fff;
                out.extend_from_slice(&[0xc0 | (u >> 8) as u8, u as u8]);
            }
            Lp::Int(v) if i16::try_from(*v).is_ok() => {
                out.push(0xf1);
                out.extend_from_slice(&(*v as i16).to_le_bytes());
            }
            Lp::Int(v) if (-(1 << 23)..1 << 23).contains(v) => {
                out.push(0xf2);
                out.extend_from_slice(&(*v as i32).to_le_bytes()[..3]);
            }
            Lp::Int(v) if i32::try_from(*v).is_ok() => {
                out.push(0xf3);
                out.extend_from_slice(&(*v as i32).to_le_bytes());
            }
            Lp::Int(v) => {
                out.push(0xf4);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Lp::Str(s) if s.len() < 64 => {
                out.push(0x80 | s.len() as u8);
                out.extend_from_slice(s);
            }
            Lp::Str(s) if s.len() < 4096 => {
                out.extend_from_slice(&[0xe0 | (s.len() >> 8) as u8, s.len() as u8]);
                out.extend_from_slice(s);
            }
            Lp::Str(s) => {
                out.push(0xf0);
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s);
            }
        }
        // The back-length: the entry's size, 7 bits per byte, most
        // significant first, every byte but the first flagged.
        let size = out.len() - start;
        let groups = match size {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2097150 => 3,
            2097151..=268435454 => 4,
            _ => 5,
        };
        for g in (0..groups).rev() {
            let bits = ((size >> (7 * g)) & 0x7f) as u8;
            out.push(if g == groups - 1 { bits } else { bits | 0x80 });
        }
    }
    out.push(0xff);
    let total = out.len() as u32;
    out[..4].copy_from_slice(&total.to_le_bytes());
    out[4..6].copy_from_slice(&(items.len().min(65535) as u16).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[Bytes]) -> Vec<&str> {
        v.iter().map(|b| std::str::from_utf8(b).unwrap()).collect()
    }

    #[test]
    fn intsets_of_each_width() {
        let mut blob = vec![2, 0, 0, 0, 3, 0, 0, 0];
        for v in [-2i16, 7, 300] {
            blob.extend_from_slice(&v.to_le_bytes());
        }
        assert_eq!(strs(&intset(&blob, &mut Budget::new()).unwrap()), ["-2", "7", "300"]);
        blob.push(0);
        assert_eq!(intset(&blob, &mut Budget::new()), Err(BadFormat));
    }

    #[test]
    fn listpack_integers_and_strings() {
        // 5 (7-bit), -1 (13-bit), "ab" (6-bit string), 1000000 (24-bit).
        let mut body = vec![0x05, 1, 0xdf, 0xff, 2, 0x82, b'a', b'b', 3, 0xf2, 0x40, 0x42, 0x0f, 4];
        body.push(0xff);
        let mut blob = ((body.len() + 6) as u32).to_le_bytes().to_vec();
        blob.extend_from_slice(&4u16.to_le_bytes());
        blob.extend_from_slice(&body);
        assert_eq!(strs(&listpack(&blob, &mut Budget::new()).unwrap()), ["5", "-1", "ab", "1000000"]);
        // A truncated one.
        assert_eq!(listpack(&blob[..blob.len() - 2], &mut Budget::new()), Err(BadFormat));
    }

    #[test]
    fn listpacks_written_read_back() {
        let long = vec![b'x'; 5000];
        let items = [
            Lp::Int(5),
            Lp::Int(-1),
            Lp::Int(4095),
            Lp::Int(-30000),
            Lp::Int(1_000_000),
            Lp::Int(-2_000_000_000),
            Lp::Int(i64::MIN),
            Lp::Str(b"ab"),
            Lp::Str(&[b'y'; 200]),
            Lp::Str(&long),
        ];
        let blob = write_listpack(&items);
        let back = listpack(&blob, &mut Budget::new()).unwrap();
        assert_eq!(strs(&back[..7]), ["5", "-1", "4095", "-30000", "1000000", "-2000000000", &i64::MIN.to_string()]);
        assert_eq!(back[7], "ab");
        assert_eq!(back[8].len(), 200);
        assert_eq!(back[9].len(), 5000);
    }

    #[test]
    fn ziplist_integers_and_strings() {
        // "ab", 12 (immediate), -2 (int8), 70000 (int32).
        let body = [0, 0x02, b'a', b'b', 4, 0xfd, 2, 0xfe, 0xfe, 3, 0xd0, 0x70, 0x11, 0x01, 0x00, 0xff];
        let mut blob = ((body.len() + 10) as u32).to_le_bytes().to_vec();
        blob.extend_from_slice(&[0, 0, 0, 0, 4, 0]);
        blob.extend_from_slice(&body);
        assert_eq!(strs(&ziplist(&blob, &mut Budget::new()).unwrap()), ["ab", "12", "-2", "70000"]);
    }
}
