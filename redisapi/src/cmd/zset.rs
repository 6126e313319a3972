//! Parsing the sorted-set family.

use crate::args::Args;
use bytes::Bytes;
use node::coll_cmds::{self as cc, Aggregate, RangeBy, SetOpKind};
use node::command::Key;
use node::num::parse_f64;
use node::reply::err;
use node::{Cmd, Reply};

use super::hash::{elem_scan, rand_members};
use super::keyspace::parse_i64_arg;
use super::list::{mpop_args, parse_timeout, Blocking};
use super::set::{card_limit, numkeys, positive_count};

fn not_float() -> Reply {
    Reply::error(err::NOT_FLOAT)
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
pub fn zadd(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let mut c = cc::ZAdd { key: argv[1].clone(), ..Default::default() };
    let mut i = 2;
    while i < argv.len() {
        match String::from_utf8_lossy(&argv[i]).to_ascii_uppercase().as_str() {
            "NX" => c.nx = true,
            "XX" => c.xx = true,
            "GT" => c.gt = true,
            "LT" => c.lt = true,
            "CH" => c.ch = true,
            "INCR" => c.incr = true,
            _ => break,
        }
        i += 1;
    }
    let elements = argv.len() - i;
    if elements == 0 || !elements.is_multiple_of(2) {
        return Err(Reply::error(err::SYNTAX));
    }
    if c.nx && c.xx {
        return Err(Reply::error("ERR XX and NX options at the same time are not compatible"));
    }
    if (c.nx && (c.gt || c.lt)) || (c.gt && c.lt) {
        return Err(Reply::error("ERR GT, LT, and/or NX options at the same time are not compatible"));
    }
    if c.incr && elements > 2 {
        return Err(Reply::error("ERR INCR option supports a single increment-element pair"));
    }
    for p in argv[i..].chunks(2) {
        c.pairs.push(cc::ScoreMember { score: Some(parse_f64(&p[0]).ok_or_else(not_float)?), member: p[1].clone() });
    }
    Ok(Cmd::ZAdd(c))
}

pub fn zincrby(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let score = parse_f64(&argv[2]).ok_or_else(not_float)?;
    Ok(Cmd::ZAdd(cc::ZAdd {
        key: argv[1].clone(),
        pairs: vec![cc::ScoreMember { score: Some(score), member: argv[3].clone() }],
        incr: true,
        ..Default::default()
    }))
}

fn members(argv: &[Bytes]) -> cc::KeyMembers {
    cc::KeyMembers { key: argv[1].clone(), members: argv[2..].to_vec() }
}
pub fn zrem(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::ZRem(members(argv)))
}
pub fn zcard(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::ZCard(Key { key: argv[1].clone() }))
}
pub fn zscore(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::ZScore(cc::KeyField { key: argv[1].clone(), field: argv[2].clone() }))
}
pub fn zmscore(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::ZMScore(members(argv)))
}
pub fn zrank(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::ZRank(cc::ZRank { key: argv[1].clone(), member: argv[2].clone(), rev: false }))
}
pub fn zrevrank(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::ZRank(cc::ZRank { key: argv[1].clone(), member: argv[2].clone(), rev: true }))
}

fn score_bound(raw: &[u8]) -> Result<cc::Bound, Reply> {
    let bad = || Reply::error("ERR min or max is not a float");
    let (exclusive, body) = match raw.first() {
        Some(b'(') => (true, &raw[1..]),
        _ => (false, raw),
    };
    let score = node::num::parse_range_f64(body).ok_or_else(bad)?;
    Ok(cc::Bound { score, exclusive, ..Default::default() })
}

fn lex_bound(raw: &[u8]) -> Result<cc::Bound, Reply> {
    match raw {
        b"-" => Ok(cc::Bound { lex_kind: 0, ..Default::default() }),
        b"+" => Ok(cc::Bound { lex_kind: 1, ..Default::default() }),
        [b'[', rest @ ..] => Ok(cc::Bound { lex_kind: 2, lex: Bytes::copy_from_slice(rest), ..Default::default() }),
        [b'(', rest @ ..] => {
            Ok(cc::Bound { lex_kind: 2, exclusive: true, lex: Bytes::copy_from_slice(rest), ..Default::default() })
        }
        _ => Err(Reply::error("ERR min or max not valid string range item")),
    }
}

/// Fills the range of `r` from `lo` and `hi` as written (for REV forms of
/// BYSCORE/BYLEX the caller passes max first).
fn set_range(r: &mut cc::ZRange, lo: &[u8], hi: &[u8]) -> Result<(), Reply> {
    match RangeBy::try_from(r.by).unwrap_or(RangeBy::Rank) {
        RangeBy::Rank => {
            r.start = parse_i64_arg(lo)?;
            r.stop = parse_i64_arg(hi)?;
        }
        RangeBy::Score => {
            r.min = Some(score_bound(lo)?);
            r.max = Some(score_bound(hi)?);
        }
        RangeBy::Lex => {
            r.min = Some(lex_bound(lo)?);
            r.max = Some(lex_bound(hi)?);
        }
    }
    Ok(())
}

/// Reads `[WITHSCORES] [LIMIT offset count]` (the older commands' options).
fn old_style_options(r: &mut cc::ZRange, rest: &[Bytes], allow_scores: bool) -> Result<(), Reply> {
    let mut i = 0;
    while i < rest.len() {
        if allow_scores && rest[i].eq_ignore_ascii_case(b"WITHSCORES") {
            r.with_scores = true;
            i += 1;
        } else if rest[i].eq_ignore_ascii_case(b"LIMIT") && i + 2 < rest.len() {
            r.offset = Some(parse_i64_arg(&rest[i + 1])?);
            r.limit = Some(parse_i64_arg(&rest[i + 2])?);
            i += 3;
        } else {
            return Err(Reply::error(err::SYNTAX));
        }
    }
    Ok(())
}

/// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
/// (and ZRANGESTORE dst src ..., without WITHSCORES).
fn zrange_generic(argv: &[Bytes], store: bool) -> Result<Cmd, Reply> {
    let (dst, base) = if store { (Some(argv[1].clone()), 2) } else { (None, 1) };
    let mut r = cc::ZRange { key: argv[base].clone(), store: dst, ..Default::default() };
    let mut a = Args { argv, pos: base + 3 };
    while !a.is_done() {
        match a.next_upper()?.as_str() {
            "BYSCORE" if r.by == RangeBy::Rank as i32 => r.by = RangeBy::Score as i32,
            "BYLEX" if r.by == RangeBy::Rank as i32 => r.by = RangeBy::Lex as i32,
            "REV" if !r.rev => r.rev = true,
            "WITHSCORES" if !store => r.with_scores = true,
            "LIMIT" if a.remaining() >= 2 => {
                r.offset = Some(a.next_i64()?);
                r.limit = Some(a.next_i64()?);
            }
            _ => return Err(Reply::error(err::SYNTAX)),
        }
    }
    // Redis only looks at the count: LIMIT x -1 is the default.
    if r.limit.is_some_and(|l| l != -1) && r.by == RangeBy::Rank as i32 {
        return Err(Reply::error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if r.with_scores && r.by == RangeBy::Lex as i32 {
        return Err(Reply::error("ERR syntax error, WITHSCORES not supported in combination with BYLEX"));
    }
    let (lo, hi) = (&argv[base + 1], &argv[base + 2]);
    if r.rev && r.by != RangeBy::Rank as i32 {
        set_range(&mut r, hi, lo)?;
    } else {
        set_range(&mut r, lo, hi)?;
    }
    Ok(Cmd::ZRange(r))
}

pub fn zrange(argv: &[Bytes]) -> Result<Cmd, Reply> {
    zrange_generic(argv, false)
}
pub fn zrangestore(argv: &[Bytes]) -> Result<Cmd, Reply> {
    zrange_generic(argv, true)
}

fn zrange_old(argv: &[Bytes], by: RangeBy, rev: bool) -> Result<Cmd, Reply> {
    let mut r = cc::ZRange { key: argv[1].clone(), by: by as i32, rev, ..Default::default() };
    let allow_scores = by != RangeBy::Lex;
    if by == RangeBy::Rank {
        match &argv[4..] {
            [] => {}
            [w] if w.eq_ignore_ascii_case(b"WITHSCORES") => r.with_scores = true,
            _ => return Err(Reply::error(err::SYNTAX)),
        }
    } else {
        old_style_options(&mut r, &argv[4..], allow_scores)?;
    }
    // The REV forms take max first.
    if rev && by != RangeBy::Rank {
        set_range(&mut r, &argv[3], &argv[2])?;
    } else {
        set_range(&mut r, &argv[2], &argv[3])?;
    }
    Ok(Cmd::ZRange(r))
}

pub fn zrevrange(argv: &[Bytes]) -> Result<Cmd, Reply> {
    zrange_old(argv, RangeBy::Rank, true)
}
pub fn zrangebyscore(argv: &[Bytes]) -> Result<Cmd, Reply> {
    zrange_old(argv, RangeBy::Score, false)
}
pub fn zrevrangebyscore(argv: &[Bytes]) -> Result<Cmd, Reply> {
    zrange_old(argv, RangeBy::Score, true)
}
pub fn zrangebylex(argv: &[Bytes]) -> Result<Cmd, Reply> {
    zrange_old(argv, RangeBy::Lex, false)
}
pub fn zrevrangebylex(argv: &[Bytes]) -> Result<Cmd, Reply> {
    zrange_old(argv, RangeBy::Lex, true)
}

fn counted(argv: &[Bytes], by: RangeBy, remove: bool) -> Result<Cmd, Reply> {
    let mut r = cc::ZRange { key: argv[1].clone(), by: by as i32, count_only: !remove, remove, ..Default::default() };
    set_range(&mut r, &argv[2], &argv[3])?;
    Ok(Cmd::ZRange(r))
}
pub fn zcount(argv: &[Bytes]) -> Result<Cmd, Reply> {
    counted(argv, RangeBy::Score, false)
}
pub fn zlexcount(argv: &[Bytes]) -> Result<Cmd, Reply> {
    counted(argv, RangeBy::Lex, false)
}
pub fn zremrangebyrank(argv: &[Bytes]) -> Result<Cmd, Reply> {
    counted(argv, RangeBy::Rank, true)
}
pub fn zremrangebyscore(argv: &[Bytes]) -> Result<Cmd, Reply> {
    counted(argv, RangeBy::Score, true)
}
pub fn zremrangebylex(argv: &[Bytes]) -> Result<Cmd, Reply> {
    counted(argv, RangeBy::Lex, true)
}

fn zpop(argv: &[Bytes], min: bool) -> Result<Cmd, Reply> {
    if argv.len() > 3 {
        return Err(Reply::error(err::SYNTAX));
    }
    let count = argv.get(2).map(|c| positive_count(c)).transpose()?;
    Ok(Cmd::ZPop(cc::ZPop { key: argv[1].clone(), min, count }))
}
pub fn zpopmin(argv: &[Bytes]) -> Result<Cmd, Reply> {
    zpop(argv, true)
}
pub fn zpopmax(argv: &[Bytes]) -> Result<Cmd, Reply> {
    zpop(argv, false)
}
pub fn zmpop(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::ZMPop(mpop_args(argv, 1, ("MIN", "MAX"))?))
}

fn bzpop(argv: &[Bytes], min: bool) -> Result<Blocking, Reply> {
    let timeout = parse_timeout(argv.last().unwrap())?;
    let keys = argv[1..argv.len() - 1].to_vec();
    Ok((Cmd::ZMPop(cc::MPop { keys, left: min, count: 1, shape: 2 }), timeout))
}
pub fn bzpopmin(argv: &[Bytes]) -> Result<Blocking, Reply> {
    bzpop(argv, true)
}
pub fn bzpopmax(argv: &[Bytes]) -> Result<Blocking, Reply> {
    bzpop(argv, false)
}
pub fn bzmpop(argv: &[Bytes]) -> Result<Blocking, Reply> {
    let timeout = parse_timeout(&argv[1])?;
    Ok((Cmd::ZMPop(mpop_args(argv, 2, ("MIN", "MAX"))?), timeout))
}

/// ZUNION/ZINTER/ZDIFF[STORE]: `[dst] numkeys key... [WEIGHTS w...]
/// [AGGREGATE SUM|MIN|MAX] [WITHSCORES]`.
fn zsetop(argv: &[Bytes], op: SetOpKind, store: bool) -> Result<Cmd, Reply> {
    let name = String::from_utf8_lossy(&argv[0]).to_lowercase();
    let (dst, at) = if store { (Some(argv[1].clone()), 2) } else { (None, 1) };
    let (keys, rest) = numkeys(argv, at, &name)?;
    let mut c = cc::ZSetOp { op: op as i32, keys, store: dst, ..Default::default() };
    if let Err(Reply::Error(e)) = zsetop_options(&mut c, argv, rest, op, store) {
        c.option_error = Some(e);
    }
    Ok(Cmd::ZSetOp(c))
}

fn zsetop_options(c: &mut cc::ZSetOp, argv: &[Bytes], rest: usize, op: SetOpKind, store: bool) -> Result<(), Reply> {
    let mut a = Args { argv, pos: rest };
    while !a.is_done() {
        match a.next_upper()?.as_str() {
            "WEIGHTS" if op != SetOpKind::Diff && a.remaining() >= c.keys.len() => {
                for _ in 0..c.keys.len() {
                    let w = parse_f64(&a.next()?).ok_or_else(|| Reply::error("ERR weight value is not a float"))?;
                    c.weights.push(w);
                }
            }
            "AGGREGATE" if op != SetOpKind::Diff && a.remaining() >= 1 => {
                c.aggregate = match a.next_upper()?.as_str() {
                    "SUM" => Aggregate::Sum,
                    "MIN" => Aggregate::Min,
                    "MAX" => Aggregate::Max,
                    _ => return Err(Reply::error(err::SYNTAX)),
                } as i32;
            }
            "WITHSCORES" if !store => c.with_scores = true,
            _ => return Err(Reply::error(err::SYNTAX)),
        }
    }
    Ok(())
}

pub fn zunion(argv: &[Bytes]) -> Result<Cmd, Reply> {
    zsetop(argv, SetOpKind::Union, false)
}
pub fn zinter(argv: &[Bytes]) -> Result<Cmd, Reply> {
    zsetop(argv, SetOpKind::Inter, false)
}
pub fn zdiff(argv: &[Bytes]) -> Result<Cmd, Reply> {
    zsetop(argv, SetOpKind::Diff, false)
}
pub fn zunionstore(argv: &[Bytes]) -> Result<Cmd, Reply> {
    zsetop(argv, SetOpKind::Union, true)
}
pub fn zinterstore(argv: &[Bytes]) -> Result<Cmd, Reply> {
    zsetop(argv, SetOpKind::Inter, true)
}
pub fn zdiffstore(argv: &[Bytes]) -> Result<Cmd, Reply> {
    zsetop(argv, SetOpKind::Diff, true)
}
pub fn zintercard(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let (keys, rest) = numkeys(argv, 1, "zintercard")?;
    let limit = card_limit(&argv[rest..])?;
    Ok(Cmd::ZSetOp(cc::ZSetOp { op: SetOpKind::Inter as i32, keys, card: true, limit, ..Default::default() }))
}
pub fn zrandmember(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::ZRandMember(rand_members(argv, "WITHSCORES")?))
}
pub fn zscan(argv: &[Bytes]) -> Result<Cmd, Reply> {
    Ok(Cmd::ZScan(elem_scan(argv)?))
}
