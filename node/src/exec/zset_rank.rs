//! Ranks in a sorted set without counting every member before.
//!
//! Redis answers ZRANK, ZCOUNT and a ZRANGE from the middle in O(log n)
//! from its skiplist's spans; walking the score index here cost O(rank):
//! a leaderboard of 100k members answered ZRANK about 100 times a second.
//! So a sorted set keeps count records over its index, two levels of them,
//! like the upper lanes of a skiplist: an index record whose member hashes
//! to a multiple of 64 is a level-1 *pillar*, of 4096 a level-2 one (so
//! level-2 pillars are level-1 ones too), and each level has a *head* before
//! the first record. A pillar's record holds how many index records lie
//! from it up to the next pillar of its level. A rank is then the counts of
//! the level-2 segments before the record, plus the level-1 segments within
//! its level-2 segment, plus a short walk: about n/4096 + 64 + 64 records
//! read. An add or a removal changes one count per level; a record that is
//! itself a pillar splits or joins segments (counting the one it starts
//! from the level below). The member's hash decides, so every replica keeps
//! the same records.
//!
//! Small sorted sets are walked: keeping the counts costs every write two
//! more seeks, worth it only where a walk would be long. A sorted set gets
//! its count records once it passes [`COUNT_FROM`] members ([`build`],
//! [`FLAG_COUNTED`] in its flags), as Redis moves a sorted set from a
//! listpack to a skiplist past 128, and keeps them from then on. (Sorted
//! sets written before apply version 8 are walked until that happens.)

use super::collections::{scan_elems, Coll, FLAG_COUNTED};
use super::db::{Apply, Db};
use crate::meta::Meta;
use crate::store::KvRead;

/// The index records' sub-key prefix (see zset.rs).
const INDEX: u8 = 2;
/// Each level: its records' sub-key prefix, and one index record in how
/// many (by member hash) is a pillar of it.
const LEVELS: [(u8, u64); 2] = [(3, 64), (4, 4096)];

/// Members past which a sorted set keeps count records.
pub const COUNT_FROM: u64 = 1024;

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

/// The count record of level `prefix` for index record `sub` (its head for
/// the index's start, `[INDEX]`).
fn pillar_key(prefix: u8, sub: &[u8]) -> Vec<u8> {
    let mut k = vec![prefix];
    k.extend_from_slice(&sub[1..]);
    k
}

/// The index position a count record of any level stands for.
fn index_key(pillar: &[u8]) -> Vec<u8> {
    let mut k = vec![INDEX];
    k.extend_from_slice(&pillar[1..]);
    k
}

fn count_of(v: &[u8]) -> u64 {
    v.get(..8).map_or(0, |b| u64::from_be_bytes(b.try_into().unwrap()))
}

/// The count record of level `prefix` at or before index record `sub`:
/// its key and count (the head, with 0, if there is none). Index records
/// below `low` are all gone (the sorted set's bound, see zset.rs), and so
/// are their pillars: a queue's pops leave those deleted records, which
/// the search must not step over one by one.
fn pillar_at_or_before<K: KvRead + ?Sized>(
    db: &Db<K>,
    key: &[u8],
    m: &Meta,
    prefix: u8,
    sub: &[u8],
    low: &[u8],
) -> (Vec<u8>, u64) {
    let mut to = pillar_key(prefix, sub);
    to.push(0);
    let from = pillar_key(prefix, low);
    let mut found = None;
    scan_elems(db.kv, db.ns, key, m.version, &from, Some(&to), true, &mut |k, v| {
        found = Some((k.to_vec(), count_of(v)));
        false
    });
    found.unwrap_or_else(|| (vec![prefix], head_count(db, key, m, prefix)))
}

fn head_count<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, prefix: u8) -> u64 {
    db.elem(key, m, &[prefix]).map_or(0, |v| count_of(&v))
}

/// The count records of level `prefix` from index position `from` on
/// (`from` is the index's start or a pillar of this level), skipping the
/// deleted ones below `low`: the head's (when `from` is the start), then
/// those at or past `low`, until `f` returns false.
fn pillars_from<K: KvRead + ?Sized>(
    db: &Db<K>,
    key: &[u8],
    m: &Meta,
    prefix: u8,
    (from, to): (&[u8], &[u8]),
    low: &[u8],
    f: &mut dyn FnMut(&[u8], u64) -> bool,
) {
    let mut start = pillar_key(prefix, from);
    if from == [INDEX] {
        if let Some(v) = db.elem(key, m, &[prefix]) {
            if !f(&[prefix], count_of(&v)) {
                return;
            }
        }
        start.push(0);
        start = start.max(pillar_key(prefix, low));
    }
    scan_elems(db.kv, db.ns, key, m.version, &start, Some(to), false, &mut |k, v| f(k, count_of(v)));
}

/// Index records from `from` up to the next pillar of level `level` (an
/// index of LEVELS), counted with the level below (index records for the
/// first level).
fn segment_size<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, level: usize, from: &[u8]) -> u64 {
    let prefix = LEVELS[level].0;
    let mut after = pillar_key(prefix, from);
    after.push(0);
    // The next pillar's position (past the pillar key's prefix byte).
    let mut next: Option<Vec<u8>> = None;
    scan_elems(db.kv, db.ns, key, m.version, &after, Some(&[prefix + 1]), false, &mut |k, _| {
        next = Some(k[1..].to_vec());
        false
    });
    // The bound of the segment among records of prefix `p`.
    let end = |p: u8| match &next {
        Some(rest) => [&[p][..], rest].concat(),
        None => vec![p + 1],
    };
    let mut n = 0;
    if level == 0 {
        scan_elems(db.kv, db.ns, key, m.version, from, Some(&end(INDEX)), false, &mut |_, _| {
            n += 1;
            true
        });
    } else {
        // The record is a pillar of every lower level too: sum theirs.
        let lower = LEVELS[level - 1].0;
        scan_elems(db.kv, db.ns, key, m.version, &pillar_key(lower, from), Some(&end(lower)), false, &mut |_, v| {
            n += count_of(v);
            true
        });
    }
    n
}

fn put_count(a: &mut Apply, c: &mut Coll, k: &[u8], n: u64) {
    c.put(a, k, &n.to_be_bytes());
}

/// Writes the count records of the open sorted set from its index records
/// (from `low` on: all below are gone) and marks it counted.
pub fn build(a: &mut Apply, c: &mut Coll, low: &[u8]) {
    let mut records = Vec::new();
    scan_elems(a.kv, a.ns, &c.key, c.meta.version, low, Some(&[INDEX + 1]), false, &mut |sub, _| {
        records.push(sub.to_vec());
        true
    });
    for (prefix, spacing) in LEVELS {
        let (mut at, mut n) = (vec![prefix], 0u64);
        for sub in &records {
            if is_pillar(sub, spacing) {
                put_count(a, c, &at, n);
                (at, n) = (pillar_key(prefix, sub), 0);
            }
            n += 1;
        }
        put_count(a, c, &at, n);
    }
    c.set_flag(FLAG_COUNTED);
}

/// Index record `sub` was just added to the open (counted) sorted set.
pub fn added(a: &mut Apply, c: &mut Coll, sub: &[u8], low: &[u8]) {
    for (level, (prefix, spacing)) in LEVELS.into_iter().enumerate() {
        let (p, n) = pillar_at_or_before(&a.db(), &c.key, &c.meta, prefix, sub, low);
        if is_pillar(sub, spacing) {
            let own = segment_size(&a.db(), &c.key, &c.meta, level, sub);
            put_count(a, c, &pillar_key(prefix, sub), own);
            put_count(a, c, &p, (n + 1).saturating_sub(own));
        } else {
            put_count(a, c, &p, n + 1);
        }
    }
}

/// Index record `sub` was just removed from the open (counted) sorted set.
pub fn removed(a: &mut Apply, c: &mut Coll, sub: &[u8], low: &[u8]) {
    if c.meta.count == 0 {
        // The key goes, and its records with it.
        return;
    }
    for (prefix, spacing) in LEVELS {
        if is_pillar(sub, spacing) {
            let own = pillar_key(prefix, sub);
            let n = c.get(a, &own).map_or(0, |v| count_of(&v));
            c.delete(a, &own);
            let (q, m) = pillar_at_or_before(&a.db(), &c.key, &c.meta, prefix, sub, low);
            put_count(a, c, &q, (m + n).saturating_sub(1));
        } else {
            let (p, n) = pillar_at_or_before(&a.db(), &c.key, &c.meta, prefix, sub, low);
            put_count(a, c, &p, n.saturating_sub(1));
        }
    }
}

/// How many index records of the counted sorted set lie before index
/// position `x` (`low` as for [`pillar_at_or_before`]).
pub fn rank<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, x: &[u8], low: &[u8]) -> u64 {
    let mut total = 0;
    let mut from = vec![INDEX];
    for (prefix, _) in LEVELS.into_iter().rev() {
        // The segments of this level that end before x, from `from` on;
        // the one x falls in is counted at the level below.
        let mut last: Option<(Vec<u8>, u64)> = None;
        pillars_from(db, key, m, prefix, (&from, &pillar_key(prefix, x)), low, &mut |k, n| {
            if let Some((_, before)) = last.take() {
                total += before;
            }
            last = Some((k.to_vec(), n));
            true
        });
        if let Some((k, _)) = last {
            from = index_key(&k);
        }
    }
    let from = if from == [INDEX] { low.to_vec() } else { from };
    scan_elems(db.kv, db.ns, key, m.version, &from, Some(x), false, &mut |_, _| {
        total += 1;
        true
    });
    total
}

/// The index position to walk from to reach the record of rank `r`, and
/// how many records to skip there.
pub fn seek_rank<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, r: u64, low: &[u8]) -> (Vec<u8>, u64) {
    let mut left = r;
    let mut from = vec![INDEX];
    for (prefix, _) in LEVELS.into_iter().rev() {
        let mut start = None;
        pillars_from(db, key, m, prefix, (&from, &[prefix + 1]), low, &mut |k, n| {
            if n > left {
                start = Some(k.to_vec());
                return false;
            }
            left -= n;
            true
        });
        match start {
            Some(k) => from = index_key(&k),
            // Past every count: nothing to find.
            None => return (vec![INDEX + 1], 0),
        }
    }
    (from, left)
}
