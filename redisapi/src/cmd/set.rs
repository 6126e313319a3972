//! Parsing the set family.

use bytes::Bytes;
use node::coll_cmds::{self as cc, SetOpKind};
use node::command::Key;
use node::num::parse_i64;
use node::reply::err;
use node::{Cmd, Reply};

use super::hash::{elem_scan, rand_members};
use super::keyspace::parse_i64_arg;

fn members(argv: &[Bytes]) -> cc::KeyMembers {
    cc::KeyMembers { key: argv[1].clone(), members: argv[2..].to_vec() }
}

pub fn sadd(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::SAdd(members(argv)))
}
pub fn srem(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::SRem(members(argv)))
}
pub fn scard(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::SCard(Key { key: argv[1].clone() }))
}
pub fn sismember(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::SIsMember(cc::KeyField { key: argv[1].clone(), field: argv[2].clone() }))
}
pub fn smismember(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::SMIsMember(members(argv)))
}
pub fn smembers(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::SMembers(Key { key: argv[1].clone() }))
}
pub fn srandmember(argv: &[Bytes]) -> Result<Cmd, Reply> {
    if argv.len() > 3 {
        return Err(Reply::error(err::SYNTAX));
    }
    Ok(Cmd::SRandMember(rand_members(argv, "")?))
}

/// Redis' getPositiveLongFromObjectOrReply: a count that is not a
/// non-negative integer, whatever is wrong with it, is "out of range, must
/// be positive".
pub fn positive_count(raw: &[u8]) -> Result<u64, Reply> {
    positive_count_or(raw, "ERR value is out of range, must be positive")
}

/// A non-negative integer, or `msg` whatever is wrong (Redis passes its
/// own message to getPositiveLongFromObjectOrReply, as LPOS COUNT does).
pub fn positive_count_or(raw: &[u8], msg: &str) -> Result<u64, Reply> {
    match parse_i64(raw) {
        Some(n) if n >= 0 => Ok(n as u64),
        _ => Err(Reply::error(msg)),
    }
}

pub fn spop(argv: &[Bytes]) -> Result<Cmd, Reply> {
    if argv.len() > 3 {
        return Err(Reply::error(err::SYNTAX));
    }
    let count = argv.get(2).map(|c| positive_count(c)).transpose()?;
    Ok(Cmd::SPop(cc::SPop { key: argv[1].clone(), count }))
}
pub fn smove(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::SMove(cc::SMove { src: argv[1].clone(), dst: argv[2].clone(), member: argv[3].clone() }))
}

fn setop(argv: &[Bytes], op: SetOpKind, store: bool) -> Result<Cmd, Reply> {
    let (store, keys) = if store { (Some(argv[1].clone()), argv[2..].to_vec()) } else { (None, argv[1..].to_vec()) };
    Ok(Cmd::SetOp(cc::SetOp { op: op as i32, keys, store, card: false, limit: 0 }))
}
pub fn sinter(argv: &[Bytes]) -> Result<Cmd, Reply> {
    setop(argv, SetOpKind::Inter, false)
}
pub fn sunion(argv: &[Bytes]) -> Result<Cmd, Reply> {
    setop(argv, SetOpKind::Union, false)
}
pub fn sdiff(argv: &[Bytes]) -> Result<Cmd, Reply> {
    setop(argv, SetOpKind::Diff, false)
}
pub fn sinterstore(argv: &[Bytes]) -> Result<Cmd, Reply> {
    setop(argv, SetOpKind::Inter, true)
}
pub fn sunionstore(argv: &[Bytes]) -> Result<Cmd, Reply> {
    setop(argv, SetOpKind::Union, true)
}
pub fn sdiffstore(argv: &[Bytes]) -> Result<Cmd, Reply> {
    setop(argv, SetOpKind::Diff, true)
}

/// `numkeys key [key ...]` at `argv[at]`: the keys and where the rest starts.
pub fn numkeys(argv: &[Bytes], at: usize, name: &str) -> Result<(Vec<Bytes>, usize), Reply> {
    let n = parse_i64_arg(&argv[at])?;
    if n <= 0 {
        return Err(Reply::error(match name {
            "" => "ERR numkeys should be greater than 0".to_string(),
            cmd => format!("ERR at least 1 input key is needed for '{cmd}' command"),
        }));
    }
    let n = n as usize;
    if at + 1 + n > argv.len() {
        return Err(Reply::error("ERR Number of keys can't be greater than number of args"));
    }
    Ok((argv[at + 1..at + 1 + n].to_vec(), at + 1 + n))
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]
pub fn sintercard(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let (keys, rest) = numkeys(argv, 1, "")?;
    let limit = card_limit(&argv[rest..])?;
    Ok(Cmd::SetOp(cc::SetOp { op: SetOpKind::Inter as i32, keys, store: None, card: true, limit }))
}

/// The optional `LIMIT n` of SINTERCARD/ZINTERCARD.
pub fn card_limit(rest: &[Bytes]) -> Result<u64, Reply> {
    match rest {
        [] => Ok(0),
        [opt, n] if opt.eq_ignore_ascii_case(b"LIMIT") => {
            let n = parse_i64_arg(n)?;
            if n < 0 {
                return Err(Reply::error("ERR LIMIT can't be negative"));
            }
            Ok(n as u64)
        }
        _ => Err(Reply::error(err::SYNTAX)),
    }
}

pub fn sscan(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::SScan(elem_scan(argv)?))
}
