//! What every collection type shares: its elements live under
//! `[ns][slot][key len][key][version][sub]` in the `data` column family; its
//! metadata record holds the element count and, in its payload, a flags byte
//! (plus the list's head and tail). A collection is written through a
//! [`Coll`]: opened (or created with a fresh version), changed element by
//! element, then finished, which writes only the metadata record, or
//! removes the key when it became empty.

use super::db::{Apply, Db};
use crate::keys;
use crate::meta::{DataType, Meta};
use crate::notify;
use crate::reply::{err, Reply};
use crate::store::{Cf, KvRead};
use bytes::Bytes;

/// Sticky "large encoding" flag: like Redis, a collection that once outgrew
/// its compact encoding (listpack, intset) keeps the large one.
pub const FLAG_LARGE: u8 = 1;
/// A sorted set whose count records are keyed by the start of their
/// segment (apply version 8; zset_rank.rs drops them at the next write).
pub const FLAG_COUNTED_BY_START: u8 = 2;
/// A sorted set that keeps count records for its ranks (see zset_rank.rs).
pub const FLAG_COUNTED: u8 = 4;

/// Redis 7.0's default thresholds for compact encodings
/// (hash-max-listpack-entries 512, zset-max-listpack-entries 128, both
/// -value 64, set-max-intset-entries 512).
pub const HASH_LISTPACK_MAX_ENTRIES: u64 = 512;
pub const ZSET_LISTPACK_MAX_ENTRIES: u64 = 128;
pub const LISTPACK_MAX_VALUE: usize = 64;
pub const INTSET_MAX_ENTRIES: u64 = 512;

pub fn flags(m: &Meta) -> u8 {
    m.payload.first().copied().unwrap_or(0)
}

/// HLEN, LLEN, SCARD, ZCARD: the exact count kept in the metadata record.
pub fn card<K: KvRead + ?Sized>(db: &Db<K>, key: &[u8], t: DataType) -> Reply {
    match db.typed(key, t) {
        Err(e) => e,
        Ok(m) => Reply::Int(m.map_or(0, |m| m.count as i64)),
    }
}

/// The element key of `sub` in collection `key` at `version`.
pub fn elem_key(ns: u32, key: &[u8], version: u64, sub: &[u8]) -> Vec<u8> {
    let mut k = keys::element_prefix(ns, key, version);
    k.extend_from_slice(sub);
    k
}

/// Visits the elements of a collection with `sub` in `[from, to)` (`to`
/// None: to the end), in order or reversed, until `f` returns false.
#[allow(clippy::too_many_arguments)] // the element range of one key version, spelled out
pub fn scan_elems<K: KvRead + ?Sized>(
    kv: &K,
    ns: u32,
    key: &[u8],
    version: u64,
    from: &[u8],
    to: Option<&[u8]>,
    reverse: bool,
    f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
) {
    let prefix = keys::element_prefix(ns, key, version);
    let mut lo = prefix.clone();
    lo.extend_from_slice(from);
    let hi = match to {
        Some(t) => {
            let mut h = prefix.clone();
            h.extend_from_slice(t);
            h
        }
        None => keys::prefix_end(&prefix),
    };
    if lo >= hi {
        return;
    }
    let n = prefix.len();
    let mut visit = |k: &[u8], v: &[u8]| f(&k[n..], v);
    if reverse {
        kv.scan_rev(Cf::Data, &lo, &hi, &mut visit);
    } else {
        kv.scan(Cf::Data, &lo, &hi, &mut visit);
    }
}

impl<'a, K: KvRead + ?Sized> Db<'a, K> {
    /// Visits every element of the live collection `m` of `key`.
    pub fn elems(&self, key: &[u8], m: &Meta, f: &mut dyn FnMut(&[u8], &[u8]) -> bool) {
        scan_elems(self.kv, self.ns, key, m.version, b"", None, false, f)
    }

    pub fn elem(&self, key: &[u8], m: &Meta, sub: &[u8]) -> Option<Vec<u8>> {
        self.kv.get(Cf::Data, &elem_key(self.ns, key, m.version, sub))
    }
}

/// A collection being written during apply.
pub struct Coll {
    pub key: Bytes,
    pub meta: Meta,
    /// The raw record that was there (expired or of another type included).
    pub old: Option<Meta>,
    pub changed: bool,
}

impl Coll {
    /// Opens the live collection of type `ty` at `key`, or starts a new empty
    /// one (a fresh version: elements of anything that was there before are
    /// garbage). WRONGTYPE if a live key of another type is there.
    pub fn open(a: &mut Apply, key: &Bytes, ty: DataType) -> Result<Coll, Reply> {
        let old = a.db().meta_raw(key);
        match &old {
            Some(m) if !m.expired(a.now) => {
                if m.ty != ty {
                    return Err(Reply::error(err::WRONGTYPE));
                }
                Ok(Coll { key: key.clone(), meta: m.clone(), old, changed: false })
            }
            _ => Ok(Coll { key: key.clone(), meta: Self::fresh_meta(a, ty), old, changed: false }),
        }
    }

    /// The metadata of a new, empty collection: a fresh version, so elements
    /// of anything that was at the key before are garbage.
    fn fresh_meta(a: &mut Apply, ty: DataType) -> Meta {
        let mut meta = Meta { ty, expire_at: 0, version: a.version(), mod_index: 0, count: 0, payload: vec![0] };
        if ty == DataType::List {
            meta.payload.extend_from_slice(&LIST_ORIGIN.to_be_bytes());
            meta.payload.extend_from_slice(&LIST_ORIGIN.to_be_bytes());
        }
        meta
    }

    /// Replaces whatever is at `key` (of any type) by a new collection of
    /// type `ty` that `fill` writes (the *STORE commands, which fire
    /// `event`, a class and a name); when `empty`, the key is removed
    /// instead (a `del` event if something was there).
    pub fn replace(
        a: &mut Apply,
        key: &Bytes,
        ty: DataType,
        empty: bool,
        event: (u32, &str),
        fill: impl FnOnce(&mut Apply, &mut Coll),
    ) {
        let old = a.db().meta_raw(key);
        if empty {
            if let Some(o) = old {
                a.remove_key(key, &o);
                a.event(notify::GENERIC, "del", key);
            }
            return;
        }
        let mut c = Coll { key: key.clone(), meta: Self::fresh_meta(a, ty), old, changed: true };
        fill(a, &mut c);
        c.finish(a);
        a.event(event.0, event.1, key);
    }

    /// Opens an existing live collection only (`None` if absent).
    pub fn existing(a: &mut Apply, key: &Bytes, ty: DataType) -> Result<Option<Coll>, Reply> {
        match a.db().typed(key, ty)? {
            None => Ok(None),
            Some(m) => Ok(Some(Coll { key: key.clone(), old: Some(m.clone()), meta: m, changed: false })),
        }
    }

    pub fn exists(&self) -> bool {
        self.meta.count > 0
    }

    pub fn get(&self, a: &Apply, sub: &[u8]) -> Option<Vec<u8>> {
        if !self.exists() {
            return None;
        }
        a.kv.get(Cf::Data, &elem_key(a.ns, &self.key, self.meta.version, sub))
    }

    pub fn put(&mut self, a: &mut Apply, sub: &[u8], value: &[u8]) {
        a.kv.put(Cf::Data, &elem_key(a.ns, &self.key, self.meta.version, sub), value);
        self.changed = true;
    }

    pub fn delete(&mut self, a: &mut Apply, sub: &[u8]) {
        a.kv.delete(Cf::Data, &elem_key(a.ns, &self.key, self.meta.version, sub));
        self.changed = true;
    }

    pub fn clear_flag(&mut self, flag: u8) {
        if self.meta.payload.first().is_some_and(|f| f & flag != 0) {
            self.meta.payload[0] &= !flag;
            self.changed = true;
        }
    }

    pub fn set_flag(&mut self, flag: u8) {
        if self.meta.payload.is_empty() {
            self.meta.payload.push(0);
        }
        if self.meta.payload[0] & flag == 0 {
            self.meta.payload[0] |= flag;
            self.changed = true;
        }
    }

    /// Writes the metadata (or removes the key once empty). Only writes if
    /// something changed.
    pub fn finish(self, a: &mut Apply) {
        if !self.changed {
            return;
        }
        if self.meta.count == 0 {
            if let Some(old) = &self.old {
                if !old.expired(a.now) && old.version == self.meta.version {
                    a.remove_key(&self.key, &self.meta);
                } else {
                    // Replaced something dead and ended up empty: remove that.
                    a.remove_key(&self.key, old);
                }
            }
            return;
        }
        a.put_meta(&self.key, self.meta, self.old.as_ref());
    }
}

/// Where a new list's head and tail start: the middle of the u64 range, so
/// both ends can grow.
pub const LIST_ORIGIN: u64 = 1 << 63;

/// Copies the elements of `src` (metadata `src_meta`) to `dst` under `version`.
pub fn copy_elements(a: &mut Apply, src: &[u8], src_meta: &Meta, dst: &[u8], version: u64) {
    let mut elements = Vec::new();
    scan_elems(a.kv, a.ns, src, src_meta.version, b"", None, false, &mut |sub, v| {
        elements.push((sub.to_vec(), v.to_vec()));
        true
    });
    for (sub, v) in elements {
        a.kv.put(Cf::Data, &elem_key(a.ns, dst, version, &sub), &v);
    }
}

/// SCAN-style iteration over a collection's elements with a stateless
/// cursor: the cursor names the first 7 bytes of the next element's sub
/// key, so it resumes by seek; elements sharing those 7 bytes are returned
/// together (some may come twice, as SCAN allows). Collections small enough
/// for Redis' compact encodings come back whole, with cursor 0, as Redis does.
/// (sub-key, value) pairs of a collection's elements.
pub type Elems = Vec<(Vec<u8>, Vec<u8>)>;

pub fn scan_cursor<K: KvRead + ?Sized>(
    db: &Db<K>,
    key: &[u8],
    m: &Meta,
    from_sub_prefix: &[u8],
    cursor: u64,
    count: u64,
    whole: bool,
) -> (Elems, u64) {
    let mut start = from_sub_prefix.to_vec();
    if cursor != 0 {
        // High 7 bytes: the prefix; low byte: its length + 1 (never 0).
        let len = ((cursor & 0xff) as usize).saturating_sub(1).min(7);
        start.extend_from_slice(&cursor.to_be_bytes()[..len]);
    }
    let end = keys::prefix_end(from_sub_prefix);
    let to = if from_sub_prefix.is_empty() { None } else { Some(end.as_slice()) };
    let mut out = Vec::new();
    let mut next = 0u64;
    let mut last7: Option<[u8; 7]> = None;
    let n = from_sub_prefix.len();
    scan_elems(db.kv, db.ns, key, m.version, &start, to, false, &mut |sub, v| {
        let body = &sub[n..];
        let mut p7 = [0u8; 7];
        let len = body.len().min(7);
        p7[..len].copy_from_slice(&body[..len]);
        if !whole && out.len() as u64 >= count && Some(p7) != last7 {
            let mut c = [0u8; 8];
            c[..7].copy_from_slice(&p7);
            next = u64::from_be_bytes(c) | (len as u64 + 1);
            return false;
        }
        last7 = Some(p7);
        out.push((body.to_vec(), v.to_vec()));
        true
    });
    (out, next)
}
