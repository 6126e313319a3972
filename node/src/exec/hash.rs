//! The hash family: one element per field (sub = field, value = value).

use super::collections::{scan_cursor, Coll, FLAG_LARGE, HASH_LISTPACK_MAX_ENTRIES, LISTPACK_MAX_VALUE};
use super::db::{Apply, Db};
use super::rand_pick;
use crate::coll_cmds as cc;
use crate::command::{Key, KeyValue};
use crate::glob;
use crate::ldouble::F80;
use crate::meta::{DataType, Meta};
use crate::notify;
use crate::num::parse_i64;
use crate::reply::{err, Reply};
use crate::store::KvRead;
use bytes::Bytes;

fn hash<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8]) -> Result<Option<Meta>, Reply> {
    db.typed(key, DataType::Hash)
}

/// Every field and value.
pub fn all<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &Meta) -> Vec<(Bytes, Bytes)> {
    let mut out = Vec::with_capacity(m.count as usize);
    db.elems(key, m, &mut |f, v| {
        out.push((Bytes::copy_from_slice(f), Bytes::copy_from_slice(v)));
        true
    });
    out
}

fn note_size(c: &mut Coll, field: &[u8], value: &[u8]) {
    if field.len() > LISTPACK_MAX_VALUE || value.len() > LISTPACK_MAX_VALUE || c.meta.count > HASH_LISTPACK_MAX_ENTRIES
    {
        c.set_flag(FLAG_LARGE);
    }
}

pub fn hset(a: &mut Apply, cmd: &cc::HSet) -> Reply {
    let mut c = match Coll::open(a, &cmd.key, DataType::Hash) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let mut added = 0;
    for KeyValue { key: field, value } in &cmd.pairs {
        let existed = c.get(a, field).is_some();
        if cmd.nx && existed {
            continue;
        }
        c.put(a, field, value);
        if !existed {
            c.meta.count += 1;
            added += 1;
        }
        note_size(&mut c, field, value);
    }
    c.finish(a);
    if !cmd.nx || added > 0 {
        a.event(notify::HASH, "hset", &cmd.key);
    }
    if cmd.ok_reply {
        Reply::Ok
    } else {
        Reply::Int(added)
    }
}

pub fn hget<K: KvRead + ?Sized>(db: &Db<K>, c: &cc::KeyField) -> Reply {
    match hash(db, &c.key) {
        Err(e) => e,
        Ok(None) => Reply::Nil,
        Ok(Some(m)) => Reply::bulk_or_nil(db.elem(&c.key, &m, &c.field)),
    }
}

pub fn hmget<K: KvRead + ?Sized>(db: &Db<K>, c: &cc::KeyFields) -> Reply {
    match hash(db, &c.key) {
        Err(e) => e,
        Ok(m) => Reply::Array(
            c.fields.iter().map(|f| Reply::bulk_or_nil(m.as_ref().and_then(|m| db.elem(&c.key, m, f)))).collect(),
        ),
    }
}

pub fn hgetall<K: KvRead + ?Sized>(db: &Db<K>, key: &Key) -> Reply {
    match hash(db, &key.key) {
        Err(e) => e,
        Ok(None) => Reply::Map(vec![]),
        Ok(Some(m)) => {
            Reply::Map(all(db, &key.key, &m).into_iter().map(|(f, v)| (Reply::Bulk(f), Reply::Bulk(v))).collect())
        }
    }
}

pub fn hkeys_or_vals<K: KvRead + ?Sized>(db: &Db<K>, key: &Key, keys: bool) -> Reply {
    match hash(db, &key.key) {
        Err(e) => e,
        Ok(None) => Reply::Array(vec![]),
        Ok(Some(m)) => Reply::Array(
            all(db, &key.key, &m).into_iter().map(|(f, v)| Reply::Bulk(if keys { f } else { v })).collect(),
        ),
    }
}

pub fn hdel(a: &mut Apply, cmd: &cc::KeyFields) -> Reply {
    let mut c = match Coll::existing(a, &cmd.key, DataType::Hash) {
        Ok(Some(c)) => c,
        Ok(None) => return Reply::Int(0),
        Err(e) => return e,
    };
    let mut removed = 0;
    for f in &cmd.fields {
        if c.get(a, f).is_some() {
            c.delete(a, f);
            c.meta.count -= 1;
            removed += 1;
        }
    }
    let emptied = removed > 0 && c.meta.count == 0;
    c.finish(a);
    if removed > 0 {
        a.event(notify::HASH, "hdel", &cmd.key);
    }
    if emptied {
        a.event(notify::GENERIC, "del", &cmd.key);
    }
    Reply::Int(removed)
}

pub fn hstrlen<K: KvRead + ?Sized>(db: &Db<K>, c: &cc::KeyField) -> Reply {
    match hash(db, &c.key) {
        Err(e) => e,
        Ok(m) => Reply::Int(m.and_then(|m| db.elem(&c.key, &m, &c.field)).map_or(0, |v| v.len() as i64)),
    }
}

pub fn hexists<K: KvRead + ?Sized>(db: &Db<K>, c: &cc::KeyField) -> Reply {
    match hash(db, &c.key) {
        Err(e) => e,
        Ok(m) => Reply::Int(m.and_then(|m| db.elem(&c.key, &m, &c.field)).is_some() as i64),
    }
}

/// Changes one field's value with `f` (HINCRBY, HINCRBYFLOAT, firing
/// `event`).
fn modify_field(
    a: &mut Apply,
    key: &Bytes,
    field: &[u8],
    event: &str,
    f: impl FnOnce(Option<&[u8]>) -> Result<(Vec<u8>, Reply), Reply>,
) -> Reply {
    let mut c = match Coll::open(a, key, DataType::Hash) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let old = c.get(a, field);
    let (value, reply) = match f(old.as_deref()) {
        Ok(x) => x,
        Err(e) => return e,
    };
    c.put(a, field, &value);
    if old.is_none() {
        c.meta.count += 1;
    }
    note_size(&mut c, field, &value);
    c.finish(a);
    a.event(notify::HASH, event, key);
    reply
}

pub fn hincrby(a: &mut Apply, cmd: &cc::HIncrBy) -> Reply {
    modify_field(a, &cmd.key, &cmd.field, "hincrby", |old| {
        let cur = match old {
            Some(v) => parse_i64(v).ok_or_else(|| Reply::error("ERR hash value is not an integer"))?,
            None => 0,
        };
        let n = cur.checked_add(cmd.delta).ok_or_else(|| Reply::error(err::OVERFLOW))?;
        Ok((n.to_string().into_bytes(), Reply::Int(n)))
    })
}

pub fn hincrbyfloat(a: &mut Apply, cmd: &cc::HIncrByFloat) -> Reply {
    modify_field(a, &cmd.key, &cmd.field, "hincrbyfloat", |old| {
        let cur = match old {
            Some(v) => F80::parse(v).ok_or_else(|| Reply::error("ERR hash value is not a float"))?,
            None => F80::Zero { neg: false },
        };
        let delta = F80::parse(&cmd.delta).ok_or_else(|| Reply::error(err::NOT_FLOAT))?;
        let sum = cur.add(&delta).filter(|s| s.is_finite()).ok_or_else(|| Reply::error(err::NAN_OR_INF))?;
        let s = sum.to_human_string();
        Ok((s.clone().into_bytes(), Reply::bulk(s)))
    })
}

/// HRANDFIELD key [count [WITHVALUES]]
pub fn hrandfield<K: KvRead + ?Sized>(db: &Db<K>, c: &cc::RandMembers) -> Reply {
    let m = match hash(db, &c.key) {
        Err(e) => return e,
        Ok(m) => m,
    };
    let Some(count) = c.count else {
        return match m {
            None => Reply::Nil,
            Some(m) => {
                let items = all(db, &c.key, &m);
                rand_pick(&items, 1, &mut rand::thread_rng())
                    .into_iter()
                    .next()
                    .map_or(Reply::Nil, |i| Reply::Bulk(items[i].0.clone()))
            }
        };
    };
    let Some(m) = m else {
        return Reply::Array(vec![]);
    };
    let items = all(db, &c.key, &m);
    let picks = rand_pick(&items, count, &mut rand::thread_rng());
    if c.with_values {
        Reply::Pairs(
            picks.into_iter().map(|i| (Reply::Bulk(items[i].0.clone()), Reply::Bulk(items[i].1.clone()))).collect(),
        )
    } else {
        Reply::Array(picks.into_iter().map(|i| Reply::Bulk(items[i].0.clone())).collect())
    }
}

pub fn hscan<K: KvRead + ?Sized>(db: &Db<K>, c: &cc::ElemScan) -> Reply {
    let m = match hash(db, &c.key) {
        Err(e) => return e,
        Ok(None) => return Reply::Array(vec![Reply::bulk("0"), Reply::Array(vec![])]),
        Ok(Some(m)) => m,
    };
    let whole = super::collections::flags(&m) & FLAG_LARGE == 0;
    let (items, next) = scan_cursor(db, &c.key, &m, b"", c.cursor, c.count, whole);
    let mut out = Vec::new();
    for (f, v) in items {
        if c.pattern.as_ref().is_none_or(|p| p.as_ref() == b"*" || glob::matches(p, &f)) {
            out.push(Reply::bulk(f));
            out.push(Reply::bulk(v));
        }
    }
    Reply::Array(vec![Reply::bulk(next.to_string()), Reply::Array(out)])
}

pub fn encoding(m: &Meta) -> &'static str {
    if super::collections::flags(m) & FLAG_LARGE != 0 {
        "hashtable"
    } else {
        "listpack"
    }
}
