//! Parsing the string family into typed node commands.

use crate::args::Args;
use bytes::Bytes;
use node::command::{self as c, Cmd, Expiry, SetCond};
use node::node::wall_ms;
use node::num::parse_i64_arg;
use node::reply::err;
use node::Reply;

/// Redis' getExpireMillisecondsOrReply: a positive time in `unit` that does
/// not overflow once made absolute.
pub fn parse_expiry(cmd: &str, raw: &[u8], millis: bool, absolute: bool) -> Result<Expiry, Reply> {
    let invalid = || Reply::error(format!("ERR invalid expire time in '{cmd}' command"));
    let v = parse_i64_arg(raw)?;
    if v <= 0 || (!millis && v > i64::MAX / 1000) {
        return Err(invalid());
    }
    let ms = if millis { v } else { v * 1000 };
    if !absolute && ms.checked_add(wall_ms() as i64).is_none() {
        return Err(invalid());
    }
    Ok(Expiry { ms, absolute })
}

/// An expiry option (EX, PX, EXAT, PXAT) read but not yet validated: Redis
/// reports a syntax error in later options before an invalid time.
struct RawExpiry {
    raw: Bytes,
    millis: bool,
    absolute: bool,
}

impl RawExpiry {
    fn of(opt: &str, raw: Bytes) -> RawExpiry {
        RawExpiry { raw, millis: opt.starts_with('P'), absolute: opt.ends_with("AT") }
    }
    fn parse(&self, cmd: &str) -> Result<Expiry, Reply> {
        parse_expiry(cmd, &self.raw, self.millis, self.absolute)
    }
}

fn key(argv: &[Bytes]) -> c::Key {
    c::Key { key: argv[1].clone() }
}

pub fn get(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::Get(key(argv)))
}

pub fn getdel(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::GetDel(key(argv)))
}

pub fn strlen(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::StrLen(key(argv)))
}

pub fn mget(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::MGet(c::Keys { keys: argv[1..].to_vec() }))
}

/// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT ts|PXAT ms-ts|KEEPTTL]
pub fn set(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let mut a = Args::new(argv);
    let mut cmd = c::Set { key: a.next()?, value: a.next()?, ..Default::default() };
    let mut expiry: Option<RawExpiry> = None;
    while !a.is_done() {
        let opt = a.next_upper()?;
        match opt.as_str() {
            "NX" if cmd.cond != SetCond::Xx as i32 => cmd.cond = SetCond::Nx as i32,
            "XX" if cmd.cond != SetCond::Nx as i32 => cmd.cond = SetCond::Xx as i32,
            "GET" => cmd.get = true,
            "KEEPTTL" if expiry.is_none() => cmd.keep_ttl = true,
            "EX" | "PX" | "EXAT" | "PXAT" if expiry.is_none() && !cmd.keep_ttl && a.peek().is_some() => {
                expiry = Some(RawExpiry::of(&opt, a.next()?));
            }
            _ => return Err(Reply::error(err::SYNTAX)),
        }
    }
    cmd.expiry = expiry.map(|e| e.parse("set")).transpose()?;
    Ok(Cmd::Set(cmd))
}

pub fn setnx(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::Set(c::Set {
        key: argv[1].clone(),
        value: argv[2].clone(),
        cond: SetCond::Nx as i32,
        int_reply: true,
        ..Default::default()
    }))
}

fn set_with_ttl(argv: &[Bytes], name: &str, millis: bool) -> Result<Cmd, Reply> {
    let expiry = parse_expiry(name, &argv[2], millis, false)?;
    Ok(Cmd::Set(c::Set { key: argv[1].clone(), value: argv[3].clone(), expiry: Some(expiry), ..Default::default() }))
}

pub fn setex(argv: &[Bytes]) -> Result<Cmd, Reply> {
    set_with_ttl(argv, "setex", false)
}

pub fn psetex(argv: &[Bytes]) -> Result<Cmd, Reply> {
    set_with_ttl(argv, "psetex", true)
}

pub fn getset(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::Set(c::Set { key: argv[1].clone(), value: argv[2].clone(), get: true, ..Default::default() }))
}

/// GETEX key [EX s|PX ms|EXAT ts|PXAT ms-ts|PERSIST]
pub fn getex(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let mut a = Args::new(argv);
    let mut cmd = c::GetEx { key: a.next()?, ..Default::default() };
    let mut expiry: Option<RawExpiry> = None;
    while !a.is_done() {
        let opt = a.next_upper()?;
        match opt.as_str() {
            "PERSIST" if expiry.is_none() => cmd.persist = true,
            "EX" | "PX" | "EXAT" | "PXAT" if expiry.is_none() && !cmd.persist && a.peek().is_some() => {
                expiry = Some(RawExpiry::of(&opt, a.next()?));
            }
            _ => return Err(Reply::error(err::SYNTAX)),
        }
    }
    match expiry.map(|e| e.parse("getex")).transpose() {
        Ok(e) => cmd.expiry = e,
        Err(Reply::Error(e)) => cmd.invalid_expiry = Some(e),
        Err(other) => return Err(other),
    }
    Ok(Cmd::GetEx(cmd))
}

fn mset_generic(argv: &[Bytes], nx: bool) -> Result<Cmd, Reply> {
    if argv.len().is_multiple_of(2) {
        let name = String::from_utf8_lossy(&argv[0]).to_lowercase();
        return Err(Reply::error(format!("ERR wrong number of arguments for '{name}' command")));
    }
    let pairs = argv[1..].chunks(2).map(|p| c::KeyValue { key: p[0].clone(), value: p[1].clone() }).collect();
    Ok(Cmd::MSet(c::MSet { pairs, nx }))
}

pub fn mset(argv: &[Bytes]) -> Result<Cmd, Reply> {
    mset_generic(argv, false)
}

pub fn msetnx(argv: &[Bytes]) -> Result<Cmd, Reply> {
    mset_generic(argv, true)
}

pub fn append(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::Append(c::KeyValue { key: argv[1].clone(), value: argv[2].clone() }))
}

pub fn getrange(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let mut a = Args::new(argv);
    let key = a.next()?;
    Ok(Cmd::GetRange(c::GetRange { key, start: a.next_i64()?, end: a.next_i64()? }))
}

pub fn setrange(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let mut a = Args::new(argv);
    let key = a.next()?;
    let offset = a.next_i64()?;
    if offset < 0 {
        return Err(Reply::error("ERR offset is out of range"));
    }
    Ok(Cmd::SetRange(c::SetRange { key, offset: offset as u64, value: a.next()? }))
}

fn incr_by(argv: &[Bytes], delta: i64) -> Result<Cmd, Reply> {
    Ok(Cmd::IncrBy(c::IncrBy { key: argv[1].clone(), delta }))
}

pub fn incr(argv: &[Bytes]) -> Result<Cmd, Reply> {
    incr_by(argv, 1)
}

pub fn decr(argv: &[Bytes]) -> Result<Cmd, Reply> {
    incr_by(argv, -1)
}

pub fn incrby(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let d = parse_i64_arg(&argv[2])?;
    incr_by(argv, d)
}

pub fn decrby(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let d = parse_i64_arg(&argv[2])?;
    if d == i64::MIN {
        return Err(Reply::error("ERR decrement would overflow"));
    }
    incr_by(argv, -d)
}

/// INCRBYFLOAT key increment: the increment is read where the entry is
/// applied, after the key's type and value, in Redis' order.
pub fn incrbyfloat(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::IncrByFloat(c::IncrByFloat { key: argv[1].clone(), delta: argv[2].clone() }))
}

/// LCS key1 key2 [options]: the options are read after the keys (see [`c::Lcs`]).
pub fn lcs(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::Lcs(c::Lcs { a: argv[1].clone(), b: argv[2].clone(), args: argv[3..].to_vec() }))
}
