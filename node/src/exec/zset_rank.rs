//! Ranks in a sorted set without counting every member before.
//!
//! Redis answers ZRANK, ZCOUNT and a ZRANGE from the middle in O(log n)
//! from its skiplist's spans; walking the score index here cost O(rank):
//! a leaderboard of 100k members answered ZRANK about 100 times a second.
//! So a sorted set keeps count records over its index, two levels of them,
//! like the upper lanes of a skiplist: an index record whose member hashes
//! to a multiple of 64 is a level-1 *pillar*, of 4096 a level-2 one (so
//! level-2 pillars are level-1 ones too). The pillars of a level cut the
//! index into segments, each from one pillar (or the index's start) up to
//! the next; a segment's count record is keyed by the pillar it ends at,
//! the last segment's by the level's *end* key, after every pillar. A rank
//! is then the counts of the level-2 segments that end at or before the
//! record, plus those of the level-1 segments within the next one, plus a
//! short walk: about n/4096 + 64 + 64 records read. An add or a removal
//! changes the count of the segment it falls in, found by one forward seek
//! per level; a record that is itself a pillar splits or joins segments
//! (counting the part after it from the level below). The member's hash
//! decides, so every replica keeps the same records.
//!
//! Why keyed by the end: each write rewrites the count records it touches,
//! so until a flush RocksDB's memtable holds many versions of them. A
//! forward seek lands on a record's newest version at once; finding "the
//! pillar at or before" (keyed by the start, apply version 8) needs a
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
/// Each level: its records' sub-key prefix, and one index record in how
/// many (by member hash) is a pillar of it.
const LEVELS: [(u8, u64); 2] = [(5, 64), (6, 4096)];
/// The sub-key prefixes of apply version 8's count records.
const BY_START: std::ops::Range<u8> = 3..5;
/// The index position past every index record (a score key begins at
/// most 0xff 0xf0, +inf's): a level's end record stands for it.
const END: [u8; 3] = [INDEX, 0xff, 0xff];

/// Members past which a sorted set keeps count records.
pub const COUNT_FROM: u64 = 1024;

/// The live part of a sorted set's index, `[low, to)` (zset.rs' bounds):
/// every index record outside it is gone, and so is every count record
/// keyed outside it, but the end records.
pub type Live = (Vec<u8>, Vec<u8>);

pub fn counted(m: &Meta) -> bool {
    super::collections::flags(m) & FLAG_COUNTED != 0
}

/// FNV-1a: fixed, so every replica picks the same pillars.
fn member_hash(member: &[u8]) -> u64 {
    member.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// Whether index record `sub` (`INDEX score-key member`) is a pillar of a
/// level with this spacing.
fn is_pillar(sub: &[u8], spacing: u64) -> bool {
    sub.len() >= 9 && member_hash(&sub[9..]).is_multiple_of(spacing)
}

/// The count record of level `prefix` keyed at index position `pos`.
fn pillar_key(prefix: u8, pos: &[u8]) -> Vec<u8> {
    let mut k = vec![prefix];
    k.extend_from_slice(&pos[1..]);
    k
}

/// The index position a count record of any level is keyed at.
fn index_key(pillar: &[u8]) -> Vec<u8> {
    let mut k = vec![INDEX];
    k.extend_from_slice(&pillar[1..]);
    k
}

/// Just past `k`.
fn after(k: &[u8]) -> Vec<u8> {
    let mut k = k.to_vec();
    k.push(0);
    k
}

/// Where the live count records of level `prefix` stop: past the one at
/// the live index's last record, or past the end record when that is not
/// known.
fn live_limit(prefix: u8, to: &[u8]) -> Vec<u8> {
    if to.len() > 1 {
        pillar_key(prefix, to)
    } else {
        vec![prefix + 1]
    }
}

fn count_of(v: &[u8]) -> u64 {
    v.get(..8).map_or(0, |b| u64::from_be_bytes(b.try_into().unwrap()))
}

/// The segment of level `prefix` that index position `sub` falls in: the
/// key and count of its record, the first one past `sub`'s own.
fn segment_of<K: KvRead + ?Sized>(
    db: &Db<K>,
    key: &[u8],
    m: &Meta,
    prefix: u8,
    sub: &[u8],
    live: &Live,
) -> (Vec<u8>, u64) {
    let mut found = None;
    let from = after(&pillar_key(prefix, sub));
    scan_elems(db.kv, db.ns, key, m.version, &from, Some(&live_limit(prefix, &live.1)), false, &mut |k, v| {
        found = Some((k.to_vec(), count_of(v)));
        false
    });
    found.unwrap_or_else(|| {
        let end = pillar_key(prefix, &END);
        let n = db.elem(key, m, &end).map_or(0, |v| count_of(&v));
        (end, n)
    })
}

/// The count records of level `prefix` keyed past index position `from`
/// (`None`: from the live index's start), in order, until `f` returns
/// false.
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
        Some(p) => after(&pillar_key(prefix, p)),
        None => pillar_key(prefix, &live.0),
    };
    scan_elems(db.kv, db.ns, key, m.version, &start, Some(to), false, &mut |k, v| f(k, count_of(v)));
}

/// How many index records lie from index record `from` up to the segment
/// end `end` (a count record of level `level`, an index of LEVELS),
/// counted with the level below (index records for the first level).
fn part_from<K: KvRead + ?Sized>(
    db: &Db<K>,
    key: &[u8],
    m: &Meta,
    level: usize,
    (from, end): (&[u8], &[u8]),
    live: &Live,
) -> u64 {
    let mut n = 0;
    if level == 0 {
        let to = index_key(end).min(live.1.clone());
        scan_elems(db.kv, db.ns, key, m.version, from, Some(&to), false, &mut |_, _| {
            n += 1;
            true
        });
    } else {
        // `from` is a pillar of every lower level too, and so is `end`:
        // their segments between the two tile the part.
        let lower = LEVELS[level - 1].0;
        let to = after(&pillar_key(lower, &index_key(end)));
        scan_elems(db.kv, db.ns, key, m.version, &after(&pillar_key(lower, from)), Some(&to), false, &mut |_, v| {
            n += count_of(v);
            true
        });
    }
    n
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
/// records and marks it counted.
pub fn build(a: &mut Apply, c: &mut Coll, live: &Live) {
    let mut records = Vec::new();
    scan_elems(a.kv, a.ns, &c.key, c.meta.version, &live.0, Some(&live.1), false, &mut |sub, _| {
        records.push(sub.to_vec());
        true
    });
    for (prefix, spacing) in LEVELS {
        let mut n = 0u64;
        for sub in &records {
            if is_pillar(sub, spacing) {
                put_count(a, c, &pillar_key(prefix, sub), n);
                n = 0;
            }
            n += 1;
        }
        put_count(a, c, &pillar_key(prefix, &END), n);
    }
    c.set_flag(FLAG_COUNTED);
}

/// Index record `sub` was just added to the open (counted) sorted set.
pub fn added(a: &mut Apply, c: &mut Coll, sub: &[u8], live: &Live) {
    for (level, (prefix, spacing)) in LEVELS.into_iter().enumerate() {
        let (end, n) = segment_of(&a.db(), &c.key, &c.meta, prefix, sub, live);
        if is_pillar(sub, spacing) {
            // The segment splits at `sub`: the part before it is keyed by it.
            let rest = part_from(&a.db(), &c.key, &c.meta, level, (sub, &end), live);
            put_count(a, c, &pillar_key(prefix, sub), (n + 1).saturating_sub(rest));
            put_count(a, c, &end, rest);
        } else {
            put_count(a, c, &end, n + 1);
        }
    }
}

/// Index record `sub` was just removed from the open (counted) sorted set.
pub fn removed(a: &mut Apply, c: &mut Coll, sub: &[u8], live: &Live) {
    if c.meta.count == 0 {
        // The key goes, and its records with it.
        return;
    }
    for (prefix, spacing) in LEVELS {
        let (end, n) = segment_of(&a.db(), &c.key, &c.meta, prefix, sub, live);
        if is_pillar(sub, spacing) {
            // The segments on either side of `sub` join.
            let own = pillar_key(prefix, sub);
            let before = c.get(a, &own).map_or(0, |v| count_of(&v));
            c.delete(a, &own);
            put_count(a, c, &end, (before + n).saturating_sub(1));
        } else {
            put_count(a, c, &end, n.saturating_sub(1));
        }
    }
}

/// How many index records of the counted sorted set lie before index
/// position `x`.
pub fn rank<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, x: &[u8], live: &Live) -> u64 {
    let mut total = 0;
    // The last segment end at or before x: every record before it is counted.
    let mut from: Option<Vec<u8>> = None;
    for (prefix, _) in LEVELS.into_iter().rev() {
        let to = after(&pillar_key(prefix, x));
        let mut last = None;
        records_after(db, key, m, prefix, from.as_deref(), &to, live, &mut |k, n| {
            total += n;
            last = Some(index_key(k));
            true
        });
        from = last.or(from);
    }
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
        records_after(db, key, m, prefix, from.as_deref(), &after(&pillar_key(prefix, &to)), live, &mut |k, n| {
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
        let rank = |ctx: &mut WriteCtx, index, m: &str| {
            applied(ctx, index, |a| {
                let rank = cc::ZRank { key: Bytes::from_static(b"z"), member: Bytes::from(m.to_string()), rev: false };
                exec::read(&a.db(), &Cmd::ZRank(rank))
            })
        };
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
        assert_eq!(again.len(), now.len() + is_pillar(&[&[INDEX][..], &[0; 8], b"n"].concat(), 64) as usize);
        assert_eq!(rank(&mut ctx, 10, "m900"), Reply::Int(900));
    }
}
