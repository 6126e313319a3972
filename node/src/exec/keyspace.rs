//! Commands on keys of any type: existence, type, expiry, rename, copy,
//! enumeration (KEYS, SCAN, RANDOMKEY) and flushing.

use super::db::{Apply, Db};
use crate::command::{self as c, ExpireCond};
use crate::glob;
use crate::keys;
use crate::meta::{DataType, Meta};
use crate::notify;
use crate::reply::{err, Reply};
use crate::store::{Cf, KvRead};
use bytes::Bytes;

pub fn exists<K: KvRead + ?Sized>(db: &Db<K>, keys: &[Bytes]) -> Reply {
    Reply::Int(keys.iter().filter(|k| db.meta_header(k).is_some()).count() as i64)
}

pub fn type_of<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8]) -> Reply {
    Reply::Status(db.meta_header(key).map_or("none", |m| m.ty.name()).to_string())
}

pub fn ttl<K: KvRead + ?Sized>(db: &Db<K>, cmd: &c::Ttl) -> Reply {
    let Some(m) = db.meta_header(&cmd.key) else {
        return Reply::Int(-2);
    };
    if m.expire_at == 0 {
        return Reply::Int(-1);
    }
    let v = if cmd.absolute { m.expire_at as i64 } else { (m.expire_at as i64 - db.now as i64).max(0) };
    Reply::Int(if cmd.millis { v } else { (v + 500) / 1000 })
}

pub fn object_encoding<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8]) -> Reply {
    match db.meta(key) {
        None => Reply::Nil,
        Some(m) => Reply::bulk(match m.ty {
            DataType::String => super::strings::string_encoding(&m),
            DataType::Hash => super::hash::encoding(&m),
            // Redis 7.0 lists are quicklists whatever their size.
            DataType::List => "quicklist",
            DataType::Set => super::set::encoding(&m),
            DataType::ZSet => super::zset::encoding(&m),
            DataType::Stream => "stream",
        }),
    }
}

/// OBJECT FREQ, REFCOUNT and IDLETIME: nil for a missing key, as Redis.
/// There is no LFU/LRU eviction here, so no access frequency (Redis' own
/// error when its policy is not LFU) and no access time (an error that says
/// so, rather than a made-up idle time). REFCOUNT answers what Redis does:
/// its shared integers 0..9999 count as INT_MAX, every other value as 1.
pub fn object_info<K: KvRead + ?Sized>(db: &Db<K>, cmd: &c::ObjectInfo) -> Reply {
    let Some(m) = db.meta(&cmd.key) else {
        return Reply::Nil;
    };
    match c::ObjectField::try_from(cmd.field).unwrap_or(c::ObjectField::RefCount) {
        c::ObjectField::Freq => Reply::error(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when \
             switching between policies at runtime LRU and LFU data will take some time to adjust.",
        ),
        c::ObjectField::IdleTime => Reply::Int(crate::access::CLOCK.idle_secs(&cmd.key) as i64),
        c::ObjectField::RefCount => {
            let shared = m.ty == DataType::String
                && m.count == super::strings::Encoding::ByValue as u64
                && super::strings::string_encoding(&m) == "int"
                && crate::num::parse_i64(&m.payload).is_some_and(|v| (0..10_000).contains(&v));
            Reply::Int(if shared { i32::MAX as i64 } else { 1 })
        }
    }
}

/// MEMORY USAGE: the bytes of the records the key is stored as (its
/// metadata record, and its elements': keys and values), the elements
/// estimated from the first `samples` of them as Redis estimates from a
/// sample. (Redis counts its own structures; the figures differ, the use
/// does not: finding the keys that take room.)
pub fn memory_usage<K: KvRead + ?Sized>(db: &Db<K>, cmd: &c::MemoryUsage) -> Reply {
    let Some(m) = db.meta(&cmd.key) else {
        return Reply::Nil;
    };
    let mut total = (keys::meta_key(db.ns, &cmd.key).len() + m.encode().len()) as u64;
    if m.ty != DataType::String && m.count > 0 {
        let prefix = keys::element_prefix(db.ns, &cmd.key, m.version).len() as u64;
        let wanted = if cmd.samples == 0 { u64::MAX } else { cmd.samples };
        let (mut seen, mut bytes) = (0u64, 0u64);
        db.elems(&cmd.key, &m, &mut |sub, value| {
            seen += 1;
            bytes += prefix + sub.len() as u64 + value.len() as u64;
            seen < wanted
        });
        // A sorted set keeps two records per member (by member, by score).
        let records = if m.ty == DataType::ZSet { m.count * 2 } else { m.count };
        if seen > 0 {
            total += (bytes as f64 / seen as f64 * records as f64) as u64;
        }
    }
    Reply::Int(total as i64)
}

fn pattern_filter(pattern: Option<&Bytes>) -> impl Fn(&[u8]) -> bool + '_ {
    move |key: &[u8]| match pattern {
        None => true,
        Some(p) if p.as_ref() == b"*" => true,
        Some(p) => glob::matches(p, key),
    }
}

pub fn keys<K: KvRead + ?Sized>(db: &Db<K>, pattern: &Bytes) -> Vec<Bytes> {
    let matches = pattern_filter(Some(pattern));
    let mut out = Vec::new();
    db.scan_keys(&db.partition_start(), &mut |k, _| {
        let key = keys::meta_user_key(k);
        if matches(key) {
            out.push(Bytes::copy_from_slice(key));
        }
        true
    });
    out
}

/// One step of SCAN within a partition: visits up to `count` keys from
/// `cursor` (never splitting the keys that share a hash), returns the matching
/// ones, the next cursor (`None` when the partition is done) and how many
/// keys it visited.
pub fn scan<K: KvRead + ?Sized>(db: &Db<K>, cmd: &c::Scan) -> (Vec<Bytes>, Option<u64>, u64) {
    let matches = pattern_filter(cmd.pattern.as_ref());
    let want_type = cmd.type_name.as_deref().map(|t| DataType::from_name(t.as_bytes()));
    let start = if cmd.cursor == 0 {
        db.partition_start()
    } else {
        keys::cursor_seek_key(db.ns, cmd.cursor).max(db.partition_start())
    };
    let mut out = Vec::new();
    let mut visited = 0u64;
    let mut last_pos: Option<(u16, u32)> = None;
    let mut next = None;
    db.scan_keys(&start, &mut |k, m| {
        let pos = keys::meta_position(k);
        if visited >= cmd.count.max(1) && Some(pos) != last_pos && keys::cursor_of(pos.0, pos.1) != 0 {
            next = Some(keys::cursor_of(pos.0, pos.1));
            return false;
        }
        visited += 1;
        last_pos = Some(pos);
        let key = keys::meta_user_key(k);
        let type_ok = match want_type {
            None => true,
            Some(t) => t == Some(m.ty),
        };
        if type_ok && matches(key) {
            out.push(Bytes::copy_from_slice(key));
        }
        true
    });
    (out, next, visited)
}

/// A key at or after `cursor` in the partition, wrapping around once.
pub fn random_key<K: KvRead + ?Sized>(db: &Db<K>, cursor: u64) -> Option<Bytes> {
    let mut found = None;
    let from = keys::cursor_seek_key(db.ns, cursor).max(db.partition_start());
    db.scan_keys(&from, &mut |k, _| {
        found = Some(Bytes::copy_from_slice(keys::meta_user_key(k)));
        false
    });
    if found.is_none() {
        db.scan_keys(&db.partition_start(), &mut |k, _| {
            found = Some(Bytes::copy_from_slice(keys::meta_user_key(k)));
            false
        });
    }
    found
}

pub fn del(a: &mut Apply, keys: &[Bytes]) -> Reply {
    let mut n = 0;
    for k in keys {
        if let Some(raw) = a.db().meta_raw(k) {
            let live = !raw.expired(a.now);
            a.remove_key(k, &raw);
            if live {
                n += 1;
                a.event(notify::GENERIC, "del", k);
            } else {
                a.event(notify::EXPIRED, "expired", k);
            }
        }
    }
    Reply::Int(n)
}

pub fn expire(a: &mut Apply, cmd: &c::Expire) -> Reply {
    let Some(m) = a.db().meta(&cmd.key) else {
        return Reply::Int(0);
    };
    let Some(expiry) = cmd.expiry else {
        return Reply::error(err::SYNTAX);
    };
    let at = expiry.at(a.now);
    let cur = m.expire_at;
    let ok = match ExpireCond::try_from(cmd.cond).unwrap_or(ExpireCond::Always) {
        ExpireCond::Always => true,
        ExpireCond::Nx => cur == 0,
        ExpireCond::Xx => cur != 0,
        // No expiry counts as infinite.
        ExpireCond::Gt => cur != 0 && at > cur as i64,
        ExpireCond::Lt => cur == 0 || at < cur as i64,
    };
    if !ok {
        return Reply::Int(0);
    }
    a.set_expiry(&cmd.key, &m, Some(at));
    a.event(notify::GENERIC, if at <= a.now as i64 { "del" } else { "expire" }, &cmd.key);
    Reply::Int(1)
}

pub fn persist(a: &mut Apply, key: &[u8]) -> Reply {
    match a.db().meta(key) {
        Some(m) if m.expire_at != 0 => {
            a.set_expiry(key, &m, None);
            a.event(notify::GENERIC, "persist", key);
            Reply::Int(1)
        }
        _ => Reply::Int(0),
    }
}

/// Writes `src`'s value under `dst` (replacing whatever is there), keeping
/// its TTL. Collections get a fresh version with their elements copied.
/// Redis deletes a live destination first and adds the key anew, so the
/// destination is a new key either way.
fn copy_value(a: &mut Apply, src: &[u8], src_meta: &Meta, dst: &[u8]) {
    let old_dst = a.db().meta_raw(dst);
    if old_dst.as_ref().is_some_and(|o| !o.expired(a.now)) {
        a.event(notify::NEW, "new", dst);
    }
    let mut m = src_meta.clone();
    if m.ty != DataType::String {
        let version = a.version();
        super::collections::copy_elements(a, src, src_meta, dst, version);
        m.version = version;
    }
    a.put_meta(dst, m, old_dst.as_ref());
}

pub fn rename(a: &mut Apply, cmd: &c::Rename) -> Reply {
    let Some(m) = a.db().meta(&cmd.src) else {
        return Reply::error(err::NO_SUCH_KEY);
    };
    if cmd.src == cmd.dst {
        return if cmd.nx { Reply::Int(0) } else { Reply::Ok };
    }
    if cmd.nx && a.db().meta(&cmd.dst).is_some() {
        return Reply::Int(0);
    }
    copy_value(a, &cmd.src, &m, &cmd.dst);
    a.remove_key(&cmd.src, &m);
    a.event(notify::GENERIC, "rename_from", &cmd.src);
    a.event(notify::GENERIC, "rename_to", &cmd.dst);
    if cmd.nx {
        Reply::Int(1)
    } else {
        Reply::Ok
    }
}

pub fn copy(a: &mut Apply, cmd: &c::Copy) -> Reply {
    if cmd.src == cmd.dst {
        return Reply::error(err::SAME_OBJECT);
    }
    let Some(m) = a.db().meta(&cmd.src) else {
        return Reply::Int(0);
    };
    if !cmd.replace && a.db().meta(&cmd.dst).is_some() {
        return Reply::Int(0);
    }
    let mut m = m;
    if m.ty == DataType::String && m.count == super::strings::Encoding::ByValue as u64 {
        m.count = super::strings::Encoding::Copied as u64;
    }
    copy_value(a, &cmd.src, &m, &cmd.dst);
    a.event(notify::GENERIC, "copy_to", &cmd.dst);
    Reply::Int(1)
}

/// FLUSHDB/FLUSHALL of this partition: range deletions of its slots in every
/// data column family (the same on every replica).
pub fn flush(a: &mut Apply) -> Reply {
    let from = keys::slot_start(a.ns, a.slots.0);
    let to = keys::slot_start(a.ns, a.slots.1);
    for cf in [Cf::Meta, Cf::Data, Cf::Expire, Cf::Gc] {
        a.kv.delete_range(cf, &from, &to);
    }
    a.counters.keys = 0;
    a.counters.expires = 0;
    Reply::Ok
}

pub fn expire_if_stale(a: &mut Apply, cmd: &c::ExpireIfStale) -> Reply {
    match a.db().meta_raw(&cmd.key) {
        Some(m) if m.expire_at == cmd.expire_at && m.expired(a.now) => {
            a.remove_key(&cmd.key, &m);
            a.event(notify::EXPIRED, "expired", &cmd.key);
        }
        Some(m) if m.expire_at == cmd.expire_at => {}
        _ => {
            // The index entry outlived its key's expiry (it changed): drop it.
            a.kv.delete(Cf::Expire, &keys::expire_key(a.ns, &cmd.key, cmd.expire_at));
        }
    }
    Reply::Ok
}
