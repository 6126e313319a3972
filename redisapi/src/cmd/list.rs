//! Parsing the list family, the blocking forms included.

use crate::args::Args;
use bytes::Bytes;
use node::coll_cmds as cc;
use node::command::Key;
use node::num::parse_i64;
use node::reply::err;
use node::{Cmd, Reply};
use std::time::Duration;

use super::keyspace::parse_i64_arg;
use super::set::{numkeys, positive_count, positive_count_or};

fn push(argv: &[Bytes], left: bool, xx: bool) -> Result<Cmd, Reply> {
    Ok(Cmd::Push(cc::Push { key: argv[1].clone(), values: argv[2..].to_vec(), left, xx }))
}
pub fn lpush(argv: &[Bytes]) -> Result<Cmd, Reply> {
    push(argv, true, false)
}
pub fn rpush(argv: &[Bytes]) -> Result<Cmd, Reply> {
    push(argv, false, false)
}
pub fn lpushx(argv: &[Bytes]) -> Result<Cmd, Reply> {
    push(argv, true, true)
}
pub fn rpushx(argv: &[Bytes]) -> Result<Cmd, Reply> {
    push(argv, false, true)
}

fn pop(argv: &[Bytes], left: bool) -> Result<Cmd, Reply> {
    if argv.len() > 3 {
        return Err(Reply::error(err::SYNTAX));
    }
    let count = argv.get(2).map(|c| positive_count(c)).transpose()?;
    Ok(Cmd::Pop(cc::Pop { key: argv[1].clone(), left, count }))
}
pub fn lpop(argv: &[Bytes]) -> Result<Cmd, Reply> {
    pop(argv, true)
}
pub fn rpop(argv: &[Bytes]) -> Result<Cmd, Reply> {
    pop(argv, false)
}
pub fn llen(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::LLen(Key { key: argv[1].clone() }))
}
// LINDEX and LSET report a bad index only after the key's checks, as Redis.
pub fn lindex(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let index = parse_i64(&argv[2]);
    Ok(Cmd::LIndex(cc::KeyIndex {
        key: argv[1].clone(),
        index: index.unwrap_or(0),
        not_integer: index.is_none(),
        lset: false,
    }))
}
pub fn lset(argv: &[Bytes]) -> Result<Cmd, Reply> {
    match parse_i64(&argv[2]) {
        Some(index) => Ok(Cmd::LSet(cc::LSet { key: argv[1].clone(), index, value: argv[3].clone() })),
        // It can only fail, after the key's checks: a read says how.
        None => Ok(Cmd::LIndex(cc::KeyIndex { key: argv[1].clone(), index: 0, not_integer: true, lset: true })),
    }
}
fn key_range(argv: &[Bytes]) -> Result<cc::KeyRange, Reply> {
    Ok(cc::KeyRange { key: argv[1].clone(), start: parse_i64_arg(&argv[2])?, stop: parse_i64_arg(&argv[3])? })
}
pub fn lrange(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::LRange(key_range(argv)?))
}
pub fn ltrim(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::LTrim(key_range(argv)?))
}
pub fn lrem(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::LRem(cc::LRem { key: argv[1].clone(), count: parse_i64_arg(&argv[2])?, value: argv[3].clone() }))
}
pub fn linsert(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let before = if argv[2].eq_ignore_ascii_case(b"BEFORE") {
        true
    } else if argv[2].eq_ignore_ascii_case(b"AFTER") {
        false
    } else {
        return Err(Reply::error(err::SYNTAX));
    };
    Ok(Cmd::LInsert(cc::LInsert { key: argv[1].clone(), before, pivot: argv[3].clone(), value: argv[4].clone() }))
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
pub fn lpos(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let mut a = Args::new(argv);
    let mut c = cc::LPos { key: a.next()?, element: a.next()?, rank: 1, count: None, maxlen: 0 };
    // Each option's value has its own error, as Redis' (COUNT and MAXLEN
    // use theirs for anything that is not a non-negative integer).
    while !a.is_done() {
        let opt = a.next_upper()?;
        if a.peek().is_none() {
            return Err(Reply::error(err::SYNTAX));
        }
        let v = a.next()?;
        match opt.as_str() {
            "RANK" => {
                let rank = parse_i64_arg(&v)?;
                if rank == 0 {
                    return Err(Reply::error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"));
                }
                if rank == i64::MIN {
                    // (Redis 7.0 negates it and overflows; 7.2 answers this.)
                    return Err(Reply::error(err::NOT_NEGATABLE));
                }
                c.rank = rank;
            }
            "COUNT" => c.count = Some(positive_count_or(&v, "ERR COUNT can't be negative")?),
            "MAXLEN" => c.maxlen = positive_count_or(&v, "ERR MAXLEN can't be negative")?,
            _ => return Err(Reply::error(err::SYNTAX)),
        }
    }
    Ok(Cmd::LPos(c))
}

fn side(raw: &[u8]) -> Result<bool, Reply> {
    if raw.eq_ignore_ascii_case(b"LEFT") {
        Ok(true)
    } else if raw.eq_ignore_ascii_case(b"RIGHT") {
        Ok(false)
    } else {
        Err(Reply::error(err::SYNTAX))
    }
}

pub fn lmove(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::LMove(cc::LMove {
        src: argv[1].clone(),
        dst: argv[2].clone(),
        from_left: side(&argv[3])?,
        to_left: side(&argv[4])?,
    }))
}
pub fn rpoplpush(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::LMove(cc::LMove { src: argv[1].clone(), dst: argv[2].clone(), from_left: false, to_left: true }))
}

/// `numkeys key... LEFT|RIGHT [COUNT count]` (LMPOP; ZMPOP with MIN|MAX).
pub fn mpop_args(argv: &[Bytes], at: usize, ends: (&str, &str)) -> Result<cc::MPop, Reply> {
    let (keys, rest) = numkeys(argv, at, "")?;
    let mut a = Args { argv, pos: rest };
    let end = a.next_upper()?;
    let left = if end == ends.0 {
        true
    } else if end == ends.1 {
        false
    } else {
        return Err(Reply::error(err::SYNTAX));
    };
    let mut count = None;
    while !a.is_done() {
        let opt = a.next_upper()?;
        if opt != "COUNT" || count.is_some() || a.peek().is_none() {
            return Err(Reply::error(err::SYNTAX));
        }
        let n = a.next_i64()?;
        if n <= 0 {
            return Err(Reply::error("ERR count should be greater than 0"));
        }
        count = Some(n as u64);
    }
    Ok(cc::MPop { keys, left, count: count.unwrap_or(1), shape: 0 })
}

pub fn lmpop(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::LMPop(mpop_args(argv, 1, ("LEFT", "RIGHT"))?))
}

/// Redis' getTimeoutFromObjectOrReply: seconds as a float, 0 for ever.
pub fn parse_timeout(raw: &[u8]) -> Result<Option<Duration>, Reply> {
    let t = node::num::parse_f64(raw)
        .filter(|t| t.is_finite())
        .ok_or_else(|| Reply::error("ERR timeout is not a float or out of range"))?;
    if t < 0.0 {
        return Err(Reply::error("ERR timeout is negative"));
    }
    Ok(if t == 0.0 { None } else { Some(Duration::from_secs_f64(t)) })
}

/// A blocking command: the pop to try (again), and how long to wait.
pub type Blocking = (Cmd, Option<Duration>);

fn bpop(argv: &[Bytes], left: bool) -> Result<Blocking, Reply> {
    let timeout = parse_timeout(argv.last().unwrap())?;
    let keys = argv[1..argv.len() - 1].to_vec();
    Ok((Cmd::LMPop(cc::MPop { keys, left, count: 1, shape: 1 }), timeout))
}
pub fn blpop(argv: &[Bytes]) -> Result<Blocking, Reply> {
    bpop(argv, true)
}
pub fn brpop(argv: &[Bytes]) -> Result<Blocking, Reply> {
    bpop(argv, false)
}
pub fn blmove(argv: &[Bytes]) -> Result<Blocking, Reply> {
    let timeout = parse_timeout(&argv[5])?;
    Ok((lmove(&argv[..5])?, timeout))
}
pub fn brpoplpush(argv: &[Bytes]) -> Result<Blocking, Reply> {
    let timeout = parse_timeout(&argv[3])?;
    Ok((rpoplpush(&argv[..3])?, timeout))
}
pub fn blmpop(argv: &[Bytes]) -> Result<Blocking, Reply> {
    let timeout = parse_timeout(&argv[1])?;
    Ok((Cmd::LMPop(mpop_args(argv, 2, ("LEFT", "RIGHT"))?), timeout))
}
