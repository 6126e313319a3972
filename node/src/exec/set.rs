//! The set family: one element per member, keyed `[crc32(member)][member]`
//! (empty value). The hash prefix spreads members uniformly, so a random
//! member (SPOP, SRANDMEMBER) is one seek to a random 32-bit point instead
//! of a walk over the whole set.

use super::collections::{flags, scan_cursor, scan_elems, Coll, FLAG_LARGE, INTSET_MAX_ENTRIES};
use super::db::{Apply, Db};
use super::rand_pick;
use crate::coll_cmds::{self as cc, SetOpKind};
use crate::command::Key;
use crate::glob;
use crate::meta::{DataType, Meta};
use crate::notify;
use crate::num::parse_i64;
use crate::reply::Reply;
use crate::store::KvRead;
use bytes::Bytes;
use rand::Rng;
use std::collections::BTreeSet;

fn set<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8]) -> Result<Option<Meta>, Reply> {
    db.typed(key, DataType::Set)
}

/// The sub key of a member.
fn sub(member: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(member.len() + 4);
    v.extend_from_slice(&crc32fast::hash(member).to_be_bytes());
    v.extend_from_slice(member);
    v
}

/// The members, in hash order.
pub fn members<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta) -> Vec<Bytes> {
    let mut out = Vec::with_capacity(m.count as usize);
    db.elems(key, m, &mut |s, _| {
        out.push(Bytes::copy_from_slice(&s[4..]));
        true
    });
    out
}

/// The first member at or after the 32-bit hash point `at`, wrapping around.
fn member_at<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, at: u32) -> Option<Bytes> {
    let first_from = |from: &[u8]| {
        let mut found = None;
        scan_elems(db.kv, db.ns, key, m.version, from, None, false, &mut |s, _| {
            found = Some(Bytes::copy_from_slice(&s[4..]));
            false
        });
        found
    };
    first_from(&at.to_be_bytes()).or_else(|| first_from(b""))
}

fn is_member<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta, member: &[u8]) -> bool {
    db.elem(key, m, &sub(member)).is_some()
}

/// Like Redis, a set stays an intset while every member is an integer and it
/// has at most 512 members; once past that, it is a hashtable for good.
fn note_member(c: &mut Coll, member: &[u8]) {
    if parse_i64(member).is_none() || c.meta.count > INTSET_MAX_ENTRIES {
        c.set_flag(FLAG_LARGE);
    }
}

fn add_members(a: &mut Apply, c: &mut Coll, items: &[Bytes]) -> i64 {
    let mut added = 0;
    for mbr in items {
        let s = sub(mbr);
        if c.get(a, &s).is_none() {
            c.put(a, &s, b"");
            c.meta.count += 1;
            added += 1;
        }
        note_member(c, mbr);
    }
    added
}

pub fn sadd(a: &mut Apply, cmd: &cc::KeyMembers) -> Reply {
    let mut c = match Coll::open(a, &cmd.key, DataType::Set) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let added = add_members(a, &mut c, &cmd.members);
    c.finish(a);
    if added > 0 {
        a.event(notify::SET, "sadd", &cmd.key);
    }
    Reply::Int(added)
}

pub fn srem(a: &mut Apply, cmd: &cc::KeyMembers) -> Reply {
    let mut c = match Coll::existing(a, &cmd.key, DataType::Set) {
        Ok(Some(c)) => c,
        Ok(None) => return Reply::Int(0),
        Err(e) => return e,
    };
    let mut removed = 0;
    for mbr in &cmd.members {
        let s = sub(mbr);
        if c.get(a, &s).is_some() {
            c.delete(a, &s);
            c.meta.count -= 1;
            removed += 1;
        }
    }
    let emptied = c.meta.count == 0;
    c.finish(a);
    if removed > 0 {
        a.event(notify::SET, "srem", &cmd.key);
    }
    if emptied {
        a.event(notify::GENERIC, "del", &cmd.key);
    }
    Reply::Int(removed)
}

pub fn sismember<K: KvRead + ?Sized>(db: &Db<K>, c: &cc::KeyField) -> Reply {
    match set(db, &c.key) {
        Err(e) => e,
        Ok(m) => Reply::Int(m.is_some_and(|m| is_member(db, &c.key, &m, &c.field)) as i64),
    }
}

pub fn smismember<K: KvRead + ?Sized>(db: &Db<K>, c: &cc::KeyMembers) -> Reply {
    match set(db, &c.key) {
        Err(e) => e,
        Ok(m) => Reply::Array(
            c.members
                .iter()
                .map(|x| Reply::Int(m.as_ref().is_some_and(|m| is_member(db, &c.key, m, x)) as i64))
                .collect(),
        ),
    }
}

pub fn smembers<K: KvRead + ?Sized>(db: &Db<K>, key: &Key) -> Reply {
    match set(db, &key.key) {
        Err(e) => e,
        Ok(None) => Reply::Set(vec![]),
        Ok(Some(m)) => Reply::Set(members(db, &key.key, &m).into_iter().map(Reply::Bulk).collect()),
    }
}

pub fn srandmember<K: KvRead + ?Sized>(db: &Db<K>, c: &cc::RandMembers) -> Reply {
    let m = match set(db, &c.key) {
        Err(e) => return e,
        Ok(m) => m,
    };
    let mut rng = rand::thread_rng();
    let Some(m) = m else {
        return if c.count.is_some() { Reply::Array(vec![]) } else { Reply::Nil };
    };
    match c.count {
        None => member_at(db, &c.key, &m, rng.gen()).map_or(Reply::Nil, Reply::Bulk),
        // Many, or all distinct ones: pick among them all.
        Some(n) if n.unsigned_abs().saturating_mul(2) >= m.count => {
            let all = members(db, &c.key, &m);
            Reply::Array(rand_pick(&all, n, &mut rng).into_iter().map(|i| Reply::Bulk(all[i].clone())).collect())
        }
        // A few, repeats allowed: a random seek each.
        Some(n) if n < 0 => Reply::Array(
            (0..n.unsigned_abs()).filter_map(|_| member_at(db, &c.key, &m, rng.gen())).map(Reply::Bulk).collect(),
        ),
        // A few distinct ones out of many: random seeks.
        Some(n) => {
            let mut picked = std::collections::BTreeSet::new();
            while (picked.len() as i64) < n {
                if let Some(x) = member_at(db, &c.key, &m, rng.gen()) {
                    picked.insert(x);
                }
            }
            Reply::Array(picked.into_iter().map(Reply::Bulk).collect())
        }
    }
}

/// SPOP: random members chosen with the entry's seed, so every replica
/// removes the same ones; each is one seek to a random hash point.
pub fn spop(a: &mut Apply, cmd: &cc::SPop) -> Reply {
    let mut c = match Coll::existing(a, &cmd.key, DataType::Set) {
        Ok(Some(c)) => c,
        Ok(None) => return if cmd.count.is_some() { Reply::Set(vec![]) } else { Reply::Nil },
        Err(e) => return e,
    };
    let n = cmd.count.unwrap_or(1).min(c.meta.count);
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let point: u32 = a.rng.gen();
        let Some(x) = member_at(&a.db(), &cmd.key, &c.meta, point) else {
            break;
        };
        c.delete(a, &sub(&x));
        c.meta.count -= 1;
        out.push(x);
    }
    let emptied = c.meta.count == 0;
    c.finish(a);
    if !out.is_empty() {
        a.event(notify::SET, "spop", &cmd.key);
    }
    if emptied {
        a.event(notify::GENERIC, "del", &cmd.key);
    }
    match cmd.count {
        None => out.into_iter().next().map_or(Reply::Nil, Reply::Bulk),
        Some(_) => Reply::Set(out.into_iter().map(Reply::Bulk).collect()),
    }
}

pub fn smove(a: &mut Apply, cmd: &cc::SMove) -> Reply {
    let src = match a.db().typed(&cmd.src, DataType::Set) {
        Err(e) => return e,
        Ok(None) => return Reply::Int(0),
        Ok(Some(m)) => m,
    };
    if let Err(e) = a.db().typed(&cmd.dst, DataType::Set) {
        return e;
    }
    if cmd.src == cmd.dst {
        return Reply::Int(is_member(&a.db(), &cmd.src, &src, &cmd.member) as i64);
    }
    let mut s = match Coll::existing(a, &cmd.src, DataType::Set) {
        Ok(Some(c)) => c,
        Ok(None) => return Reply::Int(0),
        Err(e) => return e,
    };
    let msub = sub(&cmd.member);
    if s.get(a, &msub).is_none() {
        return Reply::Int(0);
    }
    s.delete(a, &msub);
    s.meta.count -= 1;
    let emptied = s.meta.count == 0;
    s.finish(a);
    a.event(notify::SET, "srem", &cmd.src);
    if emptied {
        a.event(notify::GENERIC, "del", &cmd.src);
    }
    let mut d = match Coll::open(a, &cmd.dst, DataType::Set) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let added = add_members(a, &mut d, std::slice::from_ref(&cmd.member));
    d.finish(a);
    if added > 0 {
        a.event(notify::SET, "sadd", &cmd.dst);
    }
    Reply::Int(1)
}

/// The result of SINTER/SUNION/SDIFF over `keys` (missing keys are empty).
fn compute<K: KvRead + ?Sized>(db: &Db<K>, op: SetOpKind, keys: &[Bytes]) -> Result<BTreeSet<Bytes>, Reply> {
    let mut sets = Vec::with_capacity(keys.len());
    for k in keys {
        sets.push(match set(db, k)? {
            Some(m) => members(db, k, &m).into_iter().collect::<BTreeSet<_>>(),
            None => BTreeSet::new(),
        });
    }
    let mut it = sets.into_iter();
    let first = it.next().unwrap_or_default();
    Ok(match op {
        SetOpKind::Inter => it.fold(first, |acc, s| acc.intersection(&s).cloned().collect()),
        SetOpKind::Union => it.fold(first, |mut acc, s| {
            acc.extend(s);
            acc
        }),
        SetOpKind::Diff => it.fold(first, |acc, s| acc.difference(&s).cloned().collect()),
    })
}

pub fn setop_read<K: KvRead + ?Sized>(db: &Db<K>, cmd: &cc::SetOp) -> Reply {
    let op = SetOpKind::try_from(cmd.op).unwrap_or(SetOpKind::Inter);
    match compute(db, op, &cmd.keys) {
        Err(e) => e,
        Ok(r) if cmd.card => {
            let n = r.len() as u64;
            Reply::Int(if cmd.limit > 0 { n.min(cmd.limit) } else { n } as i64)
        }
        Ok(r) => Reply::Set(r.into_iter().map(Reply::Bulk).collect()),
    }
}

/// S*STORE: replaces `store` with the result (removing it when empty).
pub fn setop_store(a: &mut Apply, cmd: &cc::SetOp) -> Reply {
    let op = SetOpKind::try_from(cmd.op).unwrap_or(SetOpKind::Inter);
    let result = match compute(&a.db(), op, &cmd.keys) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let dst = cmd.store.clone().expect("a store command");
    let event = match op {
        SetOpKind::Inter => "sinterstore",
        SetOpKind::Union => "sunionstore",
        SetOpKind::Diff => "sdiffstore",
    };
    let items: Vec<Bytes> = result.into_iter().collect();
    let n = items.len() as i64;
    Coll::replace(a, &dst, DataType::Set, items.is_empty(), (notify::SET, event), |a, c| {
        add_members(a, c, &items);
    });
    Reply::Int(n)
}

pub fn sscan<K: KvRead + ?Sized>(db: &Db<K>, c: &cc::ElemScan) -> Reply {
    let m = match set(db, &c.key) {
        Err(e) => return e,
        Ok(None) => return Reply::Array(vec![Reply::bulk("0"), Reply::Array(vec![])]),
        Ok(Some(m)) => m,
    };
    let whole = flags(&m) & FLAG_LARGE == 0;
    let (items, next) = scan_cursor(db, &c.key, &m, b"", c.cursor, c.count, whole);
    let out = items
        .into_iter()
        .map(|(s, _)| s[4..].to_vec())
        .filter(|mbr| c.pattern.as_ref().is_none_or(|p| p.as_ref() == b"*" || glob::matches(p, mbr)))
        .map(Reply::bulk)
        .collect();
    Reply::Array(vec![Reply::bulk(next.to_string()), Reply::Array(out)])
}

pub fn encoding(m: &Meta) -> &'static str {
    if flags(m) & FLAG_LARGE != 0 {
        "hashtable"
    } else {
        "intset"
    }
}
