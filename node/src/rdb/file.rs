//! An RDB file, Redis' `dump.rdb`, as Redis 7.0 writes it (rdbSaveRio):
//! the header, auxiliary fields, the function libraries, database 0 with
//! each key's expiry and value, the end marker and a CRC-64 of it all.
//! redis-server loads it, so SAVE here moves a dataset to Redis or keeps
//! a copy in Redis' format.

use super::{put_string, put_value, type_of, Value, CRC64};
use std::io::Write;

/// The RDB version Redis 7.0 writes (streams need 10).
const FILE_VERSION: u16 = 10;

// RDB opcodes (rdb.h).
const OPCODE_FUNCTION2: u8 = 245;
const OPCODE_EXPIRETIME_MS: u8 = 252;
const OPCODE_SELECTDB: u8 = 254;
const OPCODE_AUX: u8 = 250;
const OPCODE_EOF: u8 = 255;

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
