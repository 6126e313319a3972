//! The two views command code works through.
//!
//! [`Db`] reads one partition of a namespace at a given time `now`: a key whose
//! expiry is at or before `now` does not exist. [`Apply`] is the write side
//! used while applying one raft entry; every change of a key goes through
//! [`Apply::put_meta`] or [`Apply::remove_key`], which keep the expiry index,
//! the key counters, `mod_index` (WATCH) and the per-slot removal index in
//! step with the metadata record.

use crate::keys;
use crate::meta::{DataType, Meta};
use crate::notify;
use crate::reply::{err, Message, Reply};
use crate::state::{removal_key, PartitionCounters};
use crate::store::{Cf, KvRead, WriteCtx};
use bytes::Bytes;

pub struct Db<'a, K: KvRead + ?Sized> {
    pub kv: &'a K,
    pub ns: u32,
    /// Milliseconds: the entry's stamp during apply, the read clock otherwise.
    pub now: u64,
    /// The partition's slots `[lo, hi)`.
    pub slots: (u32, u32),
    /// The partition's key count when the caller knows it (apply does).
    pub key_count: u64,
    /// Set when a read met a string kept in chunks through a reader that is
    /// not [`KvRead::consistent`]: its chunks could come from different
    /// writes, so the value was not assembled and the answer must be
    /// thrown away and read again from a snapshot.
    pub needs_snapshot: std::cell::Cell<bool>,
}

impl<'a, K: KvRead + ?Sized> Db<'a, K> {
    /// The metadata record, expired or not.
    pub fn meta_raw(&self, key: &[u8]) -> Option<Meta> {
        let mut m = self.stored_meta(key)?;
        super::chunks::assemble(self.kv, self.ns, key, &mut m);
        Some(m)
    }

    /// The metadata record as stored: a string kept in chunks holds its
    /// length rather than its value (see [`super::chunks`]). Read through a
    /// reader that is not consistent, such a record only marks
    /// `needs_snapshot` (its payload emptied).
    fn stored_meta(&self, key: &[u8]) -> Option<Meta> {
        let mut m = self.decoded(key)?;
        if super::chunks::is_chunked(&m) && !self.kv.consistent() {
            self.needs_snapshot.set(true);
            m.payload.clear();
            m.count = 0;
        }
        Some(m)
    }

    /// A live string's length and its bytes `range(length)` (clamped to
    /// it), reading only the chunks that hold them: GETBIT and GETRANGE of
    /// a long string.
    pub fn string_part(
        &self,
        key: &[u8],
        range: impl FnOnce(usize) -> std::ops::Range<usize>,
    ) -> Result<Option<(usize, Vec<u8>)>, Reply> {
        let Some(m) = self.stored_meta(key).filter(|m| !m.expired(self.now)) else {
            return Ok(None);
        };
        if m.ty != DataType::String {
            return Err(Reply::error(err::WRONGTYPE));
        }
        if !super::chunks::is_chunked(&m) {
            let len = m.payload.len();
            let r = super::chunks::clamped(range(len), len);
            return Ok(Some((len, m.payload.get(r).unwrap_or_default().to_vec())));
        }
        Ok(Some(super::chunks::read_part(self.kv, self.ns, key, &m, range)))
    }

    fn decoded(&self, key: &[u8]) -> Option<Meta> {
        Meta::decode(&self.kv.get(Cf::Meta, &keys::meta_key(self.ns, key))?)
    }

    /// The metadata of a live key for a caller that does not read a
    /// string's value (EXISTS, TYPE, TTL): one record, whatever the
    /// string's length (a long one's payload is not its value).
    pub fn meta_header(&self, key: &[u8]) -> Option<Meta> {
        self.decoded(key).filter(|m| !m.expired(self.now))
    }

    /// The metadata of a live (not expired) key.
    pub fn meta(&self, key: &[u8]) -> Option<Meta> {
        self.meta_raw(key).filter(|m| !m.expired(self.now))
    }

    /// A live key of type `ty`: `Ok(None)` if absent, WRONGTYPE if another type.
    pub fn typed(&self, key: &[u8], ty: DataType) -> Result<Option<Meta>, Reply> {
        match self.meta(key) {
            Some(m) if m.ty != ty => Err(Reply::error(err::WRONGTYPE)),
            m => Ok(m),
        }
    }

    /// The value of a live string key.
    pub fn string(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Reply> {
        Ok(self.typed(key, DataType::String)?.map(|m| m.payload))
    }

    /// The raft index of the last removal of any key in `slot`.
    pub fn removal_index(&self, slot: u16) -> u64 {
        self.kv
            .get(Cf::State, &removal_key(self.ns, slot))
            .map(|v| u64::from_be_bytes(v[..8].try_into().unwrap()))
            .unwrap_or(0)
    }

    /// Visits the live keys of the partition from metadata key `from`, in
    /// (slot, hash, key) order, until `f` returns false. Records come as
    /// stored: a string kept in chunks holds its length, not its value
    /// (see [`super::chunks::assemble`]).
    pub fn scan_keys(&self, from: &[u8], f: &mut dyn FnMut(&[u8], &Meta) -> bool) {
        let end = keys::slot_start(self.ns, self.slots.1);
        let now = self.now;
        self.kv.scan(Cf::Meta, from, &end, &mut |k, v| match Meta::decode(v) {
            Some(m) if !m.expired(now) => f(k, &m),
            _ => true,
        });
    }

    pub fn partition_start(&self) -> Vec<u8> {
        keys::slot_start(self.ns, self.slots.0)
    }
}

/// The write side while applying one entry.
pub struct Apply<'a> {
    pub kv: &'a mut WriteCtx,
    pub ns: u32,
    pub now: u64,
    /// The raft index of the entry being applied.
    pub index: u64,
    /// The next element version to hand out (index << 16 | position).
    pub next_version: u64,
    pub slots: (u32, u32),
    pub counters: &'a mut PartitionCounters,
    /// Seeded per entry, for commands with random choices.
    pub rng: rand::rngs::StdRng,
    /// The keyspace notification classes to collect ([`crate::notify`]).
    pub notify: u32,
    /// Messages for the proposer to publish once the entry is applied:
    /// keyspace notifications and scripts' PUBLISHes, in the order they
    /// happened.
    pub published: Vec<Message>,
    /// The keys changed (as WATCH counts changes), for client-side caching
    /// ([`crate::changes`]).
    pub changed: Vec<crate::changes::Changed>,
    /// Whether long strings written by this entry go into chunks: only in
    /// entries a node older than 10 cannot apply ([`super::chunks`]).
    pub chunk_strings: bool,
}

#[cfg(test)]
impl<'a> Apply<'a> {
    /// The entry at `index` of a one-partition node (unit tests).
    pub fn for_test(kv: &'a mut WriteCtx, counters: &'a mut PartitionCounters, index: u64) -> Apply<'a> {
        use rand::SeedableRng;
        Apply {
            kv,
            ns: 0,
            now: 1,
            index,
            next_version: index << 16,
            slots: (0, 16384),
            counters,
            rng: rand::rngs::StdRng::seed_from_u64(index),
            notify: 0,
            published: Vec::new(),
            changed: Vec::new(),
            chunk_strings: true,
        }
    }
}

impl<'a> Apply<'a> {
    pub fn db(&self) -> Db<'_, WriteCtx> {
        Db {
            kv: self.kv,
            ns: self.ns,
            now: self.now,
            slots: self.slots,
            key_count: self.counters.keys,
            needs_snapshot: Default::default(),
        }
    }

    /// A keyspace event of `class` on `key` (Redis' `notifyKeyspaceEvent`),
    /// if the entry collects that class.
    pub fn event(&mut self, class: u32, event: &str, key: &[u8]) {
        if self.notify & class == 0 {
            return;
        }
        let message = |channel: Vec<u8>, message: &[u8]| Message {
            channel: Bytes::from(channel),
            message: Bytes::copy_from_slice(message),
            shard: false,
        };
        if self.notify & notify::KEYSPACE != 0 {
            self.published.push(message([b"__keyspace@0__:", key].concat(), event.as_bytes()));
        }
        if self.notify & notify::KEYEVENT != 0 {
            self.published.push(message([b"__keyevent@0__:", event.as_bytes()].concat(), key));
        }
    }

    /// Runs `f` on a savepoint of everything an entry's commands change
    /// (writes, versions, counters, the random generator, messages, changed
    /// keys): `f` answers whether to keep what it did; if not, all of it is
    /// undone, as if `f` had never run.
    pub fn tentatively<R>(&mut self, f: impl FnOnce(&mut Self) -> (R, bool)) -> R {
        let (next_version, counters, rng) = (self.next_version, *self.counters, self.rng.clone());
        let (published, changed) = (self.published.len(), self.changed.len());
        self.kv.savepoint();
        let (r, keep) = f(self);
        if keep {
            self.kv.keep();
        } else {
            self.kv.take_back();
            self.next_version = next_version;
            *self.counters = counters;
            self.rng = rng;
            self.published.truncate(published);
            self.changed.truncate(changed);
        }
        r
    }

    /// Runs `f` without collecting keyspace events (a command built of
    /// others that announces itself with its own).
    pub fn without_events<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        let notify = std::mem::take(&mut self.notify);
        let r = f(self);
        self.notify = notify;
        r
    }

    pub fn version(&mut self) -> u64 {
        let v = self.next_version;
        self.next_version += 1;
        v
    }

    /// Writes `meta` for `key`, replacing `old` (the raw record, expired or
    /// not, that is there now).
    pub fn put_meta(&mut self, key: &[u8], mut meta: Meta, old: Option<&Meta>) {
        meta.mod_index = self.index;
        self.changed.push(crate::changes::Changed::Key(Bytes::copy_from_slice(key)));
        self.write_meta(key, meta, old);
    }

    /// [`Apply::put_meta`] without it counting as a change of the key
    /// (WATCH does not fire): a key Redis adds or grows without signalling
    /// it (BITFIELD whose OVERFLOW FAIL wrote nothing).
    pub fn put_meta_unsignalled(&mut self, key: &[u8], mut meta: Meta, old: Option<&Meta>) {
        meta.mod_index = old.filter(|o| !o.expired(self.now)).map_or(0, |o| o.mod_index);
        self.write_meta(key, meta, old);
    }

    fn write_meta(&mut self, key: &[u8], meta: Meta, old: Option<&Meta>) {
        // A new key is announced as Redis' dbAdd announces it (a dead record
        // it replaces expires first, as Redis' lookup removes it).
        match old {
            None => {
                self.event(notify::NEW, "new", key);
                self.counters.keys += 1;
            }
            Some(o) => {
                if o.expired(self.now) {
                    self.event(notify::EXPIRED, "expired", key);
                    self.event(notify::NEW, "new", key);
                }
                if o.expire_at != 0 && o.expire_at != meta.expire_at {
                    self.kv.delete(Cf::Expire, &keys::expire_key(self.ns, key, o.expire_at));
                }
                if o.expire_at != 0 {
                    self.counters.expires = self.counters.expires.saturating_sub(1);
                }
                if o.ty != DataType::String && o.version != meta.version {
                    self.collect_garbage(key, o);
                }
            }
        }
        if meta.expire_at != 0 {
            self.counters.expires += 1;
            if old.map(|o| o.expire_at) != Some(meta.expire_at) {
                self.kv.put(Cf::Expire, &keys::expire_key(self.ns, key, meta.expire_at), &[]);
            }
        }
        let stored = super::chunks::store(self, key, &meta, old.is_some_and(super::chunks::long_string));
        self.kv.put(Cf::Meta, &keys::meta_key(self.ns, key), &stored);
    }

    /// Writes the changed metadata of the live key `key` without counting it
    /// as a change of the key (its mod index stays, so WATCH does not fire):
    /// what Redis changes without signalling it (an unshared string value,
    /// a cached count, a stream's consumer groups).
    pub fn put_meta_quietly(&mut self, key: &[u8], meta: &Meta) {
        // The same live key: its stored record may be chunked only if the
        // value is long.
        let stored = super::chunks::store(self, key, meta, super::chunks::long_string(meta));
        self.kv.put(Cf::Meta, &keys::meta_key(self.ns, key), &stored);
    }

    /// Removes `key`, whose raw record is `old`.
    pub fn remove_key(&mut self, key: &[u8], old: &Meta) {
        if let Some(v) = super::chunks::chunk_version(self, key, super::chunks::long_string(old)) {
            self.collect_garbage_of(key, v);
        }
        self.kv.delete(Cf::Meta, &keys::meta_key(self.ns, key));
        if old.expire_at != 0 {
            self.kv.delete(Cf::Expire, &keys::expire_key(self.ns, key, old.expire_at));
            self.counters.expires = self.counters.expires.saturating_sub(1);
        }
        self.counters.keys = self.counters.keys.saturating_sub(1);
        if old.ty != DataType::String {
            self.collect_garbage(key, old);
        }
        self.note_removal(key);
    }

    /// Records that a key of `key`'s slot went away now, for WATCHes of
    /// absent keys (which fire on any removal in their slot). Also for a key
    /// written and expired at once: Redis counts that as a change of it.
    pub fn note_removal(&mut self, key: &[u8]) {
        self.changed.push(crate::changes::Changed::Key(Bytes::copy_from_slice(key)));
        let slot = keys::slot(key);
        self.kv.put(Cf::State, &removal_key(self.ns, slot), &self.index.to_be_bytes());
    }

    /// Gives the live key `key` (record `m`) a new expiry: `Some(at)` in the
    /// past removes it, `None` makes it persistent.
    pub fn set_expiry(&mut self, key: &[u8], m: &Meta, at: Option<i64>) {
        match at {
            Some(at) if at <= self.now as i64 => self.remove_key(key, m),
            at => {
                let mut n = m.clone();
                n.expire_at = at.map_or(0, |at| at as u64);
                self.put_meta(key, n, Some(m));
            }
        }
    }

    /// Removes `key` if its raw record exists but is expired, so that a write
    /// that treats it as absent starts from nothing. Returns the live record.
    pub fn live_or_reap(&mut self, key: &[u8]) -> Option<Meta> {
        let raw = self.db().meta_raw(key)?;
        if raw.expired(self.now) {
            self.remove_key(key, &raw);
            return None;
        }
        Some(raw)
    }

    /// A collection's elements of version `old.version` are dead: record it for
    /// the compaction filter (a write of the metadata only, whatever the size).
    fn collect_garbage(&mut self, key: &[u8], old: &Meta) {
        self.collect_garbage_of(key, old.version)
    }

    /// The elements of `key` under `version` are dead (see above).
    pub(super) fn collect_garbage_of(&mut self, key: &[u8], version: u64) {
        let prefix = keys::element_prefix(self.ns, key, version);
        self.kv.put(Cf::Gc, &prefix, &self.index.to_be_bytes());
    }
}
