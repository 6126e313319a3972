//! FUNCTION DUMP's payload: each library as RDB's function opcode and its
//! code, then the RDB version and a CRC-64, as in Redis 7.0
//! (`rdbSaveFunctions`, `functionDumpCommand`).

use super::read::Reader;
use super::{put_string, seal, unsealed};
use bytes::Bytes;

/// RDB_OPCODE_FUNCTION2: a library's whole code (with its `#!` line).
const OPCODE_FUNCTION2: u8 = 245;
/// RDB_OPCODE_FUNCTION: Redis 7.0 rc1/rc2's form (name, engine,
/// description, code without the `#!` line).
const OPCODE_FUNCTION: u8 = 246;
/// The RDB version Redis 7.0 writes.
const FUNCTIONS_VERSION: u16 = 10;

/// The payload of these libraries' codes.
pub fn encode<'a>(codes: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(OPCODE_FUNCTION2);
        put_string(&mut out, code);
    }
    seal(&mut out, FUNCTIONS_VERSION);
    out
}

/// Why a payload does not load (Redis' words, without "ERR ").
#[derive(Debug, PartialEq, Eq)]
pub enum FunctionsDecodeError {
    VersionOrChecksum,
    Other(&'static str),
}

impl FunctionsDecodeError {
    pub fn message(&self) -> &'static str {
        match self {
            FunctionsDecodeError::VersionOrChecksum => "DUMP payload version or checksum are wrong",
            FunctionsDecodeError::Other(m) => m,
        }
    }
}

/// The libraries' codes in a payload (an old-format library is given the
/// `#!<engine> name=<name>` line Redis gives it).
pub fn decode(payload: &[u8]) -> Result<Vec<Bytes>, FunctionsDecodeError> {
    use FunctionsDecodeError::*;
    let mut r = Reader::new(unsealed(payload).ok_or(VersionOrChecksum)?);
    let mut codes = Vec::new();
    while !r.is_empty() {
        match r.u8().map_err(|_| Other("can not read data type"))? {
            OPCODE_FUNCTION2 => codes.push(r.string().map_err(|_| Other("Failed loading library payload"))?),
            OPCODE_FUNCTION => {
                let name = r.string().map_err(|_| Other("Failed loading library name"))?;
                let engine = r.string().map_err(|_| Other("Failed loading engine name"))?;
                let has_desc = r.len_value().map_err(|_| Other("Failed loading library description indicator"))?;
                if has_desc != 0 {
                    r.string().map_err(|_| Other("Failed loading library description"))?;
                }
                let blob = r.string().map_err(|_| Other("Failed loading library blob"))?;
                let mut code =
                    format!("#!{} name={}\n", String::from_utf8_lossy(&engine), String::from_utf8_lossy(&name))
                        .into_bytes();
                code.extend_from_slice(&blob);
                codes.push(Bytes::from(code));
            }
            _ => return Err(Other("given type is not a function")),
        }
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_are_checked() {
        let codes: [&[u8]; 2] = [b"#!lua name=a\nreturn", b"#!lua name=b\n"];
        let p = encode(codes);
        assert_eq!(decode(&p).unwrap(), vec![Bytes::from_static(codes[0]), Bytes::from_static(codes[1])]);
        let mut bad = p.clone();
        bad[3] ^= 1;
        assert_eq!(decode(&bad), Err(FunctionsDecodeError::VersionOrChecksum));
        assert_eq!(decode(&encode([])).unwrap(), Vec::<Bytes>::new());
    }

    #[test]
    fn writes_what_redis_writes() {
        // FUNCTION DUMP of redis-server 7.0.15 holding this one library.
        let code = b"#!lua name=mylib\nredis.register_function('f', function() return 1 end)";
        let redis = "f5404623216c7561206e616d653d6d796c69620a72656469732e72656769737465725f66756e6374696f6e282766272c\
                     2066756e6374696f6e28292072657475726e203120656e64290a00c531defc4ff44599";
        let hex: String = encode([&code[..]]).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, redis);
    }
}
