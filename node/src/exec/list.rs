//! The list family. Elements are keyed by position (u64, big-endian) in
//! `[head, tail)`, both kept in the metadata payload after the flags byte;
//! pushes and pops at either end touch one element and the metadata.
//! LREM and LINSERT rewrite the positions after the change (O(N), as in Redis).

use super::collections::{scan_elems, Coll};
use super::db::{Apply, Db};
use crate::coll_cmds as cc;
use crate::meta::{DataType, Meta};
use crate::notify;
use crate::reply::{err, Reply};
use crate::store::KvRead;
use bytes::Bytes;

fn bounds(m: &Meta) -> (u64, u64) {
    let p = &m.payload;
    (u64::from_be_bytes(p[1..9].try_into().unwrap()), u64::from_be_bytes(p[9..17].try_into().unwrap()))
}

fn set_bounds(c: &mut Coll, head: u64, tail: u64) {
    c.meta.payload[1..9].copy_from_slice(&head.to_be_bytes());
    c.meta.payload[9..17].copy_from_slice(&tail.to_be_bytes());
    c.meta.count = tail - head;
    c.changed = true;
}

fn list<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8]) -> Result<Option<Meta>, Reply> {
    db.typed(key, DataType::List)
}

/// Elements at positions `[from, to)` (absolute), in order.
fn range<K: KvRead + ?Sized>(kv: &K, ns: u32, key: &[u8], m: &Meta, from: u64, to: u64) -> Vec<Bytes> {
    let mut out = Vec::new();
    if from >= to {
        return out;
    }
    scan_elems(kv, ns, key, m.version, &from.to_be_bytes(), Some(&to.to_be_bytes()), false, &mut |_, v| {
        out.push(Bytes::copy_from_slice(v));
        true
    });
    out
}

/// Every element, head first.
pub fn all<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta) -> Vec<Bytes> {
    let (head, tail) = bounds(m);
    range(db.kv, db.ns, key, m, head, tail)
}

/// Writes a new list of `values` at `dst`, replacing anything there (the
/// key goes when `values` is empty), firing `event` (of the list class).
pub fn store(a: &mut Apply, dst: &Bytes, values: &[Bytes], event: &str) {
    Coll::replace(a, dst, DataType::List, values.is_empty(), (notify::LIST, event), |a, c| {
        push_values(a, c, values, false)
    });
}

/// Redis' start/stop normalization: negative from the end, clamped.
/// `None` when the range is empty.
fn normalize(start: i64, stop: i64, len: i64) -> Option<(u64, u64)> {
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if stop < 0 { len + stop } else { stop };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= len {
        return None;
    }
    if e >= len {
        e = len - 1;
    }
    Some((s as u64, e as u64))
}

fn push_values(a: &mut Apply, c: &mut Coll, values: &[Bytes], left: bool) {
    let (mut head, mut tail) = bounds(&c.meta);
    for v in values {
        if left {
            head -= 1;
            c.put(a, &head.to_be_bytes(), v);
        } else {
            c.put(a, &tail.to_be_bytes(), v);
            tail += 1;
        }
    }
    set_bounds(c, head, tail);
}

pub fn push(a: &mut Apply, cmd: &cc::Push) -> Reply {
    let c = if cmd.xx {
        Coll::existing(a, &cmd.key, DataType::List)
    } else {
        Coll::open(a, &cmd.key, DataType::List).map(Some)
    };
    let mut c = match c {
        Ok(Some(c)) => c,
        Ok(None) => return Reply::Int(0),
        Err(e) => return e,
    };
    push_values(a, &mut c, &cmd.values, cmd.left);
    let n = c.meta.count as i64;
    c.finish(a);
    a.event(notify::LIST, push_event(cmd.left), &cmd.key);
    Reply::Int(n)
}

fn push_event(left: bool) -> &'static str {
    if left {
        "lpush"
    } else {
        "rpush"
    }
}

/// Writes the list after a pop of `popped` elements and fires Redis'
/// events: the pop, and `del` when it emptied the list.
fn finish_pop(a: &mut Apply, c: Coll, left: bool, popped: usize) {
    let emptied = c.meta.count == 0;
    let key = c.key.clone();
    c.finish(a);
    pop_events(a, &key, left, popped, emptied);
}

fn pop_events(a: &mut Apply, key: &[u8], left: bool, popped: usize, emptied: bool) {
    if popped > 0 {
        a.event(notify::LIST, if left { "lpop" } else { "rpop" }, key);
    }
    if emptied {
        a.event(notify::GENERIC, "del", key);
    }
}

/// Takes up to `n` elements from one end.
fn pop_n(a: &mut Apply, c: &mut Coll, left: bool, n: u64) -> Vec<Bytes> {
    let (head, tail) = bounds(&c.meta);
    let n = n.min(tail - head);
    let (from, to) = if left { (head, head + n) } else { (tail - n, tail) };
    let mut items = range(a.kv, a.ns, &c.key, &c.meta, from, to);
    for pos in from..to {
        c.delete(a, &pos.to_be_bytes());
    }
    if left {
        set_bounds(c, head + n, tail);
    } else {
        items.reverse();
        set_bounds(c, head, tail - n);
    }
    items
}

pub fn pop(a: &mut Apply, cmd: &cc::Pop) -> Reply {
    let mut c = match Coll::existing(a, &cmd.key, DataType::List) {
        Ok(Some(c)) => c,
        Ok(None) => return if cmd.count.is_some() { Reply::NilArray } else { Reply::Nil },
        Err(e) => return e,
    };
    // A count of 0 changes nothing (no WATCH fires, no cache is told), as
    // Redis' fast exit.
    if cmd.count == Some(0) {
        return Reply::Array(vec![]);
    }
    let items = pop_n(a, &mut c, cmd.left, cmd.count.unwrap_or(1));
    finish_pop(a, c, cmd.left, items.len());
    match cmd.count {
        None => items.into_iter().next().map_or(Reply::Nil, Reply::Bulk),
        Some(_) => Reply::Array(items.into_iter().map(Reply::Bulk).collect()),
    }
}

fn position(m: &Meta, index: i64) -> Option<u64> {
    let (head, _) = bounds(m);
    let len = m.count as i64;
    let i = if index < 0 { len + index } else { index };
    (0..len).contains(&i).then(|| head + i as u64)
}

pub fn lindex<K: KvRead + ?Sized>(db: &Db<K>, c: &cc::KeyIndex) -> Reply {
    match list(db, &c.key) {
        Err(e) => e,
        Ok(None) if c.lset => Reply::error(err::NO_SUCH_KEY),
        Ok(None) => Reply::Nil,
        Ok(Some(_)) if c.not_integer => Reply::error(err::NOT_INTEGER),
        Ok(Some(m)) => match position(&m, c.index) {
            None => Reply::Nil,
            Some(p) => Reply::bulk_or_nil(db.elem(&c.key, &m, &p.to_be_bytes())),
        },
    }
}

pub fn lset(a: &mut Apply, cmd: &cc::LSet) -> Reply {
    let mut c = match Coll::existing(a, &cmd.key, DataType::List) {
        Ok(Some(c)) => c,
        Ok(None) => return Reply::error(err::NO_SUCH_KEY),
        Err(e) => return e,
    };
    let Some(p) = position(&c.meta, cmd.index) else {
        return Reply::error("ERR index out of range");
    };
    c.put(a, &p.to_be_bytes(), &cmd.value);
    c.finish(a);
    a.event(notify::LIST, "lset", &cmd.key);
    Reply::Ok
}

pub fn lrange<K: KvRead + ?Sized>(db: &Db<K>, c: &cc::KeyRange) -> Reply {
    match list(db, &c.key) {
        Err(e) => e,
        Ok(None) => Reply::Array(vec![]),
        Ok(Some(m)) => match normalize(c.start, c.stop, m.count as i64) {
            None => Reply::Array(vec![]),
            Some((s, e)) => {
                let (head, _) = bounds(&m);
                Reply::Array(
                    range(db.kv, db.ns, &c.key, &m, head + s, head + e + 1).into_iter().map(Reply::Bulk).collect(),
                )
            }
        },
    }
}

pub fn ltrim(a: &mut Apply, cmd: &cc::KeyRange) -> Reply {
    let mut c = match Coll::existing(a, &cmd.key, DataType::List) {
        Ok(Some(c)) => c,
        Ok(None) => return Reply::Ok,
        Err(e) => return e,
    };
    let (head, tail) = bounds(&c.meta);
    let (keep_from, keep_to) = match normalize(cmd.start, cmd.stop, c.meta.count as i64) {
        None => (tail, tail),
        Some((s, e)) => (head + s, head + e + 1),
    };
    for pos in (head..keep_from).chain(keep_to..tail) {
        c.delete(a, &pos.to_be_bytes());
    }
    if keep_from == keep_to {
        set_bounds(&mut c, head, head);
    } else {
        set_bounds(&mut c, keep_from, keep_to);
    }
    let emptied = c.meta.count == 0;
    c.finish(a);
    a.event(notify::LIST, "ltrim", &cmd.key);
    if emptied {
        a.event(notify::GENERIC, "del", &cmd.key);
    }
    Reply::Ok
}

/// Replaces the elements from index `from` on with `items` (LREM, LINSERT).
fn rewrite_from(a: &mut Apply, c: &mut Coll, from: u64, items: &[Bytes]) {
    let (head, tail) = bounds(&c.meta);
    for pos in head + from..tail {
        c.delete(a, &pos.to_be_bytes());
    }
    for (i, v) in items.iter().enumerate() {
        c.put(a, &(head + from + i as u64).to_be_bytes(), v);
    }
    set_bounds(c, head, head + from + items.len() as u64);
}

/// The live list at `key` and all its items (LREM and LINSERT rewrite them).
fn whole_list(a: &mut Apply, key: &Bytes) -> Result<Option<(Coll, Vec<Bytes>)>, Reply> {
    let Some(c) = Coll::existing(a, key, DataType::List)? else { return Ok(None) };
    let (head, tail) = bounds(&c.meta);
    let items = range(a.kv, a.ns, key, &c.meta, head, tail);
    Ok(Some((c, items)))
}

pub fn lrem(a: &mut Apply, cmd: &cc::LRem) -> Reply {
    let (mut c, items) = match whole_list(a, &cmd.key) {
        Ok(Some(l)) => l,
        Ok(None) => return Reply::Int(0),
        Err(e) => return e,
    };
    let mut drop = vec![false; items.len()];
    let mut removed = 0i64;
    let limit = cmd.count.unsigned_abs() as i64;
    let order: Box<dyn Iterator<Item = usize>> =
        if cmd.count < 0 { Box::new((0..items.len()).rev()) } else { Box::new(0..items.len()) };
    for i in order {
        if items[i] == cmd.value && (limit == 0 || removed < limit) {
            drop[i] = true;
            removed += 1;
        }
    }
    if removed > 0 {
        let first = drop.iter().position(|d| *d).unwrap() as u64;
        let kept: Vec<Bytes> =
            items.iter().zip(&drop).skip(first as usize).filter(|(_, d)| !**d).map(|(v, _)| v.clone()).collect();
        rewrite_from(a, &mut c, first, &kept);
    }
    let emptied = c.meta.count == 0;
    c.finish(a);
    if removed > 0 {
        a.event(notify::LIST, "lrem", &cmd.key);
    }
    if emptied {
        a.event(notify::GENERIC, "del", &cmd.key);
    }
    Reply::Int(removed)
}

pub fn linsert(a: &mut Apply, cmd: &cc::LInsert) -> Reply {
    let (mut c, items) = match whole_list(a, &cmd.key) {
        Ok(Some(l)) => l,
        Ok(None) => return Reply::Int(0),
        Err(e) => return e,
    };
    let Some(p) = items.iter().position(|v| *v == cmd.pivot) else {
        return Reply::Int(-1);
    };
    let at = if cmd.before { p } else { p + 1 };
    let mut rest = vec![cmd.value.clone()];
    rest.extend_from_slice(&items[at..]);
    rewrite_from(a, &mut c, at as u64, &rest);
    let n = c.meta.count as i64;
    c.finish(a);
    a.event(notify::LIST, "linsert", &cmd.key);
    Reply::Int(n)
}

/// LPOS key element [RANK rank] [COUNT num] [MAXLEN len]
pub fn lpos<K: KvRead + ?Sized>(db: &Db<K>, c: &cc::LPos) -> Reply {
    let m = match list(db, &c.key) {
        Err(e) => return e,
        Ok(None) => return if c.count.is_some() { Reply::Array(vec![]) } else { Reply::Nil },
        Ok(Some(m)) => m,
    };
    let (head, tail) = bounds(&m);
    let items = range(db.kv, db.ns, &c.key, &m, head, tail);
    let n = items.len();
    let want = match c.count {
        Some(0) => usize::MAX,
        Some(k) => k as usize,
        None => 1,
    };
    let mut skip = c.rank.unsigned_abs() as usize - 1;
    let maxlen = if c.maxlen == 0 { n } else { (c.maxlen as usize).min(n) };
    let mut found = Vec::new();
    for step in 0..maxlen {
        let i = if c.rank < 0 { n - 1 - step } else { step };
        if items[i] == c.element {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            found.push(i as i64);
            if found.len() >= want {
                break;
            }
        }
    }
    match c.count {
        None => found.first().map_or(Reply::Nil, |i| Reply::Int(*i)),
        Some(_) => Reply::Array(found.into_iter().map(Reply::Int).collect()),
    }
}

pub fn lmove(a: &mut Apply, cmd: &cc::LMove) -> Reply {
    // Redis looks at the source first, then the destination's type.
    let mut src = match Coll::existing(a, &cmd.src, DataType::List) {
        Ok(Some(c)) => c,
        Ok(None) => return Reply::Nil,
        Err(e) => return e,
    };
    if cmd.src != cmd.dst {
        if let Err(e) = a.db().typed(&cmd.dst, DataType::List) {
            return e;
        }
    }
    let item = pop_n(a, &mut src, cmd.from_left, 1).pop().expect("non-empty list");
    // Redis pushes before it announces the pop.
    let emptied = if cmd.src == cmd.dst {
        push_values(a, &mut src, std::slice::from_ref(&item), cmd.to_left);
        src.finish(a);
        false
    } else {
        let emptied = src.meta.count == 0;
        src.finish(a);
        let mut dst = match Coll::open(a, &cmd.dst, DataType::List) {
            Ok(c) => c,
            Err(e) => return e,
        };
        push_values(a, &mut dst, std::slice::from_ref(&item), cmd.to_left);
        dst.finish(a);
        emptied
    };
    a.event(notify::LIST, push_event(cmd.to_left), &cmd.dst);
    pop_events(a, &cmd.src, cmd.from_left, 1, emptied);
    Reply::Bulk(item)
}

/// LMPOP (shape 0) and BLPOP/BRPOP (shape 1): pop from the first non-empty list.
pub fn lmpop(a: &mut Apply, cmd: &cc::MPop) -> Reply {
    for key in &cmd.keys {
        let mut c = match Coll::existing(a, key, DataType::List) {
            Ok(Some(c)) => c,
            Ok(None) => continue,
            Err(e) => return e,
        };
        let items = pop_n(a, &mut c, cmd.left, cmd.count.max(1));
        finish_pop(a, c, cmd.left, items.len());
        return if cmd.shape == 1 {
            Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Bulk(items.into_iter().next().unwrap())])
        } else {
            Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Array(items.into_iter().map(Reply::Bulk).collect())])
        };
    }
    Reply::NilArray
}
