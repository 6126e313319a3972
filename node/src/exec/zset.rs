//! The sorted-set family. Two records per member: `0x01 member` -> score,
//! and the index `0x02 score-key member` (empty), which keeps members in
//! (score, member) order for ranges, ranks and pops.
//!
//! The metadata keeps bounds of the live index ([`Bounds`]): a queue that
//! pops from one end leaves a run of deleted index records there, which
//! RocksDB would step over one by one on every later seek from that end
//! (until compaction drops them), a cost that grows with every pop.

use super::collections::{
    flags, scan_cursor, scan_elems, Coll, FLAG_LARGE, LISTPACK_MAX_VALUE, ZSET_LISTPACK_MAX_ENTRIES,
};
use super::db::{Apply, Db};
use super::rand_pick;
use super::zset_rank;
use crate::coll_cmds::{self as cc, Aggregate, RangeBy, SetOpKind};
use crate::glob;
use crate::meta::{DataType, Meta};
use crate::notify;
use crate::num::format_double;
use crate::reply::{err, Reply};
use crate::store::KvRead;
use bytes::Bytes;
use std::collections::BTreeMap;

const MEMBER: u8 = 1;
const INDEX: u8 = 2;

/// A score as a sorted set keeps it: -0 becomes 0, as in Redis' small
/// (listpack) sorted sets, which store a score that is an integer as one.
/// (ZINCRBY's reply still shows the -0 it computed.)
fn stored(s: f64) -> f64 {
    if s == 0.0 {
        0.0
    } else {
        s
    }
}

/// An order-preserving encoding of a score.
fn score_key(s: f64) -> [u8; 8] {
    let b = stored(s).to_bits();
    let k = if b >> 63 == 1 { !b } else { b | (1 << 63) };
    k.to_be_bytes()
}

fn member_sub(m: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(m.len() + 1);
    v.push(MEMBER);
    v.extend_from_slice(m);
    v
}

fn index_sub(score: f64, m: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(m.len() + 9);
    v.push(INDEX);
    v.extend_from_slice(&score_key(score));
    v.extend_from_slice(m);
    v
}

fn decode_score(v: &[u8]) -> f64 {
    f64::from_bits(u64::from_be_bytes(v[..8].try_into().unwrap()))
}

/// The sorted set at `key` (None if missing; WRONGTYPE if another type).
pub fn zset<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8]) -> Result<Option<Meta>, Reply> {
    db.typed(key, DataType::ZSet)
}

pub fn score_of<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, member: &[u8]) -> Option<f64> {
    db.elem(key, m, &member_sub(member)).map(|v| decode_score(&v))
}

/// The (member, score) of an index record (the inverse of `index_sub`).
fn index_entry(sub: &[u8]) -> (&[u8], f64) {
    let score_bits = u64::from_be_bytes(sub[1..9].try_into().unwrap());
    let bits = if score_bits >> 63 == 1 { score_bits & !(1 << 63) } else { !score_bits };
    (&sub[9..], f64::from_bits(bits))
}

/// Bounds of a sorted set's live index records, kept in its metadata
/// payload after the flags byte: every index record below `low` and above
/// `high` is gone (an empty bound: none known). Reads of the index start
/// from them; removals at an end move them past the removed records, and a
/// member added beyond one moves it out. They change no result.
#[derive(Default)]
struct Bounds {
    low: Vec<u8>,
    high: Vec<u8>,
}

impl Bounds {
    fn of(m: &Meta) -> Bounds {
        let mut rest = m.payload.get(1..).unwrap_or_default();
        let mut take = || -> Vec<u8> {
            let Some((len, tail)) = rest.split_first_chunk::<4>() else { return Vec::new() };
            let len = (u32::from_be_bytes(*len) as usize).min(tail.len());
            let (v, tail) = tail.split_at(len);
            rest = tail;
            v.to_vec()
        };
        let low = take();
        Bounds { low, high: take() }
    }

    fn write(&self, c: &mut Coll) {
        c.meta.payload.truncate(1);
        if c.meta.payload.is_empty() {
            c.meta.payload.push(0);
        }
        if !self.low.is_empty() || !self.high.is_empty() {
            for b in [&self.low, &self.high] {
                c.meta.payload.extend_from_slice(&(b.len() as u32).to_be_bytes());
                c.meta.payload.extend_from_slice(b);
            }
        }
        c.changed = true;
    }

    /// The index records `[from, to)` that may be live.
    fn range(self) -> (Vec<u8>, Vec<u8>) {
        let from = if self.low.is_empty() { vec![INDEX] } else { self.low };
        let to = if self.high.is_empty() {
            vec![INDEX + 1]
        } else {
            let mut h = self.high;
            h.push(0);
            h
        };
        (from, to)
    }
}

/// The live part of the index (see [`zset_rank::Live`]).
fn live_of(m: &Meta) -> zset_rank::Live {
    Bounds::of(m).range()
}

/// Visits (member, score) in index order (or reversed) until `f` returns false.
fn walk<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, reverse: bool, f: &mut dyn FnMut(&[u8], f64) -> bool) {
    walk_span(db, key, m, &[INDEX], &[INDEX + 1], reverse, f)
}

/// Visits (member, score) at index positions `[lo, hi)`, in order (or
/// reversed), until `f` returns false: one seek to the end it starts from.
fn walk_span<K: KvRead + ?Sized>(
    db: &Db<K>,
    key: &[u8],
    m: &Meta,
    lo: &[u8],
    hi: &[u8],
    reverse: bool,
    f: &mut dyn FnMut(&[u8], f64) -> bool,
) {
    let (low, high) = live_of(m);
    let (from, to) = (lo.max(&low[..]), hi.min(&high[..]));
    scan_elems(db.kv, db.ns, key, m.version, from, Some(to), reverse, &mut |sub, _| {
        let (member, score) = index_entry(sub);
        f(member, score)
    });
}

/// From this offset on, a range of a counted sorted set starts from its
/// count records rather than stepping over the members before it.
const SEEK_FROM_RANK: i64 = 64;

/// The `n` members of a counted sorted set from rank `first` on, reversed
/// for a reversed range.
fn from_rank<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, first: u64, n: u64, rev: bool) -> Vec<(Bytes, f64)> {
    let mut out = Vec::new();
    let (from, mut skip) = zset_rank::seek_rank(db, key, m, first, &live_of(m));
    walk_span(db, key, m, &from, &[INDEX + 1], false, &mut |mbr, sc| {
        if skip > 0 {
            skip -= 1;
            return true;
        }
        out.push((Bytes::copy_from_slice(mbr), sc));
        (out.len() as u64) < n
    });
    if rev {
        out.reverse();
    }
    out
}

/// The index positions `[lo, hi)` of the members with scores within the
/// bounds.
fn score_span(min: &cc::Bound, max: &cc::Bound) -> (Vec<u8>, Vec<u8>) {
    let at = |score: f64| [&[INDEX][..], &score_key(score)].concat();
    // Past every member with this score.
    let after = |score: f64| crate::keys::prefix_end(&at(score));
    let lo = if min.exclusive { after(min.score) } else { at(min.score) };
    let hi = if max.exclusive { at(max.score) } else { after(max.score) };
    (lo, hi)
}

/// The index positions `[lo, hi)` of the members within lex bounds, among
/// members that all have `score`. (`lex_kind`: 0 is `-`, 1 is `+`, 2 a
/// member.)
fn lex_span(score: f64, min: &cc::Bound, max: &cc::Bound) -> (Vec<u8>, Vec<u8>) {
    let first = [&[INDEX][..], &score_key(score)].concat();
    let past = crate::keys::prefix_end(&first);
    // Just past member `m`: the position of `m` followed by a zero byte.
    let after = |m: &[u8]| [&index_sub(score, m)[..], &[0]].concat();
    let lo = match min.lex_kind {
        0 => first.clone(),
        1 => past.clone(),
        _ if min.exclusive => after(&min.lex),
        _ => index_sub(score, &min.lex),
    };
    let hi = match max.lex_kind {
        0 => first,
        1 => past,
        _ if max.exclusive => index_sub(score, &max.lex),
        _ => after(&max.lex),
    };
    (lo, hi)
}

/// The score every member has, if they all have the same one. Ranges by
/// lex are defined only for such sets (Redis compares members alone, as if
/// they were ordered by member); there the range is one run of the index.
fn uniform_score<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta) -> Option<f64> {
    let end = |reverse: bool| {
        let mut score = None;
        walk(db, key, m, reverse, &mut |_, s| {
            score = Some(s);
            false
        });
        score
    };
    let first = end(false)?;
    (end(true)? == first).then_some(first)
}

/// The index positions `[lo, hi)` a range by score, or by lex among equal
/// scores, selects; `None` for other ranges (they are walked and filtered).
fn span_of<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, r: &cc::ZRange) -> Option<(Vec<u8>, Vec<u8>)> {
    let (min, max) = (r.min.clone().unwrap_or_default(), r.max.clone().unwrap_or_default());
    match RangeBy::try_from(r.by).unwrap_or(RangeBy::Rank) {
        RangeBy::Rank => None,
        RangeBy::Score => Some(score_span(&min, &max)),
        RangeBy::Lex => uniform_score(db, key, m).map(|s| lex_span(s, &min, &max)),
    }
}

/// ZCOUNT and ZLEXCOUNT of a counted sorted set: the rank past the span
/// less the rank of its start.
fn count_in_span<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, (lo, hi): &(Vec<u8>, Vec<u8>)) -> u64 {
    if lo >= hi {
        return 0;
    }
    let live = live_of(m);
    zset_rank::rank(db, key, m, hi, &live) - zset_rank::rank(db, key, m, lo, &live)
}

/// The first (or last) index record of the open zset.
fn end_record(a: &Apply, c: &Coll, last: bool) -> Option<Vec<u8>> {
    let (from, to) = live_of(&c.meta);
    let mut found = None;
    scan_elems(a.kv, a.ns, &c.key, c.meta.version, &from, Some(&to), last, &mut |sub, _| {
        found = Some(sub.to_vec());
        false
    });
    found
}

/// Removes `members` (with their scores) from the open zset. When that
/// takes an end record of the index, the bound at that end moves to the
/// new end record.
fn remove_members(a: &mut Apply, c: &mut Coll, members: &[(Bytes, f64)]) {
    if members.is_empty() {
        return;
    }
    let ends = [end_record(a, c, false), end_record(a, c, true)];
    let removed: std::collections::HashSet<Vec<u8>> = members.iter().map(|(m, s)| index_sub(*s, m)).collect();
    for (mbr, s) in members {
        remove_member(a, c, mbr, *s);
    }
    if c.meta.count == 0 {
        return;
    }
    let mut bounds = Bounds::of(&c.meta);
    let mut moved = false;
    for (last, end) in [false, true].into_iter().zip(ends) {
        if end.as_ref().is_some_and(|e| removed.contains(e)) {
            if let Some(e) = end_record(a, c, last) {
                *(if last { &mut bounds.high } else { &mut bounds.low }) = e;
                moved = true;
            }
        }
    }
    if moved {
        bounds.write(c);
    }
}

/// Visits (member, score) with `min <= score < max`, in order, until `f`
/// returns false (a GEO search reads its boxes so).
pub fn walk_scores<K: KvRead + ?Sized>(
    db: &Db<K>,
    key: &[u8],
    m: &Meta,
    (min, max): (f64, f64),
    f: &mut dyn FnMut(&[u8], f64) -> bool,
) {
    let at = |score: f64| [&[INDEX][..], &score_key(score)].concat();
    walk_span(db, key, m, &at(min), &at(max), false, f)
}

fn note_member(c: &mut Coll, member: &[u8]) {
    if member.len() > LISTPACK_MAX_VALUE || c.meta.count > ZSET_LISTPACK_MAX_ENTRIES {
        c.set_flag(FLAG_LARGE);
    }
}

/// Sets `member`'s score in the open zset (adding it if new).
fn put_score(a: &mut Apply, c: &mut Coll, member: &[u8], old: Option<f64>, score: f64) {
    zset_rank::upgrade(a, c);
    if let Some(o) = old {
        let old_sub = index_sub(o, member);
        c.delete(a, &old_sub);
        if zset_rank::counted(&c.meta) {
            zset_rank::removed(a, c, &old_sub);
        }
    } else {
        c.meta.count += 1;
    }
    c.put(a, &member_sub(member), &stored(score).to_bits().to_be_bytes());
    let sub = index_sub(score, member);
    if c.meta.payload.len() > 1 {
        let mut b = Bounds::of(&c.meta);
        let below = !b.low.is_empty() && sub < b.low;
        let above = !b.high.is_empty() && sub > b.high;
        if below || above {
            if below {
                b.low = sub.clone();
            }
            if above {
                b.high = sub.clone();
            }
            b.write(c);
        }
    }
    c.put(a, &sub, b"");
    if zset_rank::counted(&c.meta) {
        zset_rank::added(a, c, &sub, &live_of(&c.meta));
    } else if c.meta.count > zset_rank::COUNT_FROM {
        zset_rank::build(a, c, &live_of(&c.meta));
    }
    note_member(c, member);
}

fn remove_member(a: &mut Apply, c: &mut Coll, member: &[u8], score: f64) {
    zset_rank::upgrade(a, c);
    let sub = index_sub(score, member);
    c.delete(a, &member_sub(member));
    c.delete(a, &sub);
    c.meta.count -= 1;
    if zset_rank::counted(&c.meta) {
        zset_rank::removed(a, c, &sub);
    }
}

fn current(a: &Apply, c: &Coll, member: &[u8]) -> Option<f64> {
    c.get(a, &member_sub(member)).map(|v| decode_score(&v))
}

pub fn zadd(a: &mut Apply, cmd: &cc::ZAdd) -> Reply {
    let mut c = match Coll::open(a, &cmd.key, DataType::ZSet) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let (mut added, mut changed) = (0, 0);
    let mut incr_result = None;
    for p in &cmd.pairs {
        let old = current(a, &c, &p.member);
        let new = match old {
            Some(o) if cmd.incr => o + p.score(),
            _ => p.score(),
        };
        if new.is_nan() {
            c.finish(a);
            return Reply::error("ERR resulting score is not a number (NaN)");
        }
        match old {
            Some(o) => {
                if cmd.nx || (cmd.gt && new <= o) || (cmd.lt && new >= o) {
                    continue;
                }
                incr_result = Some(new);
                if new != o {
                    put_score(a, &mut c, &p.member, old, new);
                    changed += 1;
                }
            }
            None => {
                if cmd.xx {
                    continue;
                }
                incr_result = Some(new);
                put_score(a, &mut c, &p.member, None, new);
                added += 1;
            }
        }
    }
    c.finish(a);
    if added + changed > 0 {
        a.event(notify::ZSET, if cmd.incr { "zincr" } else { "zadd" }, &cmd.key);
    }
    if cmd.incr {
        incr_result.map_or(Reply::Nil, Reply::Double)
    } else {
        Reply::Int(if cmd.ch { added + changed } else { added })
    }
}

pub fn zrem(a: &mut Apply, cmd: &cc::KeyMembers) -> Reply {
    let mut c = match Coll::existing(a, &cmd.key, DataType::ZSet) {
        Ok(Some(c)) => c,
        Ok(None) => return Reply::Int(0),
        Err(e) => return e,
    };
    let mut members = Vec::new();
    for mbr in &cmd.members {
        if members.iter().any(|(m, _)| m == mbr) {
            continue;
        }
        if let Some(s) = current(a, &c, mbr) {
            members.push((mbr.clone(), s));
        }
    }
    remove_members(a, &mut c, &members);
    let removed = members.len() as i64;
    finish_removal(a, c, "zrem", removed);
    Reply::Int(removed)
}

/// Writes the zset after `removed` members went and fires Redis' events:
/// `event`, and `del` when it emptied the set.
fn finish_removal(a: &mut Apply, c: Coll, event: &str, removed: i64) {
    let emptied = c.meta.count == 0;
    let key = c.key.clone();
    c.finish(a);
    if removed > 0 {
        a.event(notify::ZSET, event, &key);
        if emptied {
            a.event(notify::GENERIC, "del", &key);
        }
    }
}

pub fn zscore<K: KvRead + ?Sized>(db: &Db<K>, c: &cc::KeyField) -> Reply {
    match zset(db, &c.key) {
        Err(e) => e,
        Ok(m) => m.and_then(|m| score_of(db, &c.key, &m, &c.field)).map_or(Reply::Nil, Reply::Double),
    }
}

pub fn zmscore<K: KvRead + ?Sized>(db: &Db<K>, c: &cc::KeyMembers) -> Reply {
    match zset(db, &c.key) {
        Err(e) => e,
        Ok(m) => Reply::Array(
            c.members
                .iter()
                .map(|x| m.as_ref().and_then(|m| score_of(db, &c.key, m, x)).map_or(Reply::Nil, Reply::Double))
                .collect(),
        ),
    }
}

pub fn zrank<K: KvRead + ?Sized>(db: &Db<K>, c: &cc::ZRank) -> Reply {
    let m = match zset(db, &c.key) {
        Err(e) => return e,
        Ok(None) => return Reply::Nil,
        Ok(Some(m)) => m,
    };
    let Some(score) = score_of(db, &c.key, &m, &c.member) else {
        return Reply::Nil;
    };
    // Count the members before (score, member).
    let target = index_sub(score, &c.member);
    let mut rank = 0i64;
    if zset_rank::counted(&m) {
        rank = zset_rank::rank(db, &c.key, &m, &target, &live_of(&m)) as i64;
    } else {
        let (from, _) = live_of(&m);
        scan_elems(db.kv, db.ns, &c.key, m.version, &from, Some(&target), false, &mut |_, _| {
            rank += 1;
            true
        });
    }
    Reply::Int(if c.rev { m.count as i64 - 1 - rank } else { rank })
}

fn lex_ok(min: &cc::Bound, max: &cc::Bound, m: &[u8]) -> (bool, bool) {
    let above_min = match min.lex_kind {
        0 => true,
        1 => false,
        _ => {
            if min.exclusive {
                m > min.lex.as_ref()
            } else {
                m >= min.lex.as_ref()
            }
        }
    };
    let below_max = match max.lex_kind {
        0 => false,
        1 => true,
        _ => {
            if max.exclusive {
                m < max.lex.as_ref()
            } else {
                m <= max.lex.as_ref()
            }
        }
    };
    (above_min, below_max)
}

/// The (member, score) pairs a ZRANGE-like command selects, in reply order.
fn select<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, r: &cc::ZRange) -> Vec<(Bytes, f64)> {
    let by = RangeBy::try_from(r.by).unwrap_or(RangeBy::Rank);
    let mut out = Vec::new();
    match by {
        RangeBy::Rank => {
            let len = m.count as i64;
            let (mut s, mut e) = (r.start, r.stop);
            if s < 0 {
                s += len;
            }
            if e < 0 {
                e += len;
            }
            s = s.max(0);
            if s > e || s >= len {
                return out;
            }
            e = e.min(len - 1);
            if zset_rank::counted(m) && s >= SEEK_FROM_RANK {
                // Forward ranks: [s, e], or for a reversed range [len-1-e, len-1-s].
                let first = if r.rev { len - 1 - e } else { s };
                return from_rank(db, key, m, first as u64, (e - s + 1) as u64, r.rev);
            }
            let mut i = 0i64;
            walk(db, key, m, r.rev, &mut |mbr, sc| {
                if i >= s {
                    out.push((Bytes::copy_from_slice(mbr), sc));
                }
                i += 1;
                i <= e
            });
        }
        _ if r.offset.is_some_and(|o| o < 0) => {}
        _ => match span_of(db, key, m, r) {
            Some(span) => return select_span(db, key, m, r, span),
            None => {
                // By lex among unequal scores: Redis' answer depends on its
                // skiplist; walk in index order and filter, as it would if
                // its levels were flat.
                let (min, max) = (r.min.clone().unwrap_or_default(), r.max.clone().unwrap_or_default());
                let mut page = Page::of(r);
                walk(db, key, m, r.rev, &mut |mbr, sc| {
                    let (lo_ok, hi_ok) = lex_ok(&min, &max, mbr);
                    // Walking up: before the range until lo_ok, after it once !hi_ok.
                    let (before, after) = if r.rev { (!hi_ok, !lo_ok) } else { (!lo_ok, !hi_ok) };
                    before || (!after && page.offer(mbr, sc))
                });
                return page.out;
            }
        },
    }
    out
}

/// The members a range's offset and limit let through, in walk order.
struct Page {
    skip: i64,
    limit: Option<i64>,
    out: Vec<(Bytes, f64)>,
}

impl Page {
    fn of(r: &cc::ZRange) -> Page {
        Page { skip: r.offset.unwrap_or(0).max(0), limit: r.limit.filter(|l| *l >= 0), out: Vec::new() }
    }

    /// Offers the next member of the range; false once the page is full.
    fn offer(&mut self, mbr: &[u8], sc: f64) -> bool {
        if self.skip > 0 {
            self.skip -= 1;
            return true;
        }
        if self.limit.is_some_and(|l| self.out.len() as i64 >= l) {
            return false;
        }
        self.out.push((Bytes::copy_from_slice(mbr), sc));
        true
    }
}

/// The members of a range by score (or lex) within index positions
/// `[lo, hi)`, with its offset (not negative) and limit, in reply order.
fn select_span<K: KvRead + ?Sized>(
    db: &Db<K>,
    key: &[u8],
    m: &Meta,
    r: &cc::ZRange,
    (lo, hi): (Vec<u8>, Vec<u8>),
) -> Vec<(Bytes, f64)> {
    if lo >= hi {
        return Vec::new();
    }
    let mut page = Page::of(r);
    if zset_rank::counted(m) && page.skip >= SEEK_FROM_RANK {
        // The ranks the span covers, from the count records; then a
        // walk from the first member wanted.
        let live = live_of(m);
        let first = zset_rank::rank(db, key, m, &lo, &live);
        let inside = zset_rank::rank(db, key, m, &hi, &live).saturating_sub(first);
        let offset = page.skip as u64;
        if offset >= inside {
            return Vec::new();
        }
        let take = page.limit.map_or(inside - offset, |l| (l as u64).min(inside - offset));
        if take == 0 {
            return Vec::new();
        }
        let start = if r.rev { first + inside - offset - take } else { first + offset };
        return from_rank(db, key, m, start, take, r.rev);
    }
    walk_span(db, key, m, &lo, &hi, r.rev, &mut |mbr, sc| page.offer(mbr, sc));
    page.out
}

fn range_reply(items: Vec<(Bytes, f64)>, with_scores: bool) -> Reply {
    if with_scores {
        Reply::Pairs(items.into_iter().map(|(m, s)| (Reply::Bulk(m), Reply::Double(s))).collect())
    } else {
        Reply::Array(items.into_iter().map(|(m, _)| Reply::Bulk(m)).collect())
    }
}

pub fn zrange_read<K: KvRead + ?Sized>(db: &Db<K>, r: &cc::ZRange) -> Reply {
    let m = match zset(db, &r.key) {
        Err(e) => return e,
        Ok(None) => return if r.count_only { Reply::Int(0) } else { Reply::Array(vec![]) },
        Ok(Some(m)) => m,
    };
    if r.count_only && zset_rank::counted(&m) {
        if let Some(span) = span_of(db, &r.key, &m, r) {
            return Reply::Int(count_in_span(db, &r.key, &m, &span) as i64);
        }
    }
    let items = select(db, &r.key, &m, r);
    if r.count_only {
        return Reply::Int(items.len() as i64);
    }
    range_reply(items, r.with_scores)
}

/// ZRANGESTORE and ZREMRANGEBY*.
pub fn zrange_write(a: &mut Apply, r: &cc::ZRange) -> Reply {
    let m = match zset(&a.db(), &r.key) {
        Err(e) => return e,
        Ok(m) => m,
    };
    let items = m.as_ref().map(|m| select(&a.db(), &r.key, m, r)).unwrap_or_default();
    if r.remove {
        let Some(mut c) = (match Coll::existing(a, &r.key, DataType::ZSet) {
            Ok(c) => c,
            Err(e) => return e,
        }) else {
            return Reply::Int(0);
        };
        remove_members(a, &mut c, &items);
        let event = match RangeBy::try_from(r.by).unwrap_or(RangeBy::Rank) {
            RangeBy::Rank => "zremrangebyrank",
            RangeBy::Score => "zremrangebyscore",
            RangeBy::Lex => "zremrangebylex",
        };
        finish_removal(a, c, event, items.len() as i64);
        return Reply::Int(items.len() as i64);
    }
    let dst = r.store.clone().expect("a store command");
    store(a, &dst, items, "zrangestore")
}

/// Writes a new zset of `items` at `dst`, replacing anything there, firing
/// `event` (of the sorted-set class).
pub fn store(a: &mut Apply, dst: &Bytes, items: Vec<(Bytes, f64)>, event: &str) -> Reply {
    let n = items.len() as i64;
    Coll::replace(a, dst, DataType::ZSet, items.is_empty(), (notify::ZSET, event), |a, c| {
        for (mbr, s) in items {
            put_score(a, c, &mbr, None, s);
        }
    });
    Reply::Int(n)
}

/// Pops up to `count` members from one end.
fn pop_from(a: &mut Apply, key: &Bytes, min: bool, count: u64) -> Result<Option<Vec<(Bytes, f64)>>, Reply> {
    let Some(mut c) = Coll::existing(a, key, DataType::ZSet)? else {
        return Ok(None);
    };
    let mut items = Vec::new();
    walk(&a.db(), key, &c.meta, !min, &mut |mbr, s| {
        if items.len() as u64 >= count {
            return false;
        }
        items.push((Bytes::copy_from_slice(mbr), s));
        true
    });
    remove_members(a, &mut c, &items);
    finish_removal(a, c, if min { "zpopmin" } else { "zpopmax" }, items.len() as i64);
    Ok(Some(items))
}

pub fn zpop(a: &mut Apply, cmd: &cc::ZPop) -> Reply {
    match pop_from(a, &cmd.key, cmd.min, cmd.count.unwrap_or(1)) {
        Err(e) => e,
        Ok(None) => Reply::Array(vec![]),
        Ok(Some(items)) => match cmd.count {
            None => Reply::Array(items.into_iter().flat_map(|(m, s)| [Reply::Bulk(m), Reply::Double(s)]).collect()),
            Some(_) => range_reply(items, true),
        },
    }
}

/// ZMPOP (shape 0) and BZPOPMIN/BZPOPMAX (shape 2).
pub fn zmpop(a: &mut Apply, cmd: &cc::MPop) -> Reply {
    for key in &cmd.keys {
        match pop_from(a, key, cmd.left, cmd.count.max(1)) {
            Err(e) => return e,
            Ok(Some(items)) if !items.is_empty() => {
                return if cmd.shape == 2 {
                    let (m, s) = items.into_iter().next().unwrap();
                    Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Bulk(m), Reply::Double(s)])
                } else {
                    // ZMPOP nests its pairs in RESP2 too.
                    let pairs = items.into_iter().map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(s)]));
                    Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Array(pairs.collect())])
                };
            }
            Ok(_) => continue,
        }
    }
    Reply::NilArray
}

/// Members and scores of a zset or a set (score 1) as a ZUNION input.
pub fn input<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8]) -> Result<Vec<(Bytes, f64)>, Reply> {
    match db.meta(key) {
        None => Ok(vec![]),
        Some(m) if m.ty == DataType::ZSet => {
            let mut v = Vec::new();
            walk(db, key, &m, false, &mut |mbr, s| {
                v.push((Bytes::copy_from_slice(mbr), s));
                true
            });
            Ok(v)
        }
        Some(m) if m.ty == DataType::Set => {
            Ok(super::set::members(db, key, &m).into_iter().map(|x| (x, 1.0)).collect())
        }
        Some(_) => Err(Reply::error(err::WRONGTYPE)),
    }
}

fn aggregate(agg: Aggregate, acc: f64, v: f64) -> f64 {
    let r = match agg {
        Aggregate::Sum => acc + v,
        Aggregate::Min => acc.min(v),
        Aggregate::Max => acc.max(v),
    };
    // Redis' convention: inf + -inf is 0.
    if r.is_nan() {
        0.0
    } else {
        r
    }
}

fn compute<K: KvRead + ?Sized>(db: &Db<K>, cmd: &cc::ZSetOp) -> Result<Vec<(Bytes, f64)>, Reply> {
    let op = SetOpKind::try_from(cmd.op).unwrap_or(SetOpKind::Union);
    let agg = Aggregate::try_from(cmd.aggregate).unwrap_or(Aggregate::Sum);
    let mut inputs = Vec::with_capacity(cmd.keys.len());
    for k in &cmd.keys {
        inputs.push(input(db, k)?);
    }
    if let Some(e) = &cmd.option_error {
        return Err(Reply::error(e.clone()));
    }
    let weight = |i: usize| cmd.weights.get(i).copied().unwrap_or(1.0);
    let weighted = |s: f64, i: usize| {
        let v = s * weight(i);
        if v.is_nan() {
            0.0
        } else {
            v
        }
    };
    let mut acc: BTreeMap<Bytes, f64> = BTreeMap::new();
    match op {
        SetOpKind::Union => {
            // In Redis' order: the inputs by size, stably (it matters where
            // inf meets -inf: that sum is 0 wherever it happens).
            let mut order: Vec<usize> = (0..inputs.len()).collect();
            order.sort_by_key(|&i| inputs[i].len());
            for i in order {
                for (m, s) in &inputs[i] {
                    let v = weighted(*s, i);
                    acc.entry(m.clone()).and_modify(|a| *a = aggregate(agg, *a, v)).or_insert(v);
                }
            }
        }
        SetOpKind::Inter => {
            // Redis walks the smallest input (inputs sorted by size, stably)
            // and looks its members up in the others. Only the walked
            // input's NaN product (0 * inf) becomes 0; the others' reach
            // the aggregate, where SUM turns NaN into 0 and MIN/MAX keep
            // what they had.
            let mut order: Vec<usize> = (0..inputs.len()).collect();
            order.sort_by_key(|&i| inputs[i].len());
            if let Some((&first, rest)) = order.split_first() {
                let others: Vec<(usize, BTreeMap<&Bytes, f64>)> =
                    rest.iter().map(|&j| (j, inputs[j].iter().map(|(m, s)| (m, *s)).collect())).collect();
                'members: for (m, s) in &inputs[first] {
                    let mut v = weighted(*s, first);
                    for (j, o) in &others {
                        match o.get(m) {
                            Some(s2) => v = aggregate(agg, v, s2 * weight(*j)),
                            None => continue 'members,
                        }
                    }
                    acc.insert(m.clone(), v);
                }
            }
        }
        SetOpKind::Diff => {
            if let Some(first) = inputs.first() {
                let others: std::collections::BTreeSet<&Bytes> = inputs[1..].iter().flatten().map(|(m, _)| m).collect();
                for (m, s) in first {
                    if !others.contains(m) {
                        acc.insert(m.clone(), *s);
                    }
                }
            }
        }
    }
    let mut out: Vec<(Bytes, f64)> = acc.into_iter().collect();
    // Scores compare as numbers (-0 equals 0; none is NaN), then members.
    out.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}

pub fn zsetop_read<K: KvRead + ?Sized>(db: &Db<K>, cmd: &cc::ZSetOp) -> Reply {
    match compute(db, cmd) {
        Err(e) => e,
        Ok(items) if cmd.card => {
            let n = items.len() as u64;
            Reply::Int(if cmd.limit > 0 { n.min(cmd.limit) } else { n } as i64)
        }
        Ok(items) => range_reply(items, cmd.with_scores),
    }
}

pub fn zsetop_store(a: &mut Apply, cmd: &cc::ZSetOp) -> Reply {
    match compute(&a.db(), cmd) {
        Err(e) => e,
        Ok(items) => {
            let event = match SetOpKind::try_from(cmd.op).unwrap_or(SetOpKind::Union) {
                SetOpKind::Union => "zunionstore",
                SetOpKind::Inter => "zinterstore",
                SetOpKind::Diff => "zdiffstore",
            };
            store(a, cmd.store.as_ref().expect("a store command"), items, event)
        }
    }
}

pub fn zrandmember<K: KvRead + ?Sized>(db: &Db<K>, c: &cc::RandMembers) -> Reply {
    let m = match zset(db, &c.key) {
        Err(e) => return e,
        Ok(m) => m,
    };
    let mut rng = rand::thread_rng();
    let reply = |items: Vec<(Bytes, f64)>| match c.count {
        None => items.into_iter().next().map_or(Reply::Nil, |(m, _)| Reply::Bulk(m)),
        Some(_) => range_reply(items, c.with_values),
    };
    let Some(m) = m else {
        return reply(Vec::new());
    };
    if let Some(ranks) = random_ranks(&m, c.count, &mut rng) {
        // A few picks from a counted set: each one a seek by rank.
        return reply(ranks.into_iter().flat_map(|r| from_rank(db, &c.key, &m, r, 1, false)).collect());
    }
    let mut all = Vec::new();
    walk(db, &c.key, &m, false, &mut |mbr, s| {
        all.push((Bytes::copy_from_slice(mbr), s));
        true
    });
    reply(rand_pick(&all, c.count.unwrap_or(1), &mut rng).into_iter().map(|i| all[i].clone()).collect())
}

/// The ranks ZRANDMEMBER picks in a counted sorted set when they are few
/// next to its size (distinct ones for a positive count, as Redis does);
/// `None` when reading the whole set is as cheap.
fn random_ranks<R: rand::Rng>(m: &Meta, count: Option<i64>, rng: &mut R) -> Option<Vec<u64>> {
    let n = count.unwrap_or(1);
    if !zset_rank::counted(m) || n.unsigned_abs().saturating_mul(2) >= m.count {
        return None;
    }
    Some(if n < 0 {
        (0..n.unsigned_abs()).map(|_| rng.gen_range(0..m.count)).collect()
    } else {
        rand::seq::index::sample(rng, m.count as usize, n as usize).into_iter().map(|i| i as u64).collect()
    })
}

pub fn zscan<K: KvRead + ?Sized>(db: &Db<K>, c: &cc::ElemScan) -> Reply {
    let m = match zset(db, &c.key) {
        Err(e) => return e,
        Ok(None) => return Reply::Array(vec![Reply::bulk("0"), Reply::Array(vec![])]),
        Ok(Some(m)) => m,
    };
    let whole = flags(&m) & FLAG_LARGE == 0;
    let (items, next) = scan_cursor(db, &c.key, &m, &[MEMBER], c.cursor, c.count, whole);
    let mut out = Vec::new();
    for (mbr, v) in items {
        if c.pattern.as_ref().is_none_or(|p| p.as_ref() == b"*" || glob::matches(p, &mbr)) {
            out.push(Reply::bulk(mbr));
            out.push(Reply::bulk(format_double(decode_score(&v))));
        }
    }
    Reply::Array(vec![Reply::bulk(next.to_string()), Reply::Array(out)])
}

pub fn encoding(m: &Meta) -> &'static str {
    if flags(m) & FLAG_LARGE != 0 {
        "skiplist"
    } else {
        "listpack"
    }
}

#[cfg(test)]
mod tests {
    use super::score_key;

    #[test]
    fn score_keys_sort_like_scores() {
        let scores = [f64::NEG_INFINITY, -1e300, -2.5, -1.0, -0.0, 0.0, 1e-300, 1.0, 2.5, 1e300, f64::INFINITY];
        for w in scores.windows(2) {
            assert!(score_key(w[0]) <= score_key(w[1]), "{} vs {}", w[0], w[1]);
        }
        assert_eq!(score_key(-0.0), score_key(0.0));
    }
}
