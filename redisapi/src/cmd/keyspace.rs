//! Parsing the generic key commands into typed node commands.

use crate::args::Args;
use bytes::Bytes;
use node::command::{self as c, Cmd, ExpireCond, Expiry};
use node::node::wall_ms;
use node::num::parse_i64;
use node::rdb;
use node::reply::err;
use node::Reply;

fn keys(argv: &[Bytes]) -> c::Keys {
    c::Keys { keys: argv[1..].to_vec() }
}

fn key(argv: &[Bytes]) -> c::Key {
    c::Key { key: argv[1].clone() }
}

pub fn del(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::Del(keys(argv)))
}

pub fn exists(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::Exists(keys(argv)))
}

pub fn touch(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::Touch(keys(argv)))
}

pub fn type_(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::Type(key(argv)))
}

pub fn persist(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::Persist(key(argv)))
}

fn ttl_generic(argv: &[Bytes], millis: bool, absolute: bool) -> Result<Cmd, Reply> {
    Ok(Cmd::Ttl(c::Ttl { key: argv[1].clone(), millis, absolute }))
}

pub fn ttl(argv: &[Bytes]) -> Result<Cmd, Reply> {
    ttl_generic(argv, false, false)
}
pub fn pttl(argv: &[Bytes]) -> Result<Cmd, Reply> {
    ttl_generic(argv, true, false)
}
pub fn expiretime(argv: &[Bytes]) -> Result<Cmd, Reply> {
    ttl_generic(argv, false, true)
}
pub fn pexpiretime(argv: &[Bytes]) -> Result<Cmd, Reply> {
    ttl_generic(argv, true, true)
}

/// EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT key time [NX|XX|GT|LT], with Redis'
/// checks (expireGenericCommand): options first, then overflow.
fn expire_generic(argv: &[Bytes], millis: bool, absolute: bool) -> Result<Cmd, Reply> {
    let mut a = Args::new(argv);
    let name = a.name();
    let key = a.next()?;
    let when_raw = a.next()?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    while !a.is_done() {
        let raw = a.next()?;
        match String::from_utf8_lossy(&raw).to_ascii_uppercase().as_str() {
            "NX" => nx = true,
            "XX" => xx = true,
            "GT" => gt = true,
            "LT" => lt = true,
            _ => return Err(Reply::error(format!("ERR Unsupported option {}", String::from_utf8_lossy(&raw)))),
        }
    }
    if nx && (xx || gt || lt) {
        return Err(Reply::error("ERR NX and XX, GT or LT options at the same time are not compatible"));
    }
    if gt && lt {
        return Err(Reply::error("ERR GT and LT options at the same time are not compatible"));
    }
    // Redis reads the options before the time.
    let when = parse_i64_arg(&when_raw)?;
    let invalid = || Reply::error(format!("ERR invalid expire time in '{name}' command"));
    let ms = if millis {
        when
    } else {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return Err(invalid());
        }
        when * 1000
    };
    if !absolute && ms > i64::MAX - wall_ms() as i64 {
        return Err(invalid());
    }
    let cond = if nx {
        ExpireCond::Nx
    } else if xx {
        ExpireCond::Xx
    } else if gt {
        ExpireCond::Gt
    } else if lt {
        ExpireCond::Lt
    } else {
        ExpireCond::Always
    };
    Ok(Cmd::Expire(c::Expire { key, expiry: Some(Expiry { ms, absolute }), cond: cond as i32 }))
}

pub fn expire(argv: &[Bytes]) -> Result<Cmd, Reply> {
    expire_generic(argv, false, false)
}
pub fn pexpire(argv: &[Bytes]) -> Result<Cmd, Reply> {
    expire_generic(argv, true, false)
}
pub fn expireat(argv: &[Bytes]) -> Result<Cmd, Reply> {
    expire_generic(argv, false, true)
}
pub fn pexpireat(argv: &[Bytes]) -> Result<Cmd, Reply> {
    expire_generic(argv, true, true)
}

pub fn rename(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::Rename(c::Rename { src: argv[1].clone(), dst: argv[2].clone(), nx: false }))
}

pub fn renamenx(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::Rename(c::Rename { src: argv[1].clone(), dst: argv[2].clone(), nx: true }))
}

/// COPY source destination [DB destination-db] [REPLACE]
pub fn copy(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let mut a = Args::new(argv);
    let mut cmd = c::Copy { src: a.next()?, dst: a.next()?, replace: false };
    while !a.is_done() {
        match a.next_upper()?.as_str() {
            "REPLACE" => cmd.replace = true,
            "DB" if a.peek().is_some() => {
                let db = a.next_i64()?;
                if db != 0 {
                    return Err(Reply::error("ERR DB index is out of range"));
                }
            }
            _ => return Err(Reply::error(err::SYNTAX)),
        }
    }
    Ok(Cmd::Copy(cmd))
}

pub fn dump(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::Dump(key(argv)))
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency],
/// checked in Redis' order: the options here; then, when the command runs,
/// BUSYKEY; then the TTL and the payload (a refusal the node answers after
/// its key check). IDLETIME sets the key's access time (OBJECT IDLETIME);
/// FREQ is checked and ignored: there is no LFU eviction here.
pub fn restore(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let (mut replace, mut absttl, mut idle, mut freq) = (false, false, None, false);
    let mut j = 4;
    while j < argv.len() {
        let more = argv.len() - j - 1;
        match argv[j].to_ascii_uppercase().as_slice() {
            b"REPLACE" => replace = true,
            b"ABSTTL" => absttl = true,
            b"IDLETIME" if more >= 1 && !freq => {
                let secs = parse_i64_arg(&argv[j + 1])?;
                if secs < 0 {
                    return Err(Reply::error("ERR Invalid IDLETIME value, must be >= 0"));
                }
                idle = Some(secs as u64);
                j += 1;
            }
            b"FREQ" if more >= 1 && idle.is_none() => {
                if !(0..=255).contains(&parse_i64_arg(&argv[j + 1])?) {
                    return Err(Reply::error("ERR Invalid FREQ value, must be >= 0 and <= 255"));
                }
                freq = true;
                j += 1;
            }
            _ => return Err(Reply::error(err::SYNTAX)),
        }
        j += 1;
    }
    let parsed = match parse_i64(&argv[2]) {
        None => Err(err::NOT_INTEGER.to_string()),
        Some(ttl) if ttl < 0 => Err("ERR Invalid TTL value, must be >= 0".to_string()),
        Some(ttl) => rdb::decode(&argv[3]).map(|v| (ttl, v)).map_err(|e| e.message()),
    };
    let mut cmd = c::Restore { key: argv[1].clone(), replace, idle_secs: idle, ..Default::default() };
    match parsed {
        Ok((ttl, value)) => {
            cmd.expiry = (ttl != 0).then_some(Expiry { ms: ttl, absolute: absttl });
            cmd.value = Some(value.into());
        }
        Err(e) if replace => return Err(Reply::error(e)),
        Err(e) => cmd.refused = Some(e),
    }
    Ok(Cmd::Restore(cmd))
}

/// SORT and SORT_RO (no STORE): options in Redis' order of checks.
fn sort_generic(argv: &[Bytes], read_only: bool) -> Result<Cmd, Reply> {
    let mut cmd = c::Sort { key: argv[1].clone(), ..Default::default() };
    let mut j = 2;
    while j < argv.len() {
        let more = argv.len() - j - 1;
        match argv[j].to_ascii_uppercase().as_slice() {
            b"ASC" => cmd.desc = false,
            b"DESC" => cmd.desc = true,
            b"ALPHA" => cmd.alpha = true,
            b"LIMIT" if more >= 2 => {
                cmd.offset = Some(parse_i64_arg(&argv[j + 1])?);
                cmd.count = Some(parse_i64_arg(&argv[j + 2])?);
                j += 2;
            }
            b"STORE" if !read_only && more >= 1 => {
                cmd.store = Some(argv[j + 1].clone());
                j += 1;
            }
            b"BY" if more >= 1 => {
                cmd.by = Some(argv[j + 1].clone());
                cmd.no_sort |= !node::num::c_string(&argv[j + 1]).contains(&b'*');
                j += 1;
            }
            b"GET" if more >= 1 => {
                cmd.get.push(argv[j + 1].clone());
                j += 1;
            }
            _ => return Err(Reply::error(err::SYNTAX)),
        }
        j += 1;
    }
    Ok(Cmd::Sort(cmd))
}

pub fn sort(argv: &[Bytes]) -> Result<Cmd, Reply> {
    sort_generic(argv, false)
}

pub fn sort_ro(argv: &[Bytes]) -> Result<Cmd, Reply> {
    sort_generic(argv, true)
}

pub fn keys_cmd(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::Keys(c::Pattern { pattern: argv[1].clone() }))
}

pub fn randomkey(_argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::RandomKey(c::Empty {}))
}

pub fn dbsize(_argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::DbSize(c::Empty {}))
}

pub fn flushall(argv: &[Bytes]) -> Result<Cmd, Reply> {
    // [ASYNC|SYNC]: both flush at once here.
    if argv.len() > 2 {
        return Err(Reply::error(err::SYNTAX));
    }
    if let Some(mode) = argv.get(1) {
        let m = mode.to_ascii_uppercase();
        if m != b"ASYNC" && m != b"SYNC" {
            return Err(Reply::error(err::SYNTAX));
        }
    }
    Ok(Cmd::FlushAll(c::Empty {}))
}

/// Redis' parseScanCursorOrReply, which is C's strtoul over the argument
/// (up to a NUL byte) without a leading space: an optional sign and decimal
/// digits, none at all being 0; a negative value wraps around as in C
/// (-1 is 2^64-1); an overflow is refused.
pub fn parse_cursor(raw: &[u8]) -> Result<u64, Reply> {
    let bad = || Reply::error("ERR invalid cursor");
    let s = node::num::c_string(raw);
    if s.is_empty() {
        return Ok(0);
    }
    if node::num::is_c_space(s[0]) {
        return Err(bad());
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let n: u64 = std::str::from_utf8(digits).ok().and_then(|d| d.parse().ok()).ok_or_else(bad)?;
    Ok(if neg { n.wrapping_neg() } else { n })
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
pub fn scan(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let mut a = Args::new(argv);
    let cursor = parse_cursor(&a.next()?)?;
    let mut cmd = c::Scan { cursor, pattern: None, count: 10, type_name: None };
    while !a.is_done() {
        let opt = a.next_upper()?;
        if a.peek().is_none() {
            return Err(Reply::error(err::SYNTAX));
        }
        match opt.as_str() {
            "MATCH" => cmd.pattern = Some(a.next()?),
            "COUNT" => {
                let n = a.next_i64()?;
                if n < 1 {
                    return Err(Reply::error(err::SYNTAX));
                }
                cmd.count = n as u64;
            }
            "TYPE" => cmd.type_name = Some(String::from_utf8_lossy(&a.next()?).into_owned()),
            _ => return Err(Reply::error(err::SYNTAX)),
        }
    }
    Ok(Cmd::Scan(cmd))
}

/// OBJECT ENCODING|FREQ|REFCOUNT|IDLETIME key (HELP is answered by the connection).
pub fn object(sub: &[u8], key: Bytes) -> Option<Cmd> {
    let field = match sub.to_ascii_lowercase().as_slice() {
        b"encoding" => return Some(Cmd::ObjectEncoding(c::Key { key })),
        b"freq" => c::ObjectField::Freq,
        b"refcount" => c::ObjectField::RefCount,
        b"idletime" => c::ObjectField::IdleTime,
        _ => return None,
    };
    Some(Cmd::ObjectInfo(c::ObjectInfo { key, field: field as i32 }))
}

pub use node::num::parse_i64_arg;

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    #[test]
    fn cursors_like_strtoul() {
        assert_eq!(parse_cursor(b"0").unwrap(), 0);
        assert_eq!(parse_cursor(b"").unwrap(), 0);
        assert_eq!(parse_cursor(b"+7").unwrap(), 7);
        assert_eq!(parse_cursor(b"-1").unwrap(), u64::MAX);
        assert_eq!(parse_cursor(b"18446744073709551615").unwrap(), u64::MAX);
        assert_eq!(parse_cursor(b"5\x00junk").unwrap(), 5);
        for bad in [&b" 0"[..], b"-", b"+", b"1x", b"18446744073709551616", b"0x10"] {
            assert!(parse_cursor(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
