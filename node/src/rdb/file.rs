//! An RDB file, Redis' `dump.rdb`, as Redis 7.0 writes it (rdbSaveRio):
//! the header, auxiliary fields, the function libraries, database 0 with
//! each key's expiry and value, the end marker and a CRC-64 of it all.
//! redis-server loads it, so SAVE here moves a dataset to Redis or keeps
//! a copy in Redis' format; and [`read`] takes Redis' files apart, key by
//! key, to bring a dataset from Redis.

use super::read::{Budget, Reader};
use super::{put_string, put_value, read_typed, type_of, Value, CRC64, MAX_VERSION};
use bytes::Bytes;
use std::io::Write;

/// The RDB version Redis 7.0 writes (streams need 10).
const FILE_VERSION: u16 = 10;

// RDB opcodes (rdb.h).
const OPCODE_SLOT_INFO: u8 = 244;
const OPCODE_FUNCTION2: u8 = 245;
const OPCODE_FUNCTION: u8 = 246;
const OPCODE_MODULE_AUX: u8 = 247;
const OPCODE_IDLE: u8 = 248;
const OPCODE_FREQ: u8 = 249;
const OPCODE_AUX: u8 = 250;
const OPCODE_RESIZEDB: u8 = 251;
const OPCODE_EXPIRETIME_MS: u8 = 252;
const OPCODE_EXPIRETIME: u8 = 253;
const OPCODE_SELECTDB: u8 = 254;
const OPCODE_EOF: u8 = 255;

/// What an RDB file holds, in its order.
pub enum Item {
    /// A function library's code (with its `#!` line).
    Library(Bytes),
    /// A key of database 0: its value and expiry (Unix milliseconds).
    Key { key: Bytes, value: Value, expire_at_ms: Option<u64> },
}

/// Reads the RDB file `bytes` (Redis 2.6 to 7.4), giving each library and
/// key to `each` in turn; an error says what and where. The checksum is
/// checked before anything is given. Keys of other databases than 0, and
/// module data, are refused: this store has neither.
pub fn read(bytes: &[u8], mut each: impl FnMut(Item) -> Result<(), String>) -> Result<(), String> {
    let body = check(bytes)?;
    let mut r = Reader::new(body);
    let mut expire_at_ms = None;
    loop {
        let offset = 9 + body.len() - r.rest().len();
        let item = next(&mut r, &mut expire_at_ms)
            .map_err(|e| format!("at byte {offset}: {}", e.unwrap_or_else(|d| d.message())))?;
        match item {
            Some(Some(item)) => each(item)?,
            Some(None) => {}
            None => return Ok(()),
        }
    }
}

/// The header's version and the checksum; what lies between them.
fn check(bytes: &[u8]) -> Result<&[u8], String> {
    let version = bytes
        .strip_prefix(b"REDIS")
        .and_then(|b| std::str::from_utf8(b.get(..4)?).ok()?.parse::<u16>().ok())
        .ok_or("not an RDB file (no REDIS header)")?;
    if !(1..=MAX_VERSION).contains(&version) {
        return Err(format!("RDB version {version}: this store reads 1 to {MAX_VERSION}"));
    }
    let body = &bytes[9..];
    // Version 5 on ends with a CRC-64 of the file (0: not computed).
    if version >= 5 {
        let Some(split) = bytes.len().checked_sub(8).filter(|&s| s >= 9) else {
            return Err("the file is cut short".into());
        };
        let crc = u64::from_le_bytes(bytes[split..].try_into().unwrap());
        if crc != 0 && CRC64.checksum(&bytes[..split]) != crc {
            return Err("wrong checksum: the file is damaged".into());
        }
        return Ok(&body[..split - 9]);
    }
    Ok(body)
}

/// The next item: `None` at the end, `Some(None)` for what carries nothing
/// for this store (aux fields, sizes, LRU/LFU hints).
fn next(
    r: &mut Reader,
    expire_at_ms: &mut Option<u64>,
) -> Result<Option<Option<Item>>, Result<String, super::DecodeError>> {
    let op = r.u8().map_err(Err)?;
    match op {
        OPCODE_EOF => return Ok(None),
        OPCODE_AUX => {
            r.string().map_err(Err)?;
            r.string().map_err(Err)?;
        }
        OPCODE_RESIZEDB => {
            r.len().map_err(Err)?;
            r.len().map_err(Err)?;
        }
        OPCODE_SLOT_INFO => {
            for _ in 0..3 {
                r.len().map_err(Err)?;
            }
        }
        OPCODE_EXPIRETIME_MS => *expire_at_ms = Some(r.millis().map_err(Err)?),
        OPCODE_EXPIRETIME => {
            let secs = r.raw(4).map_err(Err)?;
            *expire_at_ms = Some(u32::from_le_bytes(secs.try_into().unwrap()) as u64 * 1000);
        }
        OPCODE_FREQ => {
            r.u8().map_err(Err)?;
        }
        OPCODE_IDLE => {
            r.len().map_err(Err)?;
        }
        OPCODE_SELECTDB => {
            let db = r.len().map_err(Err)?;
            if db != 0 {
                return Err(Ok(format!("keys of database {db}: this store serves database 0 only")));
            }
        }
        OPCODE_MODULE_AUX => return Err(Ok("module data: this store has no modules".into())),
        OPCODE_FUNCTION => return Err(Ok("a Redis 7.0 release candidate's function format".into())),
        OPCODE_FUNCTION2 => return Ok(Some(Some(Item::Library(r.string().map_err(Err)?)))),
        ty => {
            let key = r.string().map_err(Err)?;
            r.budget = Budget::new();
            let value = read_typed(r, ty).map_err(Err)?;
            return Ok(Some(Some(Item::Key { key, value, expire_at_ms: expire_at_ms.take() })));
        }
    }
    Ok(Some(None))
}

/// Writes an RDB file to `w`, key by key, checksumming as it goes.
pub struct FileWriter<W: Write> {
    w: W,
    digest: crc::Digest<'static, u64>,
    buf: Vec<u8>,
}

impl<W: Write> FileWriter<W> {
    /// Starts the file: header, `aux` fields (name, value), the libraries'
    /// codes, and database 0.
    pub fn new(w: W, aux: &[(&str, String)], libraries: &[&[u8]]) -> std::io::Result<Self> {
        let mut f = FileWriter { w, digest: CRC64.digest(), buf: Vec::new() };
        f.buf.extend_from_slice(format!("REDIS{FILE_VERSION:04}").as_bytes());
        for (name, value) in aux {
            f.buf.push(OPCODE_AUX);
            put_string(&mut f.buf, name.as_bytes());
            put_string(&mut f.buf, value.as_bytes());
        }
        for code in libraries {
            f.buf.push(OPCODE_FUNCTION2);
            put_string(&mut f.buf, code);
        }
        f.buf.extend_from_slice(&[OPCODE_SELECTDB, 0]);
        f.flush()?;
        Ok(f)
    }

    /// One key: its expiry (Unix milliseconds), its value.
    pub fn key(&mut self, key: &[u8], value: &Value, expire_at_ms: Option<u64>) -> std::io::Result<()> {
        if let Some(at) = expire_at_ms {
            self.buf.push(OPCODE_EXPIRETIME_MS);
            self.buf.extend_from_slice(&at.to_le_bytes());
        }
        self.buf.push(type_of(value));
        put_string(&mut self.buf, key);
        put_value(&mut self.buf, value);
        if self.buf.len() >= 1 << 16 {
            self.flush()?;
        }
        Ok(())
    }

    /// Ends the file (end marker and checksum) and hands back the writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.buf.push(OPCODE_EOF);
        self.flush()?;
        let crc = self.digest.finalize();
        self.w.write_all(&crc.to_le_bytes())?;
        Ok(self.w)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.digest.update(&self.buf);
        self.w.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_redis_7s() {
        let out = FileWriter::new(Vec::new(), &[("redis-ver", "7.0.15".into())], &[]).unwrap().finish().unwrap();
        assert!(out.starts_with(b"REDIS0010\xfa\x09redis-ver\x067.0.15\xfe\x00\xff"));
        let (body, crc) = out.split_at(out.len() - 8);
        assert_eq!(CRC64.checksum(body).to_le_bytes(), crc);
    }
}
