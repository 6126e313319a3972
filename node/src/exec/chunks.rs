//! Large strings kept in chunks.
//!
//! A string's value lives in its metadata record, so a write of one bit or
//! byte (SETBIT, SETRANGE, APPEND) rewrote the whole value: into the write
//! batch, RocksDB's WAL and memtable, and again at every flush. On a 1.25 MB
//! bitmap that made a SETBIT cost milliseconds. A value longer than
//! [`CHUNKED_FROM`] is stored instead as elements of the key (under a
//! version, like a collection's) of [`CHUNK`] bytes each, keyed by chunk
//! number; the metadata record holds its length and a flag in `count`.
//! Writing such a string writes only the chunks that changed.
//!
//! The chunks are invisible above this module: [`assemble`] gives every
//! reader the whole value in the payload (what `Db::meta_raw` returns), and
//! [`store`] splits a written one (what `Apply::put_meta` writes). Only the
//! commands that touch a few bytes look further: STRLEN, GETBIT and
//! GETRANGE read just the chunks they need ([`read_part`]), SETBIT,
//! SETRANGE and APPEND write just those ([`InPlace`]). Values
//! are chunked only by entries at apply version 10 (`Apply::chunk_strings`),
//! or when the string already is: a node at 9 never meets a chunked string.

use super::db::Apply;
use crate::keys;
use crate::meta::{DataType, Meta};
use crate::store::{Cf, KvRead};

/// The apply version of the commands whose entries chunk long strings.
pub const APPLY_VERSION: u32 = 10;
/// Values longer than this are kept in chunks.
pub const CHUNKED_FROM: usize = 64 << 10;
/// The size of a chunk (the last one may be shorter).
pub const CHUNK: usize = 16 << 10;
/// Set in a stored string record's `count` when its value is in chunks (its
/// payload then holds the value's length, 8 bytes big-endian).
const CHUNKED: u64 = 1 << 63;

/// Whether a value of `len` bytes is long enough to be kept in chunks.
pub fn is_long(len: usize) -> bool {
    len > CHUNKED_FROM
}

/// Whether `m` (as readers see it) is a string long enough to be kept in
/// chunks: the only records that may be.
pub fn long_string(m: &Meta) -> bool {
    m.ty == DataType::String && is_long(m.payload.len())
}

/// `r` cut at `len`.
pub fn clamped(r: std::ops::Range<usize>, len: usize) -> std::ops::Range<usize> {
    r.start.min(len)..r.end.min(len)
}

fn chunk_sub(i: usize) -> [u8; 4] {
    (i as u32).to_be_bytes()
}

/// Chunk `i` of the string `key` of `len` bytes whose chunks are keyed under
/// `prefix`. A point read, not a scan: a chunk rewritten often has many
/// versions in the memtable, which a scan steps over one by one; a read
/// lands on the newest. The chunks and the record are written in one
/// batch: a missing one is a broken store, not something to answer from.
fn read_chunk<K: KvRead + ?Sized>(kv: &K, prefix: &[u8], key: &[u8], i: usize, len: usize) -> Vec<u8> {
    kv.get(Cf::Data, &[prefix, &chunk_sub(i)].concat())
        .unwrap_or_else(|| panic!("string {key:?}: chunk {i} of {len} bytes is missing"))
}

/// Whether a record as read from the store is a string kept in chunks.
pub fn is_chunked(m: &Meta) -> bool {
    m.ty == DataType::String && m.count & CHUNKED != 0
}

/// The length of a string kept in chunks (`m` as stored) and its bytes
/// `range(length)`, clamped to it, from the chunks that hold them.
pub fn read_part<K: KvRead + ?Sized>(
    kv: &K,
    ns: u32,
    key: &[u8],
    m: &Meta,
    range: impl FnOnce(usize) -> std::ops::Range<usize>,
) -> (usize, Vec<u8>) {
    let len = stored_len(m);
    let std::ops::Range { start: from, end: to } = clamped(range(len), len);
    let mut out = Vec::with_capacity(to.saturating_sub(from));
    if from < to {
        let prefix = keys::element_prefix(ns, key, m.version);
        for i in from / CHUNK..to.div_ceil(CHUNK) {
            let chunk = read_chunk(kv, &prefix, key, i, len);
            let start = i * CHUNK;
            out.extend_from_slice(&chunk[from.max(start) - start..to.min(start + chunk.len()) - start]);
        }
    }
    (len, out)
}

/// A live string kept in chunks, for a write that changes a few of its
/// bytes (SETBIT, SETRANGE, APPEND): only the chunks holding them are read
/// and written, then the record.
pub struct InPlace {
    /// The record as stored (its payload is the value's length).
    pub stored: Meta,
    /// The value's length, grown by [`InPlace::write_at`].
    pub len: usize,
}

impl InPlace {
    /// `key`'s record, if it is a live string kept in chunks; None
    /// otherwise (the caller takes the general path, which reads the whole
    /// value).
    pub fn open(a: &Apply, key: &[u8]) -> Option<InPlace> {
        let stored = Meta::decode(&a.kv.get(Cf::Meta, &keys::meta_key(a.ns, key))?)?;
        if !is_chunked(&stored) || stored.expired(a.now) {
            return None;
        }
        Some(InPlace { len: stored_len(&stored), stored })
    }

    /// The encoding the record keeps in `count`.
    pub fn encoding(&self) -> u64 {
        self.stored.count & !CHUNKED
    }

    fn chunk_key(&self, a: &Apply, key: &[u8], i: usize) -> Vec<u8> {
        [&keys::element_prefix(a.ns, key, self.stored.version)[..], &chunk_sub(i)].concat()
    }

    fn chunk(&self, a: &Apply, key: &[u8], i: usize) -> Vec<u8> {
        read_chunk(&*a.kv, &keys::element_prefix(a.ns, key, self.stored.version), key, i, self.len)
    }

    /// The bytes `[from, to)`, cut at the value's end.
    pub fn read(&self, a: &Apply, key: &[u8], from: usize, to: usize) -> Vec<u8> {
        read_part(&*a.kv, a.ns, key, &self.stored, |_| from..to).1
    }

    /// The byte at `at` (below the length).
    pub fn byte(&self, a: &Apply, key: &[u8], at: usize) -> u8 {
        self.chunk(a, key, at / CHUNK)[at % CHUNK]
    }

    /// Writes `bytes` at `offset`, growing the value (with zeros between
    /// its end and `offset`) as needed.
    pub fn write_at(&mut self, a: &mut Apply, key: &[u8], offset: usize, bytes: &[u8]) {
        let end = offset + bytes.len();
        let new_len = self.len.max(end);
        let from = offset.min(self.len);
        for i in from / CHUNK..end.div_ceil(CHUNK) {
            let start = i * CHUNK;
            let mut chunk = if start < self.len { self.chunk(a, key, i) } else { Vec::new() };
            chunk.resize(CHUNK.min(new_len - start), 0);
            let (lo, hi) = (offset.max(start), end.min(start + CHUNK));
            if lo < hi {
                chunk[lo - start..hi - start].copy_from_slice(&bytes[lo - offset..hi - offset]);
            }
            a.kv.put(Cf::Data, &self.chunk_key(a, key, i), &chunk);
        }
        self.len = new_len;
    }

    /// Writes the record: its length, `count` (the flag kept) and `mod_index`.
    pub fn finish(self, a: &mut Apply, key: &[u8], count: u64, mod_index: u64) {
        let record = Meta {
            count: count | CHUNKED,
            mod_index,
            payload: (self.len as u64).to_be_bytes().to_vec(),
            ..self.stored
        };
        a.kv.put(Cf::Meta, &keys::meta_key(a.ns, key), &record.encode());
    }
}

/// The value length a chunked record (as stored) holds.
fn stored_len(m: &Meta) -> usize {
    m.payload.get(..8).map_or(0, |b| u64::from_be_bytes(b.try_into().unwrap())) as usize
}

/// Completes a record as read from the store: a chunked string gets its
/// value back in the payload (and loses the flag).
pub fn assemble<K: KvRead + ?Sized>(kv: &K, ns: u32, key: &[u8], m: &mut Meta) {
    if !is_chunked(m) {
        return;
    }
    let (len, value) = read_part(kv, ns, key, m, |len| 0..len);
    assert_eq!(value.len(), len, "string {key:?}: its chunks hold {} bytes, its record says {len}", value.len());
    m.count &= !CHUNKED;
    m.payload = value;
}

/// The chunk version and value length of `key`'s stored record, if it is a
/// string kept in chunks. Only a [`long_string`] can be one: callers test
/// that first and skip this read for everything else.
fn stored_chunks(a: &Apply, key: &[u8]) -> Option<(u64, usize)> {
    let raw = a.kv.get(Cf::Meta, &keys::meta_key(a.ns, key))?;
    Meta::decode(&raw).filter(is_chunked).map(|m| (m.version, stored_len(&m)))
}

/// The chunk version of `key`'s stored record if it is a string kept in
/// chunks; `may_be` says whether it can be (see [`stored_chunks`]).
pub fn chunk_version(a: &Apply, key: &[u8], may_be: bool) -> Option<u64> {
    may_be.then(|| stored_chunks(a, key)).flatten().map(|(version, _)| version)
}

/// The record to store for `meta` (a whole record, as readers see it),
/// replacing the one stored, which `old_long` says may be kept in chunks (a
/// [`long_string`]): a long string's chunks are written here, only those
/// that differ from the ones stored when it is chunked too (compared with
/// the stored chunks, so that no caller's copy of the old value is
/// trusted); chunks of the old record that the new one no longer uses are
/// left to the compaction filter (or deleted, past a shortened value's
/// end).
pub fn store(a: &mut Apply, key: &[u8], meta: &Meta, old_long: bool) -> Vec<u8> {
    let old_chunks = old_long.then(|| stored_chunks(a, key)).flatten();
    if !long_string(meta) || !(a.chunk_strings || old_chunks.is_some()) {
        if let Some((v, _)) = old_chunks {
            a.collect_garbage_of(key, v);
        }
        if meta.ty == DataType::String && meta.version != 0 {
            // An inline string has no chunks, hence no version.
            return Meta { version: 0, ..meta.clone() }.encode();
        }
        return meta.encode();
    }
    let (version, old_len) = old_chunks.unwrap_or_else(|| (a.version(), 0));
    let prefix = keys::element_prefix(a.ns, key, version);
    let sub_key = |i: usize| [&prefix[..], &chunk_sub(i)].concat();
    let chunks = meta.payload.len().div_ceil(CHUNK);
    for (i, chunk) in meta.payload.chunks(CHUNK).enumerate() {
        let was = if i * CHUNK < old_len { a.kv.get(Cf::Data, &sub_key(i)) } else { None };
        if was.as_deref() != Some(chunk) {
            a.kv.put(Cf::Data, &sub_key(i), chunk);
        }
    }
    for i in chunks..old_len.div_ceil(CHUNK) {
        a.kv.delete(Cf::Data, &sub_key(i));
    }
    Meta {
        ty: meta.ty,
        expire_at: meta.expire_at,
        version,
        mod_index: meta.mod_index,
        count: meta.count | CHUNKED,
        payload: (meta.payload.len() as u64).to_be_bytes().to_vec(),
    }
    .encode()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::PartitionCounters;
    use crate::store::{Store, WriteCtx};
    use std::sync::Arc;

    /// Runs `f` as the entry at `index` (chunking long strings or not),
    /// committed; returns what it returned and how many records it wrote.
    fn applied<T>(ctx: &mut WriteCtx, index: u64, chunk: bool, f: impl FnOnce(&mut Apply) -> T) -> (T, u64) {
        let mut counters = PartitionCounters::default();
        let mut a = Apply::for_test(ctx, &mut counters, index);
        a.chunk_strings = chunk;
        let out = f(&mut a);
        let ops = ctx.ops;
        ctx.commit().unwrap();
        (out, ops)
    }

    fn put(ctx: &mut WriteCtx, index: u64, chunk: bool, value: Vec<u8>) -> u64 {
        applied(ctx, index, chunk, |a| {
            let old = a.db().meta_raw(b"k");
            a.put_meta(b"k", Meta::string(value, 0), old.as_ref());
        })
        .1
    }

    fn value(ctx: &mut WriteCtx) -> Option<Vec<u8>> {
        applied(ctx, 0, false, |a| a.db().meta_raw(b"k").map(|m| m.payload)).0
    }

    /// A long string is written in chunks and read back whole; a change of
    /// a few bytes rewrites one chunk; a shorter value drops the chunks past
    /// its end; a short value (or removal) leaves the chunks to the
    /// compaction filter; without chunking (an older entry) a long value
    /// stays inline.
    #[test]
    fn long_strings_are_written_by_the_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let mut ctx = WriteCtx::new(store.clone());
        let mut v: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        put(&mut ctx, 1, true, v.clone());
        assert_eq!(store.count_elements(), 7, "100,000 bytes in chunks of 16 KiB");
        assert_eq!(value(&mut ctx), Some(v.clone()));
        v[40_000] ^= 1;
        assert_eq!(put(&mut ctx, 2, true, v.clone()), 2, "one chunk and the record");
        assert_eq!(value(&mut ctx), Some(v.clone()));
        // Grown past the end of the last chunk, then cut back.
        v.extend_from_slice(&[7; 20_000]);
        put(&mut ctx, 3, true, v.clone());
        assert_eq!((store.count_elements(), value(&mut ctx)), (8, Some(v.clone())));
        v.truncate(70_000);
        put(&mut ctx, 4, true, v.clone());
        assert_eq!((store.count_elements(), value(&mut ctx)), (5, Some(v.clone())));
        // Short again: inline, and the chunks' version is dead.
        let dead = store.gc.dead_versions();
        put(&mut ctx, 5, true, b"short".to_vec());
        assert_eq!(value(&mut ctx), Some(b"short".to_vec()));
        assert_eq!(store.gc.dead_versions(), dead + 1);
        store.flush_wal().unwrap();
        store.compact_elements();
        assert_eq!(store.count_elements(), 0);
        // An entry that does not chunk writes a new long value inline...
        put(&mut ctx, 6, false, v.clone());
        assert_eq!((store.count_elements(), value(&mut ctx)), (0, Some(v.clone())));
        // ...but keeps a chunked one chunked; removing it kills its chunks.
        put(&mut ctx, 7, true, b"s".to_vec());
        put(&mut ctx, 8, true, v.clone());
        v[0] ^= 1;
        assert_eq!(put(&mut ctx, 9, false, v.clone()), 2);
        assert_eq!((store.count_elements(), value(&mut ctx)), (5, Some(v.clone())));
        // Two writes in one entry against the same (then stale) old record:
        // the second compares with the chunks stored, not with that copy.
        let changed = {
            let mut c = v.clone();
            c[50_000] ^= 1;
            c
        };
        applied(&mut ctx, 10, true, |a| {
            let old = a.db().meta_raw(b"k");
            a.put_meta(b"k", Meta::string(changed, 0), old.as_ref());
            a.put_meta(b"k", Meta::string(v.clone(), 0), old.as_ref());
        });
        assert_eq!(value(&mut ctx), Some(v.clone()));
        let dead = store.gc.dead_versions();
        applied(&mut ctx, 11, false, |a| {
            let old = a.db().meta_raw(b"k").unwrap();
            a.remove_key(b"k", &old);
        });
        assert_eq!((store.gc.dead_versions(), value(&mut ctx)), (dead + 1, None));
    }
}
