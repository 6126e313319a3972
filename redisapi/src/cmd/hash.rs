//! Parsing the hash family.

use crate::args::Args;
use bytes::Bytes;
use node::coll_cmds as cc;
use node::command::{Key, KeyValue};
use node::ldouble::F80;
use node::reply::err;
use node::{Cmd, Reply};

use super::keyspace::{parse_cursor, parse_i64_arg};

fn key(argv: &[Bytes]) -> Key {
    Key { key: argv[1].clone() }
}

fn key_field(argv: &[Bytes]) -> cc::KeyField {
    cc::KeyField { key: argv[1].clone(), field: argv[2].clone() }
}

fn pairs(argv: &[Bytes], name: &str) -> Result<Vec<KeyValue>, Reply> {
    if !argv.len().is_multiple_of(2) {
        return Err(Reply::error(format!("ERR wrong number of arguments for '{name}' command")));
    }
    Ok(argv[2..].chunks(2).map(|p| KeyValue { key: p[0].clone(), value: p[1].clone() }).collect())
}

pub fn hset(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::HSet(cc::HSet { key: argv[1].clone(), pairs: pairs(argv, "hset")?, nx: false, ok_reply: false }))
}
pub fn hmset(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::HSet(cc::HSet { key: argv[1].clone(), pairs: pairs(argv, "hmset")?, nx: false, ok_reply: true }))
}
pub fn hsetnx(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let pairs = vec![KeyValue { key: argv[2].clone(), value: argv[3].clone() }];
    Ok(Cmd::HSet(cc::HSet { key: argv[1].clone(), pairs, nx: true, ok_reply: false }))
}
pub fn hget(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::HGet(key_field(argv)))
}
pub fn hmget(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::HMGet(cc::KeyFields { key: argv[1].clone(), fields: argv[2..].to_vec() }))
}
pub fn hgetall(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::HGetAll(key(argv)))
}
pub fn hdel(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::HDel(cc::KeyFields { key: argv[1].clone(), fields: argv[2..].to_vec() }))
}
pub fn hlen(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::HLen(key(argv)))
}
pub fn hstrlen(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::HStrLen(key_field(argv)))
}
pub fn hexists(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::HExists(key_field(argv)))
}
pub fn hkeys(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::HKeys(key(argv)))
}
pub fn hvals(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::HVals(key(argv)))
}
pub fn hincrby(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::HIncrBy(cc::HIncrBy { key: argv[1].clone(), field: argv[2].clone(), delta: parse_i64_arg(&argv[3])? }))
}
pub fn hincrbyfloat(argv: &[Bytes]) -> Result<Cmd, Reply> {
    match F80::parse(&argv[3]) {
        None => return Err(Reply::error(err::NOT_FLOAT)),
        // Redis checks the increment itself before the hash (INCRBYFLOAT
        // only checks the result, with its own message).
        Some(F80::Inf { .. }) => return Err(Reply::error("ERR value is NaN or Infinity")),
        Some(_) => {}
    }
    Ok(Cmd::HIncrByFloat(cc::HIncrByFloat { key: argv[1].clone(), field: argv[2].clone(), delta: argv[3].clone() }))
}

/// HRANDFIELD / SRANDMEMBER / ZRANDMEMBER key [count [WITHVALUES|WITHSCORES]]
pub fn rand_members(argv: &[Bytes], with: &str) -> Result<cc::RandMembers, Reply> {
    let mut c = cc::RandMembers { key: argv[1].clone(), count: None, with_values: false };
    if argv.len() >= 3 {
        let n = parse_i64_arg(&argv[2])?;
        // Redis takes the count in -LONG_MAX..LONG_MAX (it negates it).
        if n == i64::MIN {
            return Err(Reply::error(err::NOT_NEGATABLE));
        }
        c.count = Some(n);
        if argv.len() == 4 {
            if !argv[3].eq_ignore_ascii_case(with.as_bytes()) {
                return Err(Reply::error(err::SYNTAX));
            }
            if n < -(i64::MAX / 2) {
                return Err(Reply::error("ERR value is out of range"));
            }
            c.with_values = true;
        } else if argv.len() > 4 {
            return Err(Reply::error(err::SYNTAX));
        }
    }
    Ok(c)
}

pub fn hrandfield(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::HRandField(rand_members(argv, "WITHVALUES")?))
}

/// HSCAN / SSCAN / ZSCAN key cursor [MATCH pattern] [COUNT count]
pub fn elem_scan(argv: &[Bytes]) -> Result<cc::ElemScan, Reply> {
    let mut a = Args::new(argv);
    let key = a.next()?;
    let cursor = parse_cursor(&a.next()?)?;
    let mut c = cc::ElemScan { key, cursor, pattern: None, count: 10 };
    while !a.is_done() {
        let opt = a.next_upper()?;
        if a.peek().is_none() {
            return Err(Reply::error(err::SYNTAX));
        }
        match opt.as_str() {
            "MATCH" => c.pattern = Some(a.next()?),
            "COUNT" => {
                let n = a.next_i64()?;
                if n < 1 {
                    return Err(Reply::error(err::SYNTAX));
                }
                c.count = n as u64;
            }
            _ => return Err(Reply::error(err::SYNTAX)),
        }
    }
    Ok(c)
}

pub fn hscan(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::HScan(elem_scan(argv)?))
}
