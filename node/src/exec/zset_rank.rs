//! Ranks in a sorted set without counting every member before.
//!
//! Redis answers ZRANK, ZCOUNT and a ZRANGE from the middle in O(log n)
//! from its skiplist's spans; walking the score index here cost O(rank):
//! a leaderboard of 100k members answered ZRANK about 100 times a second.
//! So a sorted set keeps count records over its index, two levels of them,
//! like the upper lanes of a skiplist. A level's *boundaries* (index
//! positions) cut the index into segments, each from one boundary (or the
//! index's start) up to the next, the boundary itself excluded; a
//! segment's count record is keyed by the boundary it ends at, the last
//! segment's by the level's *end* key, after every position. Every level-2
//! boundary is a level-1 boundary too, so level-1 segments tile each
//! level-2 one. A rank is then the counts of the level-2 segments that end
//! at or before the record, plus those of the level-1 segments within the
//! next one, plus a short walk of the index.
//!
//! An add or a removal changes the count of the segment it falls in at each
//! level, found by one forward seek. Boundaries stay where they are when
//! members come and go, as a B+ tree's keys do (they are positions, not
//! members): a level-1 segment past [`SPLIT_ABOVE`] records splits at its
//! middle record, a level-2 one at the level-1 boundary nearest its middle,
//! and a segment that empties is dropped. Apply version 9 instead put
//! boundaries at members whose hash is a multiple of 64 (or 4096), so a
//! boundary member's new score moved its count record: each move left a
//! deleted record that every later seek stepped over, with all of its
//! versions, until a flush and a compaction, and ZADD into one set of 10k
//! members fell from 26k/s to 12k/s over 400k updates. Records version 9
//! wrote are boundaries like any other, so its sets are kept up from where
//! they are. The rules decide from the stored records alone, so every
//! replica keeps the same ones.
//!
//! Why keyed by the end: each write rewrites the count records it touches,
//! so until a flush RocksDB's memtable holds many versions of them. A
//! forward seek lands on a record's newest version at once; finding "the
//! boundary at or before" (keyed by the start, apply version 8) needs a
//! reverse seek, which steps back through every version of each record
//! it passes (RocksDB's memtable has no back links): ZADD to a 10k-member
//! set fell from 38k/s to 5k/s as those versions piled up.
//!
//! Small sorted sets are walked: keeping the counts costs every write two
//! more seeks, worth it only where a walk would be long. A sorted set gets
//! its count records once it passes [`COUNT_FROM`] members ([`build`],
//! [`FLAG_COUNTED`] in its flags), as Redis moves a sorted set from a
//! listpack to a skiplist past 128, and keeps them from then on. A sorted
//! set counted by apply version 8 ([`FLAG_COUNTED_BY_START`]) is walked
//! until its next write drops those records ([`upgrade`]).

use super::collections::{scan_elems, Coll, FLAG_COUNTED, FLAG_COUNTED_BY_START};
use super::db::{Apply, Db};
use crate::meta::Meta;
use crate::store::KvRead;

/// The index records' sub-key prefix (see zset.rs).
const INDEX: u8 = 2;
/// Each level: its records' sub-key prefix, and how many index records a
/// segment of it holds when [`build`] cuts them.
const LEVELS: [(u8, u64); 2] = [(5, 64), (6, 4096)];
/// Each level: the most index records a segment holds before it splits.
pub const SPLIT_ABOVE: [u64; 2] = [128, 8192];
/// The sub-key prefixes of apply version 8's count records.
const BY_START: std::ops::Range<u8> = 3..5;
/// The index position past every index record (a score key begins at
/// most 0xff 0xf0, +inf's): a level's end record stands for it.
const END: [u8; 3] = [INDEX, 0xff, 0xff];

/// Members past which a sorted set keeps count records.
pub const COUNT_FROM: u64 = 1024;

/// The live part of a sorted set's index, `[low, to)` (zset.rs' bounds):
/// every index record outside it is gone, so every segment that ends at or
/// before `low` is empty.
pub type Live = (Vec<u8>, Vec<u8>);

pub fn counted(m: &Meta) -> bool {
    super::collections::flags(m) & FLAG_COUNTED != 0
}

/// The count record of level `prefix` keyed at index position `pos`.
fn record_key(prefix: u8, pos: &[u8]) -> Vec<u8> {
    let mut k = vec![prefix];
    k.extend_from_slice(&pos[1..]);
    k
}

/// The index position a count record of any level is keyed at.
fn index_key(record: &[u8]) -> Vec<u8> {
    let mut k = vec![INDEX];
    k.extend_from_slice(&record[1..]);
    k
}

/// Just past `k`.
fn after(k: &[u8]) -> Vec<u8> {
    let mut k = k.to_vec();
    k.push(0);
    k
}

fn count_of(v: &[u8]) -> u64 {
    v.get(..8).map_or(0, |b| u64::from_be_bytes(b.try_into().unwrap()))
}

/// The segment of level `prefix` that index position `sub` falls in: the
/// key and count of its record, the first one past `sub`'s own.
fn segment_of<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, prefix: u8, sub: &[u8]) -> (Vec<u8>, u64) {
    let mut found = None;
    let from = after(&record_key(prefix, sub));
    scan_elems(db.kv, db.ns, key, m.version, &from, Some(&[prefix + 1]), false, &mut |k, v| {
        found = Some((k.to_vec(), count_of(v)));
        false
    });
    found.unwrap_or_else(|| (record_key(prefix, &END), 0))
}

/// The count records of level `prefix` keyed past index position `from`
/// (`None`: from the live index's start), in order, until `f` returns
/// false.
#[allow(clippy::too_many_arguments)] // one level's records of one key version, spelled out
fn records_after<K: KvRead + ?Sized>(
    db: &Db<K>,
    key: &[u8],
    m: &Meta,
    prefix: u8,
    from: Option<&[u8]>,
    to: &[u8],
    live: &Live,
    f: &mut dyn FnMut(&[u8], u64) -> bool,
) {
    let start = match from {
        Some(p) => after(&record_key(prefix, p)),
        None => record_key(prefix, &live.0),
    };
    scan_elems(db.kv, db.ns, key, m.version, &start, Some(to), false, &mut |k, v| f(k, count_of(v)));
}

/// Where the segment of level `level` (an index of LEVELS) that index
/// position `x` falls in starts (its first boundary at or before `x`;
/// `None`: the index's start), and how many index records lie before that.
fn start_of<K: KvRead + ?Sized>(
    db: &Db<K>,
    key: &[u8],
    m: &Meta,
    level: usize,
    x: &[u8],
    live: &Live,
) -> (Option<Vec<u8>>, u64) {
    let mut total = 0;
    let mut from: Option<Vec<u8>> = None;
    for (prefix, _) in LEVELS[level..].iter().rev() {
        let mut last = None;
        records_after(db, key, m, *prefix, from.as_deref(), &after(&record_key(*prefix, x)), live, &mut |k, n| {
            total += n;
            last = Some(index_key(k));
            true
        });
        from = last.or(from);
    }
    (from, total)
}

fn put_count(a: &mut Apply, c: &mut Coll, k: &[u8], n: u64) {
    c.put(a, k, &n.to_be_bytes());
}

/// Drops the count records apply version 8 kept (keyed by the start of
/// their segments) from the open sorted set: every write to it calls this
/// first, and [`build`] makes new ones once the set next grows.
pub fn upgrade(a: &mut Apply, c: &mut Coll) {
    if super::collections::flags(&c.meta) & FLAG_COUNTED_BY_START == 0 {
        return;
    }
    let mut old = Vec::new();
    scan_elems(a.kv, a.ns, &c.key, c.meta.version, &[BY_START.start], Some(&[BY_START.end]), false, &mut |k, _| {
        old.push(k.to_vec());
        true
    });
    for k in old {
        c.delete(a, &k);
    }
    c.clear_flag(FLAG_COUNTED_BY_START);
}

/// Writes the count records of the open sorted set from its live index
/// records and marks it counted: a level-1 boundary every 64 records, a
/// level-2 one every 4096.
pub fn build(a: &mut Apply, c: &mut Coll, live: &Live) {
    let mut records = Vec::new();
    scan_elems(a.kv, a.ns, &c.key, c.meta.version, &live.0, Some(&live.1), false, &mut |sub, _| {
        records.push(sub.to_vec());
        true
    });
    for (prefix, spacing) in LEVELS {
        let mut n = 0u64;
        for (i, sub) in records.iter().enumerate() {
            if i > 0 && (i as u64).is_multiple_of(spacing) {
                put_count(a, c, &record_key(prefix, sub), n);
                n = 0;
            }
            n += 1;
        }
        put_count(a, c, &record_key(prefix, &END), n);
    }
    c.set_flag(FLAG_COUNTED);
}

/// Index record `sub` was just added to the open (counted) sorted set.
pub fn added(a: &mut Apply, c: &mut Coll, sub: &[u8], live: &Live) {
    for (level, (prefix, _)) in LEVELS.into_iter().enumerate() {
        let (end, n) = segment_of(&a.db(), &c.key, &c.meta, prefix, sub);
        put_count(a, c, &end, n + 1);
        if n + 1 > SPLIT_ABOVE[level] {
            split(a, c, level, sub, &end, live);
        }
    }
}

/// Splits the segment of level `level` that ends at count record `end`
/// (and holds index position `sub`) in two near its middle.
fn split(a: &mut Apply, c: &mut Coll, level: usize, sub: &[u8], end: &[u8], live: &Live) {
    let (start, _) = start_of(&a.db(), &c.key, &c.meta, level, sub, live);
    let start = start.unwrap_or_else(|| live.0.clone());
    let prefix = LEVELS[level].0;
    // The candidate boundaries inside the segment, each with how many of
    // its records lie before it.
    let mut cuts: Vec<(Vec<u8>, u64)> = Vec::new();
    let mut n = 0;
    if level == 0 {
        let to = index_key(end).min(live.1.clone());
        scan_elems(a.kv, a.ns, &c.key, c.meta.version, &start, Some(&to), false, &mut |k, _| {
            cuts.push((k.to_vec(), n));
            n += 1;
            true
        });
    } else {
        // The level below's segments tile this one: cut at one of their ends.
        let lower = LEVELS[level - 1].0;
        let to = record_key(lower, &index_key(end));
        scan_elems(
            a.kv,
            a.ns,
            &c.key,
            c.meta.version,
            &after(&record_key(lower, &start)),
            Some(&to),
            false,
            &mut |k, v| {
                n += count_of(v);
                cuts.push((index_key(k), n));
                true
            },
        );
        // The last part, up to `end` itself.
        n += c.get(a, &record_key(lower, &index_key(end))).map_or(0, |v| count_of(&v));
    }
    let Some((at, before)) = cuts.into_iter().find(|(_, before)| *before * 2 >= n).filter(|(_, b)| *b > 0 && *b < n)
    else {
        return;
    };
    put_count(a, c, &record_key(prefix, &at), before);
    put_count(a, c, end, n - before);
}

/// Index record `sub` was just removed from the open (counted) sorted set.
pub fn removed(a: &mut Apply, c: &mut Coll, sub: &[u8]) {
    if c.meta.count == 0 {
        // The key goes, and its records with it.
        return;
    }
    for (level, (prefix, _)) in LEVELS.into_iter().enumerate() {
        let (end, n) = segment_of(&a.db(), &c.key, &c.meta, prefix, sub);
        let left = n.saturating_sub(1);
        let pos = index_key(&end);
        // An emptied segment goes (its records join the next one's, which
        // holds none more), but for the end records and a level-1 record
        // that ends a level-2 segment too, so that the levels stay nested.
        let keep =
            || pos == END || LEVELS.get(level + 1).is_some_and(|(p, _)| c.get(a, &record_key(*p, &pos)).is_some());
        if left == 0 && !keep() {
            c.delete(a, &end);
            if level > 0 {
                // The level-1 segment ending there is empty too.
                c.delete(a, &record_key(LEVELS[level - 1].0, &pos));
            }
        } else {
            put_count(a, c, &end, left);
        }
    }
}

/// How many index records of the counted sorted set lie before index
/// position `x`.
pub fn rank<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, x: &[u8], live: &Live) -> u64 {
    // Every record before the level-1 segment of x is counted.
    let (from, mut total) = start_of(db, key, m, 0, x, live);
    let from = from.unwrap_or_else(|| live.0.clone());
    scan_elems(db.kv, db.ns, key, m.version, &from, Some(x), false, &mut |_, _| {
        total += 1;
        true
    });
    total
}

/// The index position to walk from to reach the record of rank `r`, and
/// how many records to skip there.
pub fn seek_rank<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, r: u64, live: &Live) -> (Vec<u8>, u64) {
    let mut left = r;
    // The segment rank r falls in runs from index position `from` (None:
    // the start) to `to`.
    let mut from: Option<Vec<u8>> = None;
    let mut to = END.to_vec();
    for (prefix, _) in LEVELS.into_iter().rev() {
        let mut found = None;
        let mut last = from.clone();
        records_after(db, key, m, prefix, from.as_deref(), &after(&record_key(prefix, &to)), live, &mut |k, n| {
            if n > left {
                found = Some(index_key(k));
                return false;
            }
            left -= n;
            last = Some(index_key(k));
            true
        });
        match found {
            Some(k) => (from, to) = (last, k),
            // Past every count: nothing to find.
            None => return (vec![INDEX + 1], 0),
        }
    }
    (from.unwrap_or_else(|| live.0.clone()), left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coll_cmds as cc;
    use crate::command::Cmd;
    use crate::exec;
    use crate::meta::DataType;
    use crate::reply::Reply;
    use crate::state::PartitionCounters;
    use crate::store::{Store, WriteCtx};
    use bytes::Bytes;
    use std::sync::Arc;

    /// Runs `f` as the entry at `index` of a one-partition node, committed.
    fn applied<T>(ctx: &mut WriteCtx, index: u64, f: impl FnOnce(&mut Apply) -> T) -> T {
        let mut counters = PartitionCounters::default();
        let mut a = Apply::for_test(ctx, &mut counters, index);
        let out = f(&mut a);
        ctx.commit().unwrap();
        out
    }

    fn zadd(a: &mut Apply, pairs: impl Iterator<Item = (f64, String)>) -> Reply {
        let pairs = pairs.map(|(s, m)| cc::ScoreMember { score: Some(s), member: Bytes::from(m) }).collect();
        exec::write(a, &Cmd::ZAdd(cc::ZAdd { key: Bytes::from_static(b"z"), pairs, ..Default::default() }))
    }

    /// The count records of every level, and the zset's flags.
    fn counts(a: &mut Apply) -> (Vec<Vec<u8>>, u8) {
        let c = Coll::open(a, &Bytes::from_static(b"z"), DataType::ZSet).unwrap();
        let mut keys = Vec::new();
        scan_elems(
            a.kv,
            a.ns,
            &c.key,
            c.meta.version,
            &[BY_START.start],
            Some(&[LEVELS[1].0 + 1]),
            false,
            &mut |k, _| {
                keys.push(k.to_vec());
                true
            },
        );
        (keys, super::super::collections::flags(&c.meta))
    }

    /// A sorted set counted by apply version 8 (records keyed by segment
    /// start, flag 2) is walked until its next write drops those records,
    /// and counted anew once it grows.
    #[test]
    fn version_8_counts_are_dropped_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let mut ctx = WriteCtx::new(Arc::new(Store::open(dir.path()).unwrap()));
        applied(&mut ctx, 1, |a| zadd(a, (0..1100).map(|i| (i as f64, format!("m{i}")))));
        let (now, flags) = applied(&mut ctx, 2, counts);
        assert_eq!(flags & (FLAG_COUNTED | FLAG_COUNTED_BY_START), FLAG_COUNTED);
        assert!(now.iter().all(|k| LEVELS.iter().any(|(p, _)| k[0] == *p)) && now.len() > 10);
        // What version 8 left: its flag, and records under its prefixes
        // (wrong counts, so that reading them would show).
        applied(&mut ctx, 3, |a| {
            let mut c = Coll::open(a, &Bytes::from_static(b"z"), DataType::ZSet).unwrap();
            for k in &now {
                c.delete(a, k);
                let mut old = k.clone();
                old[0] -= 2;
                c.put(a, &old, &7u64.to_be_bytes());
            }
            c.clear_flag(FLAG_COUNTED);
            c.set_flag(FLAG_COUNTED_BY_START);
            c.finish(a);
        });
        let rank = |ctx: &mut WriteCtx, index, m: &str| applied(ctx, index, |a| member_rank(a, m));
        assert_eq!(rank(&mut ctx, 4, "m900"), Reply::Int(900));
        // A removal drops them; the set stays walked below the threshold.
        applied(&mut ctx, 5, |a| {
            let rem = cc::KeyMembers { key: Bytes::from_static(b"z"), members: vec![Bytes::from_static(b"m0")] };
            exec::write(a, &Cmd::ZRem(rem))
        });
        let (left, flags) = applied(&mut ctx, 6, counts);
        assert_eq!((left.len(), flags & (FLAG_COUNTED | FLAG_COUNTED_BY_START)), (0, 0));
        assert_eq!(rank(&mut ctx, 7, "m900"), Reply::Int(899));
        // The next add (past 1024 members) counts it again.
        applied(&mut ctx, 8, |a| zadd(a, std::iter::once((0.5, "n".to_string()))));
        let (again, flags) = applied(&mut ctx, 9, counts);
        assert_eq!(flags & (FLAG_COUNTED | FLAG_COUNTED_BY_START), FLAG_COUNTED);
        // 1100 members: a level-1 boundary every 64 (17), and the end records.
        assert_eq!(again.len(), 17 + 2);
        assert_eq!(rank(&mut ctx, 10, "m900"), Reply::Int(900));
        applied(&mut ctx, 11, |a| check_counts(a).unwrap());
    }

    /// Checks every count record of `z` against its index: each holds the
    /// number of index records from the boundary before it up to its own,
    /// every level-2 boundary is a level-1 one, and no segment is empty but
    /// the end ones and level-1 ones that end a level-2 one. Returns the count
    /// records' keys.
    fn check_counts(a: &mut Apply) -> Result<Vec<Vec<u8>>, String> {
        let c = Coll::open(a, &Bytes::from_static(b"z"), DataType::ZSet).unwrap();
        let mut index = Vec::new();
        let mut records = Vec::new();
        scan_elems(a.kv, a.ns, &c.key, c.meta.version, &[INDEX], Some(&[LEVELS[1].0 + 1]), false, &mut |k, v| {
            if k[0] == INDEX {
                index.push(k.to_vec());
            } else if LEVELS.iter().any(|(p, _)| k[0] == *p) {
                records.push((k.to_vec(), count_of(v)));
            }
            true
        });
        if index.len() as u64 != c.meta.count {
            return Err(format!("{} index records, count {}", index.len(), c.meta.count));
        }
        for (prefix, _) in LEVELS {
            let mut start = Vec::new();
            for (k, n) in records.iter().filter(|(k, _)| k[0] == prefix) {
                let end = index_key(k);
                let real = index.iter().filter(|x| **x >= start && **x < end).count() as u64;
                if real != *n {
                    return Err(format!("level {prefix} record {k:?} says {n}, holds {real}"));
                }
                let upper = records.iter().any(|(l, _)| *l == record_key(LEVELS[1].0, &end));
                if prefix == LEVELS[1].0 && !records.iter().any(|(l, _)| *l == record_key(LEVELS[0].0, &end)) {
                    return Err(format!("level-2 boundary {k:?} is no level-1 one"));
                }
                if *n == 0 && end != END && !(prefix == LEVELS[0].0 && upper) {
                    return Err(format!("level {prefix} keeps the empty segment {k:?}"));
                }
                start = end;
            }
            if start != END {
                return Err(format!("level {prefix} has no end record"));
            }
        }
        Ok(records.into_iter().map(|(k, _)| k).collect())
    }

    /// Rewrites `z`'s count records as apply version 9 kept them: a
    /// boundary at each member whose FNV-1a hash is a multiple of 64 (of
    /// 4096 for level 2).
    fn as_version_9(a: &mut Apply) {
        let fnv =
            |m: &[u8]| m.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3));
        let mut c = Coll::open(a, &Bytes::from_static(b"z"), DataType::ZSet).unwrap();
        for k in check_counts(a).unwrap() {
            c.delete(a, &k);
        }
        let mut index = Vec::new();
        scan_elems(a.kv, a.ns, &c.key, c.meta.version, &[INDEX], Some(&[INDEX + 1]), false, &mut |k, _| {
            index.push(k.to_vec());
            true
        });
        for (prefix, spacing) in LEVELS {
            let mut n = 0;
            for sub in &index {
                if fnv(&sub[9..]).is_multiple_of(spacing) {
                    put_count(a, &mut c, &record_key(prefix, sub), n);
                    n = 0;
                }
                n += 1;
            }
            put_count(a, &mut c, &record_key(prefix, &END), n);
        }
        c.finish(a);
    }

    /// A set counted by version 9's rules is kept up from its records as
    /// they are: its boundaries stay, its counts stay right.
    #[test]
    fn version_9_counts_are_kept_up_as_they_are() {
        use rand::{Rng, SeedableRng};
        let dir = tempfile::tempdir().unwrap();
        let mut ctx = WriteCtx::new(Arc::new(Store::open(dir.path()).unwrap()));
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        applied(&mut ctx, 1, |a| zadd(a, (0..5000).map(|i| ((i % 997) as f64, format!("m{i}")))));
        applied(&mut ctx, 2, as_version_9);
        let before = applied(&mut ctx, 3, |a| check_counts(a).unwrap());
        assert!(before.len() > 70, "{} records", before.len());
        for i in 0..30 {
            let pairs: Vec<(f64, String)> =
                (0..100).map(|_| (rng.gen_range(0.0..997.0), format!("m{}", rng.gen_range(0..5200)))).collect();
            applied(&mut ctx, 4 + i, |a| zadd(a, pairs.into_iter()));
        }
        applied(&mut ctx, 40, |a| {
            let now = check_counts(a).unwrap();
            assert!(before.iter().all(|k| now.contains(k)), "a boundary moved");
            let c = Coll::open(a, &Bytes::from_static(b"z"), DataType::ZSet).unwrap();
            let mut members = Vec::new();
            scan_elems(a.kv, a.ns, &c.key, c.meta.version, &[INDEX], Some(&[INDEX + 1]), false, &mut |k, _| {
                members.push(String::from_utf8(k[9..].to_vec()).unwrap());
                true
            });
            for i in (0..members.len()).step_by(53) {
                assert_eq!(member_rank(a, &members[i]), Reply::Int(i as i64), "rank of {}", members[i]);
            }
        });
    }

    /// The level-1 segment that ends where a level-2 segment ends empties
    /// while the level-2 segment still holds members: its record stays (at
    /// 0), so level 2's boundaries stay level-1 ones and ranks stay right.
    #[test]
    fn emptying_the_last_level_1_segment_of_a_level_2_one_keeps_the_levels_nested() {
        let dir = tempfile::tempdir().unwrap();
        let mut ctx = WriteCtx::new(Arc::new(Store::open(dir.path()).unwrap()));
        applied(&mut ctx, 1, |a| zadd(a, (0..9000).map(|i| (i as f64, format!("m{i:05}")))));
        let records = applied(&mut ctx, 2, |a| check_counts(a).unwrap());
        // The first level-2 boundary, and the level-1 boundary before it.
        let level2 = records.iter().find(|k| k[0] == LEVELS[1].0 && index_key(k) != END).expect("level 2 split");
        let at = index_key(level2);
        let level1: Vec<Vec<u8>> =
            records.iter().filter(|k| k[0] == LEVELS[0].0).map(|k| index_key(k)).filter(|p| *p < at).collect();
        let before = level1.last().unwrap().clone();
        // Remove every member in [before, at): scores from before's to at's.
        let score = |pos: &[u8]| String::from_utf8(pos[9..].to_vec()).unwrap();
        let (from, to) = (score(&before), score(&at));
        let doomed: Vec<Bytes> = (from[1..].parse::<u32>().unwrap()..to[1..].parse::<u32>().unwrap())
            .map(|i| Bytes::from(format!("m{i:05}")))
            .collect();
        assert!(!doomed.is_empty());
        applied(&mut ctx, 3, |a| {
            exec::write(a, &Cmd::ZRem(cc::KeyMembers { key: Bytes::from_static(b"z"), members: doomed.clone() }))
        });
        applied(&mut ctx, 4, |a| {
            check_counts(a).unwrap();
            assert_eq!(member_rank(a, &to), Reply::Int(to[1..].parse::<i64>().unwrap() - doomed.len() as i64));
        });
    }

    fn member_rank(a: &mut Apply, m: &str) -> Reply {
        let rank = cc::ZRank { key: Bytes::from_static(b"z"), member: Bytes::from(m.to_string()), rev: false };
        exec::read(&a.db(), &Cmd::ZRank(rank))
    }

    /// Boundaries stay where they are while members' scores change: random
    /// updates, adds and removals keep every count right, split segments
    /// that grow (level 2 too: the set passes 8192 members), and delete no
    /// count record but for emptied segments.
    #[test]
    fn counts_stay_right_and_boundaries_stay_put_through_random_updates() {
        use rand::{Rng, SeedableRng};
        let dir = tempfile::tempdir().unwrap();
        let mut ctx = WriteCtx::new(Arc::new(Store::open(dir.path()).unwrap()));
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let mut index = 1;
        let mut step = |ctx: &mut WriteCtx, f: &mut dyn FnMut(&mut Apply)| {
            index += 1;
            applied(ctx, index, |a| f(a))
        };
        // Built at 1025 members, then grown by adds at random scores.
        step(&mut ctx, &mut |a| {
            zadd(a, (0..3000).map(|i| ((i * 7919 % 3000) as f64, format!("m{i}"))));
        });
        let mut before = Vec::new();
        step(&mut ctx, &mut |a| before = check_counts(a).unwrap());
        // Score changes of existing members only: no boundary goes.
        for round in 0..20 {
            let pairs: Vec<(f64, String)> =
                (0..100).map(|_| (rng.gen_range(0.0..3000.0), format!("m{}", rng.gen_range(0..3000)))).collect();
            step(&mut ctx, &mut |a| {
                zadd(a, pairs.clone().into_iter());
            });
            if round % 5 == 4 {
                step(&mut ctx, &mut |a| {
                    let now = check_counts(a).unwrap();
                    assert!(before.iter().all(|k| now.contains(k)), "a boundary moved");
                });
            }
        }
        // Growth past level 2's split, removals, and pops from both ends.
        for round in 0..40 {
            let fresh: Vec<(f64, String)> =
                (0..200).map(|i| (rng.gen_range(-10.0..4000.0), format!("n{round}-{i}"))).collect();
            step(&mut ctx, &mut |a| {
                zadd(a, fresh.clone().into_iter());
            });
            let gone: Vec<Bytes> = (0..30).map(|_| Bytes::from(format!("m{}", rng.gen_range(0..3000)))).collect();
            step(&mut ctx, &mut |a| {
                exec::write(a, &Cmd::ZRem(cc::KeyMembers { key: Bytes::from_static(b"z"), members: gone.clone() }));
                for min in [true, false] {
                    let pop = cc::ZPop { key: Bytes::from_static(b"z"), min, count: Some(10) };
                    exec::write(a, &Cmd::ZPop(pop));
                }
            });
            if round % 10 == 9 {
                step(&mut ctx, &mut |a| {
                    check_counts(a).unwrap();
                });
            }
        }
        // Ranks read through the counts agree with the index.
        step(&mut ctx, &mut |a| {
            let records = check_counts(a).unwrap();
            let level2 = records.iter().filter(|k| k[0] == LEVELS[1].0).count();
            assert!(level2 >= 2, "level 2 never split: {level2} records");
            let c = Coll::open(a, &Bytes::from_static(b"z"), DataType::ZSet).unwrap();
            let mut members = Vec::new();
            scan_elems(a.kv, a.ns, &c.key, c.meta.version, &[INDEX], Some(&[INDEX + 1]), false, &mut |k, _| {
                members.push(String::from_utf8(k[9..].to_vec()).unwrap());
                true
            });
            assert!(members.len() > 8192);
            for i in (0..members.len()).step_by(97) {
                assert_eq!(member_rank(a, &members[i]), Reply::Int(i as i64), "rank of {}", members[i]);
            }
        });
    }
}
