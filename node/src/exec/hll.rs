//! PFADD, PFCOUNT and PFMERGE over sketches kept as string values in Redis'
//! representation (see [`crate::hll`]), with Redis' replies, errors and
//! changes of the stored bytes.

use super::db::{Apply, Db};
use super::strings::finish_in_place;
use crate::coll_cmds as cc;
use crate::command as c;
use crate::hll::{self, REGISTERS};
use crate::meta::{DataType, Meta};
use crate::notify;
use crate::reply::{err, Reply};
use crate::store::KvRead;
use bytes::Bytes;

const NOT_A_SKETCH: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";

/// The live sketch at `key`: None when absent; WRONGTYPE for another type
/// or a string that is no sketch.
fn sketch_at<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8]) -> Result<Option<Meta>, Reply> {
    match db.meta(key) {
        None => Ok(None),
        Some(m) if m.ty != DataType::String => Err(Reply::error(err::WRONGTYPE)),
        Some(m) if !hll::is_sketch(&m.payload) => Err(Reply::error(NOT_A_SKETCH)),
        Some(m) => Ok(Some(m)),
    }
}

/// The raw record of `key` and its live sketch (see [`sketch_at`]).
fn sketch_for_write(a: &Apply, key: &[u8]) -> Result<(Option<Meta>, Option<Meta>), Reply> {
    let db = a.db();
    Ok((db.meta_raw(key), sketch_at(&db, key)?))
}

/// The registers of the union of the sketches at `keys` (absent ones are
/// empty), and whether one of them is dense.
fn union<K: KvRead + ?Sized>(db: &Db<K>, keys: &[&Bytes]) -> Result<(Vec<u8>, bool), Reply> {
    let mut max = vec![0u8; REGISTERS];
    let mut dense = false;
    for k in keys {
        if let Some(m) = sketch_at(db, k)? {
            dense |= hll::is_dense(&m.payload);
            hll::merge_into(&mut max, &m.payload).map_err(|_| Reply::error(CORRUPT))?;
        }
    }
    Ok((max, dense))
}

/// PFADD key [element ...]: 1 when the key was created or a register rose.
pub fn pfadd(a: &mut Apply, cmd: &cc::KeyMembers) -> Reply {
    let (old, live) = match sketch_for_write(a, &cmd.key) {
        Ok(found) => found,
        Err(e) => return e,
    };
    let (mut v, mut updated) = match &live {
        Some(m) => (m.payload.clone(), false),
        None => (hll::new_sketch(), true),
    };
    for e in &cmd.members {
        match hll::add(&mut v, e) {
            Ok(rose) => updated |= rose,
            Err(hll::Corrupt) => {
                // Redis keeps what the elements before did, unsignalled.
                finish_in_place(a, &cmd.key, v, false, old.as_ref(), live.as_ref());
                return Reply::error(CORRUPT);
            }
        }
    }
    if updated {
        hll::invalidate_cache(&mut v);
    }
    finish_in_place(a, &cmd.key, v, updated, old.as_ref(), live.as_ref());
    if updated {
        a.event(notify::STRING, "pfadd", &cmd.key);
    }
    Reply::Int(updated as i64)
}

/// PFCOUNT key: the cached count, or a fresh one that is then cached in the
/// sketch (a change of the key, as in Redis).
pub fn pfcount(a: &mut Apply, key: &[u8]) -> Reply {
    let (old, m) = match sketch_for_write(a, key) {
        Ok((_, None)) => return Reply::Int(0),
        Ok((old, Some(m))) => (old, m),
        Err(e) => return e,
    };
    let mut v = m.payload.clone();
    let (n, fresh) = match hll::cached_count(&v) {
        Some(n) => (n, false),
        None => match hll::count(&v) {
            Ok(n) => {
                hll::set_cached_count(&mut v, n);
                (n, true)
            }
            Err(hll::Corrupt) => {
                finish_in_place(a, key, v, false, old.as_ref(), Some(&m));
                return Reply::error(CORRUPT);
            }
        },
    };
    finish_in_place(a, key, v, fresh, old.as_ref(), Some(&m));
    Reply::Int(n as i64)
}

/// PFCOUNT key key ...: the count of the union; nothing is stored.
pub fn pfcount_union<K: KvRead + ?Sized>(db: &Db<K>, keys: &[Bytes]) -> Reply {
    match union(db, &keys.iter().collect::<Vec<_>>()) {
        Ok((max, _)) => Reply::Int(hll::count_registers(&max) as i64),
        Err(e) => e,
    }
}

/// PFMERGE dst [src ...]: dst becomes the union of itself and the sources;
/// dense if any of them is.
pub fn pfmerge(a: &mut Apply, cmd: &c::PfMerge) -> Reply {
    let keys: Vec<&Bytes> = std::iter::once(&cmd.dst).chain(cmd.srcs.iter()).collect();
    let (max, dense) = match union(&a.db(), &keys) {
        Ok(u) => u,
        Err(e) => return e,
    };
    let (old, live) = match sketch_for_write(a, &cmd.dst) {
        Ok(found) => found,
        Err(e) => return e,
    };
    let mut v = live.as_ref().map_or_else(hll::new_sketch, |m| m.payload.clone());
    if dense && hll::to_dense(&mut v).is_err() {
        finish_in_place(a, &cmd.dst, v, false, old.as_ref(), live.as_ref());
        return Reply::error(CORRUPT);
    }
    for (i, &r) in max.iter().enumerate() {
        if r != 0 {
            // As in Redis, a sparse destination that turns out corrupt
            // midway takes the registers it can.
            let _ = hll::raise(&mut v, i, r);
        }
    }
    hll::invalidate_cache(&mut v);
    finish_in_place(a, &cmd.dst, v, true, old.as_ref(), live.as_ref());
    a.event(notify::STRING, "pfadd", &cmd.dst);
    Reply::Ok
}
