//! Redis' DUMP payload: one value in RDB's serialization, then the RDB
//! version (2 bytes, little-endian) and a CRC-64 (Jones, as Redis' crc64.c)
//! of everything before it.
//!
//! DUMP writes the plain RDB types (string, list, set, hash, sorted set with
//! binary scores) under RDB version 9, which every Redis since 5.0 restores,
//! and streams in Redis 7.0's form (listpack nodes, RDB version 10).
//! RESTORE reads what Redis 2.8 to 7.4 writes for the types we hold: the
//! plain types and the compact ones (ziplist, quicklist, intset, listpack),
//! with LZF-compressed and integer-encoded strings, and streams of Redis 5
//! to 7.4 ([`stream`]). Modules and 7.4's hashes with field expiry are
//! refused.
//!
//! Everything read is bounded by the payload: a length in it never sizes an
//! allocation before the bytes are there, so a forged payload gets an error,
//! not an abort.

mod compact;
pub mod file;
pub mod functions;
mod read;
pub mod stream;

use bytes::Bytes;
use read::Reader;

/// A value as DUMP/RESTORE carry it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    String(Bytes),
    /// Elements, head first.
    List(Vec<Bytes>),
    Set(Vec<Bytes>),
    Hash(Vec<(Bytes, Bytes)>),
    ZSet(Vec<(Bytes, f64)>),
    Stream(Box<stream::StreamValue>),
}

#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Too short, a newer RDB version than we read, or a checksum mismatch.
    VersionOrChecksum,
    /// The value does not parse.
    BadFormat,
    /// A type this store does not hold (streams, modules, hash field TTLs).
    Unsupported(&'static str),
    /// The value would take more than one raft entry (64 MiB).
    TooLarge,
}

impl DecodeError {
    /// RESTORE's error reply, Redis' words where Redis has them.
    pub fn message(&self) -> String {
        match self {
            DecodeError::VersionOrChecksum => "ERR DUMP payload version or checksum are wrong".into(),
            DecodeError::BadFormat => "ERR Bad data format".into(),
            DecodeError::Unsupported(what) => format!("ERR Bad data format: {what} are not supported by this server"),
            DecodeError::TooLarge => {
                "ERR Bad data format: the value takes more than 64 MiB, the most one write carries here".into()
            }
        }
    }
}

/// The RDB version DUMP writes (streams: Redis 7.0's, whose stream type
/// carries the counters 7.0 added).
const DUMP_VERSION: u16 = 9;
const DUMP_VERSION_STREAM: u16 = 10;
/// The newest RDB version RESTORE reads (Redis 7.4).
const MAX_VERSION: u16 = 12;

static CRC64: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);

// RDB object types (rdb.h).
const T_STRING: u8 = 0;
const T_LIST: u8 = 1;
const T_SET: u8 = 2;
const T_ZSET: u8 = 3;
const T_HASH: u8 = 4;
const T_ZSET_2: u8 = 5;
const T_MODULE: u8 = 6;
const T_MODULE_2: u8 = 7;
const T_HASH_ZIPMAP: u8 = 9;
const T_LIST_ZIPLIST: u8 = 10;
const T_SET_INTSET: u8 = 11;
const T_ZSET_ZIPLIST: u8 = 12;
const T_HASH_ZIPLIST: u8 = 13;
const T_LIST_QUICKLIST: u8 = 14;
const T_STREAM: u8 = 15;
const T_HASH_LISTPACK: u8 = 16;
const T_ZSET_LISTPACK: u8 = 17;
const T_LIST_QUICKLIST_2: u8 = 18;
const T_STREAM_2: u8 = 19;
const T_SET_LISTPACK: u8 = 20;
const T_STREAM_3: u8 = 21;

/// Quicklist 2 node containers.
const QUICKLIST_PLAIN: u64 = 1;
const QUICKLIST_PACKED: u64 = 2;

/// The DUMP payload of `v`.
pub fn encode(v: &Value) -> Vec<u8> {
    let mut out = vec![type_of(v)];
    put_value(&mut out, v);
    let version = if matches!(v, Value::Stream(_)) { DUMP_VERSION_STREAM } else { DUMP_VERSION };
    seal(&mut out, version);
    out
}

/// The RDB type byte `v` is written under.
fn type_of(v: &Value) -> u8 {
    match v {
        Value::String(_) => T_STRING,
        Value::List(_) => T_LIST,
        Value::Set(_) => T_SET,
        Value::Hash(_) => T_HASH,
        Value::ZSet(_) => T_ZSET_2,
        Value::Stream(_) => T_STREAM_2,
    }
}

/// `v` as RDB writes a value of [`type_of`] it (after the type byte in a
/// DUMP payload, after the key's name in an RDB file).
fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::String(s) => put_string(out, s),
        Value::List(items) | Value::Set(items) => {
            put_len(out, items.len() as u64);
            for i in items {
                put_string(out, i);
            }
        }
        Value::Hash(pairs) => {
            put_len(out, pairs.len() as u64);
            for (f, v) in pairs {
                put_string(out, f);
                put_string(out, v);
            }
        }
        Value::ZSet(pairs) => {
            put_len(out, pairs.len() as u64);
            for (m, s) in pairs {
                put_string(out, m);
                out.extend_from_slice(&s.to_le_bytes());
            }
        }
        Value::Stream(s) => stream::write(out, s),
    }
}

/// Ends a payload: the RDB version (2 bytes, little-endian) and the CRC-64
/// of everything before it.
pub(crate) fn seal(out: &mut Vec<u8>, version: u16) {
    out.extend_from_slice(&version.to_le_bytes());
    let crc = CRC64.checksum(out);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// What a payload holds before its footer, if the footer is sound (Redis'
/// verifyDumpPayload: a version we read, a matching checksum).
pub(crate) fn unsealed(payload: &[u8]) -> Option<&[u8]> {
    if payload.len() < 10 {
        return None;
    }
    let (body, footer) = payload.split_at(payload.len() - 8);
    let version = u16::from_le_bytes([body[body.len() - 2], body[body.len() - 1]]);
    if version > MAX_VERSION || CRC64.checksum(body) != u64::from_le_bytes(footer.try_into().unwrap()) {
        return None;
    }
    Some(&body[..body.len() - 2])
}

/// RDB's length encoding: 6 bits, 14 bits, or a marker and 32 or 64 bits
/// (big-endian).
pub(crate) fn put_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
    } else if n <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

pub(crate) fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Checks the footer of a DUMP payload (as Redis' verifyDumpPayload) and
/// reads the value in it.
pub fn decode(payload: &[u8]) -> Result<Value, DecodeError> {
    let body = unsealed(payload).ok_or(DecodeError::VersionOrChecksum)?;
    let mut r = Reader::new(body);
    let v = read_value(&mut r)?;
    // Like Redis, bytes after the value are ignored; an empty collection is
    // not a value (Redis refuses to load one).
    let empty = match &v {
        Value::String(_) => false,
        Value::List(i) | Value::Set(i) => i.is_empty(),
        Value::Hash(p) => p.is_empty(),
        Value::ZSet(p) => p.is_empty(),
        // An empty stream is a stream (its last ID and groups remain).
        Value::Stream(_) => false,
    };
    if empty {
        return Err(DecodeError::BadFormat);
    }
    Ok(v)
}

fn read_value(r: &mut Reader) -> Result<Value, DecodeError> {
    let ty = r.u8()?;
    read_typed(r, ty)
}

/// A value of RDB type `ty` (in an RDB file, its key comes in between).
fn read_typed(r: &mut Reader, ty: u8) -> Result<Value, DecodeError> {
    use DecodeError::{BadFormat, Unsupported};
    Ok(match ty {
        T_STRING => Value::String(r.string()?),
        T_LIST => Value::List(r.strings()?),
        T_SET => Value::Set(unique(r.strings()?)?),
        T_HASH => Value::Hash(unique_pairs(r.pairs()?)?),
        T_ZSET | T_ZSET_2 => {
            let n = r.len()?;
            let mut out = Vec::new();
            for _ in 0..n {
                let m = r.string()?;
                let s = if ty == T_ZSET_2 { r.binary_double()? } else { r.text_double()? };
                out.push((m, s));
            }
            Value::ZSet(unique_scores(out)?)
        }
        T_SET_INTSET => {
            let blob = r.string()?;
            Value::Set(unique(compact::intset(&blob, &mut r.budget)?)?)
        }
        T_SET_LISTPACK => {
            let blob = r.string()?;
            Value::Set(unique(compact::listpack(&blob, &mut r.budget)?)?)
        }
        T_LIST_ZIPLIST => {
            let blob = r.string()?;
            Value::List(compact::ziplist(&blob, &mut r.budget)?)
        }
        T_HASH_ZIPLIST | T_HASH_LISTPACK => {
            let blob = r.string()?;
            let items = if ty == T_HASH_ZIPLIST {
                compact::ziplist(&blob, &mut r.budget)?
            } else {
                compact::listpack(&blob, &mut r.budget)?
            };
            Value::Hash(unique_pairs(paired(items)?)?)
        }
        T_ZSET_ZIPLIST | T_ZSET_LISTPACK => {
            let blob = r.string()?;
            let items = if ty == T_ZSET_ZIPLIST {
                compact::ziplist(&blob, &mut r.budget)?
            } else {
                compact::listpack(&blob, &mut r.budget)?
            };
            let scored = paired(items)?
                .into_iter()
                .map(|(m, s)| Ok((m, read::parse_score(&s)?)))
                .collect::<Result<Vec<_>, DecodeError>>()?;
            Value::ZSet(unique_scores(scored)?)
        }
        T_LIST_QUICKLIST | T_LIST_QUICKLIST_2 => {
            let nodes = r.len()?;
            let mut items = Vec::new();
            for _ in 0..nodes {
                if ty == T_LIST_QUICKLIST {
                    let blob = r.string()?;
                    items.extend(compact::ziplist(&blob, &mut r.budget)?);
                    continue;
                }
                match r.len()? {
                    QUICKLIST_PLAIN => items.push(r.string()?),
                    QUICKLIST_PACKED => {
                        let blob = r.string()?;
                        items.extend(compact::listpack(&blob, &mut r.budget)?);
                    }
                    _ => return Err(BadFormat),
                }
            }
            Value::List(items)
        }
        T_STREAM | T_STREAM_2 | T_STREAM_3 => Value::Stream(Box::new(stream::read(r, ty)?)),
        T_MODULE | T_MODULE_2 => return Err(Unsupported("module types")),
        T_HASH_ZIPMAP => return Err(Unsupported("zipmap hashes (Redis 2.4)")),
        22..=25 => return Err(Unsupported("hashes with field expiry")),
        _ => return Err(BadFormat),
    })
}

/// Field/value (or member/score) pairs from a compact encoding's flat list.
pub fn paired(items: Vec<Bytes>) -> Result<Vec<(Bytes, Bytes)>, DecodeError> {
    if !items.len().is_multiple_of(2) {
        return Err(DecodeError::BadFormat);
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        out.push((a, b));
    }
    Ok(out)
}

/// Refuses a repeated member (Redis: "Duplicate set members detected").
fn unique(items: Vec<Bytes>) -> Result<Vec<Bytes>, DecodeError> {
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    if items.iter().all(|i| seen.insert(i.clone())) {
        Ok(items)
    } else {
        Err(DecodeError::BadFormat)
    }
}

fn unique_pairs<V>(pairs: Vec<(Bytes, V)>) -> Result<Vec<(Bytes, V)>, DecodeError> {
    let mut seen = std::collections::HashSet::with_capacity(pairs.len());
    if pairs.iter().all(|(k, _)| seen.insert(k.clone())) {
        Ok(pairs)
    } else {
        Err(DecodeError::BadFormat)
    }
}

/// Unique members, and no NaN score (Redis: "Zset with NAN score detected").
fn unique_scores(pairs: Vec<(Bytes, f64)>) -> Result<Vec<(Bytes, f64)>, DecodeError> {
    if pairs.iter().any(|(_, s)| s.is_nan()) {
        return Err(DecodeError::BadFormat);
    }
    unique_pairs(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn every_type_round_trips() {
        let long = "x".repeat(20_000);
        let values = [
            Value::String(b("hello")),
            Value::String(b(&long)),
            Value::String(Bytes::new()),
            Value::List(vec![b("a"), b("b"), b("a"), b(&long)]),
            Value::Set((0..100).map(|i| b(&i.to_string())).collect()),
            Value::Hash(vec![(b("f"), b("v")), (b("g"), b(""))]),
            Value::ZSet(vec![(b("a"), 1.5), (b("b"), -0.0), (b("c"), f64::INFINITY), (b("d"), f64::NEG_INFINITY)]),
        ];
        for v in values {
            let back = decode(&encode(&v)).unwrap();
            assert_eq!(back, v);
            if let (Value::ZSet(a), Value::ZSet(b)) = (&back, &v) {
                assert!(a.iter().zip(b).all(|(x, y)| x.1.to_bits() == y.1.to_bits()), "-0 keeps its sign");
            }
        }
    }

    /// Payloads redis-server 7.0 wrote (DUMP of the commands named).
    #[test]
    fn reads_what_redis_7_wrote() {
        // SET s hello
        let s = b"\x00\x05hello\n\x00cr\xdfve4 \n";
        assert_eq!(decode(s).unwrap(), Value::String(b("hello")));
        // RPUSH l a b 1: a quicklist 2 of one listpack node.
        let l = b"\x12\x01\x02\x0f\x0f\x00\x00\x00\x03\x00\x81a\x02\x81b\x02\x01\x01\xff\n\x00\xe0\x1b\xabJG\xceY\"";
        assert_eq!(decode(l).unwrap(), Value::List(vec![b("a"), b("b"), b("1")]));
    }

    #[test]
    fn a_damaged_payload_is_refused() {
        let mut p = encode(&Value::String(b("hello")));
        p[2] ^= 1;
        assert_eq!(decode(&p), Err(DecodeError::VersionOrChecksum));
        assert_eq!(decode(b"short"), Err(DecodeError::VersionOrChecksum));
        // A newer RDB version than 7.4's.
        let mut body = vec![T_STRING, 1, b'x'];
        body.extend_from_slice(&(MAX_VERSION + 1).to_le_bytes());
        let crc = CRC64.checksum(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(decode(&body), Err(DecodeError::VersionOrChecksum));
    }

    /// A body with a valid footer.
    fn sealed(body: &[u8]) -> Vec<u8> {
        let mut p = body.to_vec();
        p.extend_from_slice(&DUMP_VERSION.to_le_bytes());
        let crc = CRC64.checksum(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        p
    }

    #[test]
    fn forged_lengths_and_repeats_are_refused_without_allocating() {
        // A list that claims 2^62 elements, a string that claims 4 GiB.
        assert_eq!(decode(&sealed(&[T_LIST, 0x81, 0x40, 0, 0, 0, 0, 0, 0, 0])), Err(DecodeError::BadFormat));
        assert_eq!(decode(&sealed(&[T_STRING, 0x80, 0xff, 0xff, 0xff, 0xff, b'x'])), Err(DecodeError::BadFormat));
        // An LZF string that claims to inflate 3 bytes to 1 GiB.
        assert_eq!(decode(&sealed(&[T_STRING, 0xc3, 3, 0x80, 0x40, 0, 0, 0, 1, 2, 3])), Err(DecodeError::BadFormat));
        // A set with a repeated member; an empty list.
        assert_eq!(decode(&sealed(&[T_SET, 2, 1, b'a', 1, b'a'])), Err(DecodeError::BadFormat));
        assert_eq!(decode(&sealed(&[T_LIST, 0])), Err(DecodeError::BadFormat));
        // A stream without its counters.
        assert_eq!(decode(&sealed(&[T_STREAM_2, 0])), Err(DecodeError::BadFormat));
    }

    /// A small payload that would inflate past one raft entry (LZF strings
    /// of zeros) is refused before it is inflated whole.
    #[test]
    fn a_value_larger_than_one_entry_is_refused() {
        let zeros = lzf::compress(&vec![0u8; 1 << 20]).unwrap();
        let mut body = vec![T_LIST];
        put_len(&mut body, 80);
        for _ in 0..80 {
            body.push(0xc3);
            put_len(&mut body, zeros.len() as u64);
            put_len(&mut body, 1 << 20);
            body.extend_from_slice(&zeros);
        }
        assert!(body.len() < 2 << 20, "the payload is small: {} bytes", body.len());
        assert_eq!(decode(&sealed(&body)), Err(DecodeError::TooLarge));
        // Ten million empty strings: small bytes, many handles.
        let mut many = vec![T_LIST];
        put_len(&mut many, 10_000_000);
        many.extend(std::iter::repeat_n(0u8, 10_000_000));
        assert_eq!(decode(&sealed(&many)), Err(DecodeError::TooLarge));
    }

    /// Damaged payloads whose checksum still matches (a forged or buggy
    /// writer): every one gets a value or an error, none a panic.
    #[test]
    fn damaged_bodies_with_good_checksums_never_panic() {
        use rand::{Rng, SeedableRng};
        // Redis 7.0's LZF string, listpack hash and zset, intset; a ziplist
        // list; our plain types.
        let redis: [&[u8]; 5] = [
            b"\x00\xc3\x09\x28\x01\x78\x78\xe0\x1b\x00\x01\x78\x78",
            b"\x10\x12\x12\x00\x00\x00\x04\x00\x81\x66\x02\x81\x76\x02\x81\x67\x02\x01\x01\xff",
            b"\x11\x14\x14\x00\x00\x00\x04\x00\x81\x61\x02\x01\x01\x81\x62\x02\x83\x32\x2e\x35\x04\xff",
            b"\x0b\x0e\x02\x00\x00\x00\x03\x00\x00\x00\x01\x00\x02\x00\x03\x00",
            b"\x0a\x1a\x1a\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x02ab\x04\xfd\x02\xfe\xfe\x03\xd0\x70\x11\x01\x00\xff",
        ];
        let mut bodies: Vec<Vec<u8>> = redis.iter().map(|b| b.to_vec()).collect();
        for v in [
            Value::List(vec![b("a"), b(&"y".repeat(300))]),
            Value::Hash(vec![(b("f"), b("v"))]),
            Value::ZSet(vec![(b("m"), 2.0)]),
        ] {
            let p = encode(&v);
            bodies.push(p[..p.len() - 10].to_vec());
        }
        for body in &bodies {
            assert!(decode(&sealed(body)).is_ok(), "the undamaged {body:?} reads");
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..50_000 {
            let mut body = bodies[rng.gen_range(0..bodies.len())].clone();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..body.len());
                match rng.gen_range(0..4) {
                    0 => body[at] ^= 1 << rng.gen_range(0..8),
                    1 => body.truncate(at.max(1)),
                    2 => body.insert(at, rng.gen()),
                    _ => {
                        body[at] = [0, 0x3f, 0x40, 0x7f, 0x80, 0x81, 0xc0, 0xc3, 0xf0, 0xfe, 0xff][rng.gen_range(0..11)]
                    }
                }
            }
            let _ = decode(&sealed(&body));
        }
    }
}
