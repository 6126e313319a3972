//! DUMP and RESTORE: a key's value as Redis' serialized payload, and back
//! (the payload format is in [`crate::rdb`]).

use super::db::{Apply, Db};
use super::{hash, list, set, strings, zset};
use crate::coll_cmds as cc;
use crate::command::{self as c, KeyValue};
use crate::meta::DataType;
use crate::notify;
use crate::rdb::{self, Value};
use crate::reply::{err, Reply};
use crate::store::KvRead;
use bytes::Bytes;

pub fn dump<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8]) -> Reply {
    let Some(m) = db.meta(key) else {
        return Reply::Nil;
    };
    Reply::bulk(rdb::encode(&value(db, key, &m)))
}

/// The value of `key` (whose metadata is `m`), as DUMP and SAVE write it.
pub fn value<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], m: &crate::meta::Meta) -> Value {
    match m.ty {
        DataType::String => Value::String(m.payload.clone().into()),
        DataType::List => Value::List(list::all(db, key, m)),
        DataType::Set => Value::Set(set::members(db, key, m)),
        DataType::Hash => Value::Hash(hash::all(db, key, m)),
        DataType::ZSet => Value::ZSet(zset::input(db, key).unwrap_or_default()),
        DataType::Stream => Value::Stream(Box::new(super::stream_group::dump(db, key, m))),
    }
}

/// A RESTORE whose TTL or payload did not parse, without REPLACE: Redis
/// checks the key first.
pub fn refused<K: KvRead + ?Sized>(db: &Db<K>, cmd: &c::Restore) -> Reply {
    if db.meta(&cmd.key).is_some() {
        return Reply::error(err::BUSYKEY);
    }
    Reply::error(cmd.refused.clone().unwrap_or_default())
}

pub fn restore(a: &mut Apply, cmd: &c::Restore) -> Reply {
    let old = a.live_or_reap(&cmd.key);
    if old.is_some() && !cmd.replace {
        return Reply::error(err::BUSYKEY);
    }
    if let Some(e) = &cmd.refused {
        return Reply::error(e.clone());
    }
    let Some(value) = cmd.value.as_ref().and_then(|v| v.value()) else {
        return Reply::error(rdb::DecodeError::BadFormat.message());
    };
    let at = cmd.expiry.map(|e| e.at(a.now));
    if let Some(o) = &old {
        a.remove_key(&cmd.key, o);
    }
    // Already expired: Redis deletes the old key and creates nothing.
    if at.is_some_and(|at| at <= a.now as i64) {
        if old.is_some() {
            a.event(notify::GENERIC, "del", &cmd.key);
        }
        return Reply::Ok;
    }
    a.without_events(|a| build(a, cmd.key.clone(), value, at));
    if let Some(secs) = cmd.idle_secs {
        crate::access::CLOCK.set_idle(&cmd.key, secs);
    }
    // A new key (Redis deletes what was there first), restored.
    a.event(notify::NEW, "new", &cmd.key);
    a.event(notify::GENERIC, "restore", &cmd.key);
    Reply::Ok
}

/// Writes a restored value as the commands that build such a value would
/// write it, so that the encoding it reports is the one Redis reports after
/// a RESTORE.
fn build(a: &mut Apply, key: Bytes, value: Value, at: Option<i64>) {
    match value {
        Value::String(s) => {
            strings::write_string(a, &key, s.to_vec(), at, strings::Encoding::ByValue, None);
            return;
        }
        Value::List(values) => list::push(a, &cc::Push { key: key.clone(), values, left: false, xx: false }),
        Value::Set(members) => set::sadd(a, &cc::KeyMembers { key: key.clone(), members }),
        Value::Hash(pairs) => {
            let pairs = pairs.into_iter().map(|(key, value)| KeyValue { key, value }).collect();
            hash::hset(a, &cc::HSet { key: key.clone(), pairs, nx: false, ok_reply: true })
        }
        Value::ZSet(pairs) => {
            let pairs = pairs.into_iter().map(|(member, s)| cc::ScoreMember { score: Some(s), member }).collect();
            zset::zadd(a, &cc::ZAdd { key: key.clone(), pairs, ..Default::default() })
        }
        Value::Stream(s) => {
            super::stream_group::restore(a, &key, &s);
            Reply::Ok
        }
    };
    if let (Some(at), Some(m)) = (at, a.db().meta_raw(&key)) {
        a.set_expiry(&key, &m, Some(at));
    }
}
