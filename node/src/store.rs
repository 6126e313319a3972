//! The node's one RocksDB, shared by every partition, and the two views the
//! command code works through: [`ReadView`] (a RocksDB snapshot, for reads)
//! and [`WriteCtx`] (a write batch plus an in-memory overlay, for apply).
//!
//! Column families:
//! * `meta`: one record per key (type, expiry, version, counts; strings inline);
//!   its memtable is hashed by `[ns][slot]`, so its scans go slot by slot
//! * `data`: collection elements under `[ns][slot][key len][key][version]`
//! * `expire`: `[ns][slot][expire-at][key]`, the active-expiry index
//! * `gc`: records of dead collection versions (for the compaction filter)
//! * `state`: per-partition applied state, per-slot removal indexes,
//!   local namespace configuration.
//!
//! Applies write with `sync = false`: the raft WAL is the durable log, and the
//! node calls [`Store::flush_wal`] before purging raft entries so that the
//! applied index it purges up to is durable here. The same flush lets the
//! compaction filter drop the elements of versions those applies killed
//! ([`GcState`]).

use crate::keys::{self, SLOT_PREFIX_LEN};
use parking_lot::{Mutex, RwLock};
use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Options, WriteBatch, WriteOptions, DB};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cf {
    Meta = 0,
    Data = 1,
    Expire = 2,
    Gc = 3,
    State = 4,
}

const CF_NAMES: [&str; 5] = ["meta", "data", "expire", "gc", "state"];
const ALL_CFS: [Cf; 5] = [Cf::Meta, Cf::Data, Cf::Expire, Cf::Gc, Cf::State];
/// The column families that seeks walk. Removed members, fields and
/// expired keys leave deleted records there, which a seek steps over one
/// by one until a flush and a compaction drop them: SPOP emptying a set of
/// 40k members fell to 6k/s as they piled up around the last members. So
/// an iterator step that passes 128 of them in the memtable flushes it,
/// and SST files dense with deletions are compacted.
const SCANNED_CFS: [Cf; 3] = [Cf::Meta, Cf::Data, Cf::Expire];

impl Cf {
    pub fn name(self) -> &'static str {
        CF_NAMES[self as usize]
    }
}

#[derive(Debug, thiserror::Error)]
#[error("rocksdb: {0}")]
pub struct StoreError(#[from] pub rocksdb::Error);

/// What the compaction filter needs to drop dead collection elements safely:
/// the element prefixes (`[ns][slot][key len][key][version]`) of versions that
/// DEL/overwrite/expiry made garbage, each with the local commit sequence at
/// which that became visible, and the sequences of the read views still open.
/// An element is dropped only if its version died at or before every open
/// view began (no reader can still be looking at it) and the batch that
/// killed it is durable in RocksDB. Applies write without sync: after a power
/// loss RocksDB may come back from before that batch, with the metadata
/// still naming the old version, and raft replays the entries from there; a
/// replayed command that reads the old collection (SUNIONSTORE from it, say)
/// must find it whole, or this replica diverges. The node flushes RocksDB's
/// WAL at each raft log compaction, so garbage waits at most until the next
/// one (or a restart: versions found dead at open are durable). No clock is
/// involved, and metadata is never touched by the filter.
#[derive(Default)]
pub struct GcState {
    dead: RwLock<HashMap<Vec<u8>, u64>>,
    seq: AtomicU64,
    /// Batches up to this sequence are durable (a `flush_wal` or a synced
    /// write came after them).
    durable: AtomicU64,
    open: Mutex<BTreeMap<u64, usize>>,
    /// Elements dropped by compactions (for tests and INFO).
    pub dropped: AtomicU64,
}

impl GcState {
    fn can_drop(&self, prefix: &[u8]) -> bool {
        let Some(&died) = self.dead.read().get(prefix) else {
            return false;
        };
        let oldest_view = self.open.lock().keys().next().copied().unwrap_or(u64::MAX);
        died <= oldest_view && died <= self.durable.load(Ordering::Acquire)
    }

    /// Runs `sync`, which makes every write made so far durable, and if it
    /// succeeds counts the batches committed before it began as durable.
    fn syncing<T, E>(&self, sync: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        // A batch's sequence is taken after its write: every batch up to
        // `seq` was written before the sync starts.
        let seq = self.seq.load(Ordering::Acquire);
        let r = sync()?;
        self.durable.fetch_max(seq, Ordering::AcqRel);
        Ok(r)
    }

    fn open_view(&self) -> u64 {
        let mut open = self.open.lock();
        let seq = self.seq.load(Ordering::Acquire);
        *open.entry(seq).or_default() += 1;
        seq
    }

    fn close_view(&self, seq: u64) {
        let mut open = self.open.lock();
        if let Some(n) = open.get_mut(&seq) {
            *n -= 1;
            if *n == 0 {
                open.remove(&seq);
            }
        }
    }

    /// Records versions that died in a batch that was just written.
    fn committed(&self, prefixes: Vec<Vec<u8>>) {
        let seq = self.seq.fetch_add(1, Ordering::AcqRel) + 1;
        if prefixes.is_empty() {
            return;
        }
        let mut dead = self.dead.write();
        for p in prefixes {
            dead.insert(p, seq);
        }
    }

    pub fn dead_versions(&self) -> usize {
        self.dead.read().len()
    }
}

/// The length of the `[ns][slot][key len][key][version]` prefix of an
/// element key.
fn element_prefix_len(k: &[u8]) -> Option<usize> {
    if k.len() < 10 {
        return None;
    }
    let key_len = u32::from_be_bytes(k[6..10].try_into().unwrap()) as usize;
    let n = 10 + key_len + 8;
    (k.len() >= n).then_some(n)
}

pub struct Store {
    db: DB,
    pub gc: Arc<GcState>,
    /// Puts and deletes written by applies (a test counts them).
    pub ops_written: AtomicU64,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        opts.set_bytes_per_sync(1 << 20);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        // The meta memtable below takes one writer at a time (the driver
        // thread writes nearly everything anyway).
        opts.set_allow_concurrent_memtable_write(false);
        let mut block = rocksdb::BlockBasedOptions::default();
        block.set_block_cache(&rocksdb::Cache::new_lru_cache(256 << 20));
        block.set_bloom_filter(10.0, false);
        opts.set_block_based_table_factory(&block);
        let gc = Arc::new(GcState::default());
        let cfs = ALL_CFS.iter().map(|cf| {
            let mut o = opts.clone();
            if *cf == Cf::Data {
                let gc = gc.clone();
                o.set_compaction_filter("dead-versions", move |_level: u32, key: &[u8], _value: &[u8]| {
                    match element_prefix_len(key) {
                        Some(n) if gc.can_drop(&key[..n]) => {
                            gc.dropped.fetch_add(1, Ordering::Relaxed);
                            rocksdb::compaction_filter::Decision::Remove
                        }
                        _ => rocksdb::compaction_filter::Decision::Keep,
                    }
                });
            }
            if SCANNED_CFS.contains(cf) {
                o.add_compact_on_deletion_collector_factory(128, 64, 0.0);
            }
            if *cf == Cf::Meta || *cf == Cf::Expire {
                o.set_prefix_extractor(rocksdb::SliceTransform::create_fixed_prefix(SLOT_PREFIX_LEN));
            }
            if *cf == Cf::Meta {
                // Point reads of missing keys skip the memtable search.
                o.set_memtable_whole_key_filtering(true);
                o.set_memtable_prefix_bloom_ratio(0.05);
                // Every write reads its key's metadata first, and inserts a
                // version of it. In one skiplist of the whole memtable (a
                // few hundred thousand versions) each of the two walks ~20
                // levels of cache misses: a fifth of a node's CPU under SET
                // load. A hash of per-slot skiplists makes both a bucket
                // lookup and a short walk. The price: a total-order iterator
                // copies the memtable, so scans go one slot at a time
                // ([`Store::scan_meta_by_slot`]). A bucket's skiplist grows
                // up to 12 levels, so keys all in one slot (one hash tag)
                // still get a log-time search, a little slower than the
                // default inline skiplist's.
                o.set_memtable_factory(rocksdb::MemtableFactory::HashSkipList {
                    bucket_count: 1 << 17,
                    height: 12,
                    branching_factor: 4,
                });
            }
            ColumnFamilyDescriptor::new(cf.name(), o)
        });
        let db = DB::open_cf_descriptors(&opts, path, cfs)?;
        for cf in SCANNED_CFS {
            // (Dynamic options: rust-rocksdb sets them only on an open DB.)
            let h = db.cf_handle(cf.name()).expect("column family");
            db.set_options_cf(
                &h,
                &[("memtable_op_scan_flush_trigger", "128"), ("memtable_avg_op_scan_flush_trigger", "32")],
            )?;
        }
        let store = Store { db, gc, ops_written: AtomicU64::new(0) };
        // Versions that died before a restart: no view can see them.
        let mut dead = Vec::new();
        store.scan_db(None, Cf::Gc, b"", &[0xff; 16], false, &mut |k, _| {
            dead.push(k.to_vec());
            true
        });
        let mut map = store.gc.dead.write();
        for k in dead {
            map.insert(k, 0);
        }
        drop(map);
        Ok(store)
    }

    /// Compacts the element column family now (tests; the filter then runs).
    pub fn compact_elements(&self) {
        self.db.compact_range_cf(self.handle(Cf::Data), None::<&[u8]>, None::<&[u8]>);
    }

    /// Every record of a column family, in order (tests compare replicas).
    pub fn dump(&self, cf: Cf) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        self.scan_db(None, cf, b"", &[0xff; 16], false, &mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            true
        });
        out
    }

    pub const ALL_CFS: [Cf; 5] = ALL_CFS;

    /// Element records currently stored (tests).
    pub fn count_elements(&self) -> u64 {
        let mut n = 0;
        self.scan_db(None, Cf::Data, b"", &[0xff; 16], false, &mut |_, _| {
            n += 1;
            true
        });
        n
    }

    fn handle(&self, cf: Cf) -> &ColumnFamily {
        self.db.cf_handle(cf.name()).expect("column family exists")
    }

    pub fn get(&self, cf: Cf, key: &[u8]) -> Option<Vec<u8>> {
        match self.db.get_cf(self.handle(cf), key) {
            Ok(v) => v,
            Err(e) => fatal_read(e),
        }
    }

    pub fn read_view(&self) -> ReadView<'_> {
        // Registered before the snapshot is taken: a version that dies after
        // this point is kept for this view.
        let seq = self.gc.open_view();
        ReadView { store: self, seq, snap: self.db.snapshot() }
    }

    /// Writes a batch. `sync` for the few records that must be durable on
    /// their own (replica creation and removal).
    pub fn write(&self, batch: WriteBatch, sync: bool) -> Result<(), StoreError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(sync);
        let write = || self.db.write_opt(batch, &wo);
        // Syncing RocksDB's WAL syncs everything before this batch too.
        if sync { self.gc.syncing(write) } else { write() }?;
        Ok(())
    }

    /// fsyncs RocksDB's own WAL: everything written so far is durable after
    /// (and the collection versions it killed may be dropped).
    pub fn flush_wal(&self) -> Result<(), StoreError> {
        self.gc.syncing(|| self.db.flush_wal(true))?;
        Ok(())
    }

    /// Writes the records of `cf` in `[from, to)` as seen by `view` into an
    /// SST file at `path`. Returns false (and writes nothing) when the range
    /// is empty: RocksDB cannot finish an SST without entries.
    pub fn write_sst(
        &self,
        view: &ReadView<'_>,
        cf: Cf,
        from: &[u8],
        to: &[u8],
        path: &Path,
    ) -> Result<bool, StoreError> {
        let opts = Options::default();
        let mut w = rocksdb::SstFileWriter::create(&opts);
        let mut opened = false;
        let mut err = None;
        self.scan_db(Some(&view.snap), cf, from, to, false, &mut |k, v| {
            if !opened {
                if let Err(e) = w.open(path) {
                    err = Some(e);
                    return false;
                }
                opened = true;
            }
            if let Err(e) = w.put(k, v) {
                err = Some(e);
                return false;
            }
            true
        });
        if let Some(e) = err {
            return Err(e.into());
        }
        if opened {
            w.finish()?;
        }
        Ok(opened)
    }

    /// Ingests SST files into `cf` (copied: the files stay where they are).
    pub fn ingest(&self, cf: Cf, paths: &[std::path::PathBuf]) -> Result<(), StoreError> {
        if paths.is_empty() {
            return Ok(());
        }
        let opts = rocksdb::IngestExternalFileOptions::default();
        self.db.ingest_external_file_cf_opts(self.handle(cf), &opts, paths.to_vec())?;
        Ok(())
    }

    pub fn new_batch(&self) -> WriteBatch {
        WriteBatch::default()
    }

    pub fn batch_put(&self, b: &mut WriteBatch, cf: Cf, k: &[u8], v: &[u8]) {
        b.put_cf(self.handle(cf), k, v);
    }

    pub fn batch_delete(&self, b: &mut WriteBatch, cf: Cf, k: &[u8]) {
        b.delete_cf(self.handle(cf), k);
    }

    pub fn batch_delete_range(&self, b: &mut WriteBatch, cf: Cf, from: &[u8], to: &[u8]) {
        b.delete_range_cf(self.handle(cf), from, to);
    }

    /// Approximate bytes on disk, for INFO.
    pub fn disk_size(&self) -> u64 {
        self.db.property_int_value("rocksdb.total-sst-files-size").ok().flatten().unwrap_or(0)
            + self.db.property_int_value("rocksdb.size-all-mem-tables").ok().flatten().unwrap_or(0)
    }

    fn scan_db(
        &self,
        snap: Option<&rocksdb::SnapshotWithThreadMode<'_, DB>>,
        cf: Cf,
        from: &[u8],
        to: &[u8],
        reverse: bool,
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) {
        if cf == Cf::Meta && !reverse && self.scan_meta_by_slot(snap, from, to, f) {
            return;
        }
        let mut ro = rocksdb::ReadOptions::default();
        ro.set_iterate_lower_bound(from.to_vec());
        ro.set_iterate_upper_bound(to.to_vec());
        ro.set_total_order_seek(true);
        if let Some(s) = snap {
            ro.set_snapshot(s);
        }
        let mut it = self.db.raw_iterator_cf_opt(self.handle(cf), ro);
        if reverse {
            it.seek_to_last();
        } else {
            it.seek(from);
        }
        while it.valid() {
            if !f(it.key().unwrap(), it.value().unwrap()) {
                return;
            }
            if reverse {
                it.prev();
            } else {
                it.next();
            }
        }
        if let Err(e) = it.status() {
            fatal_read(e);
        }
    }
}

/// The `[ns][slot]` prefix of the metadata keys at or after `key`, as a number.
fn meta_prefix_at_or_after(key: &[u8]) -> u64 {
    let mut p = [0u8; 8];
    let n = key.len().min(SLOT_PREFIX_LEN);
    p[8 - SLOT_PREFIX_LEN..8 - SLOT_PREFIX_LEN + n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(p)
}

/// Forward scans of more slots than this (more than one namespace) take the
/// total-order iterator: correct, but it copies the meta memtable.
const MAX_SLOTS_PER_SCAN: u64 = 1 << 16;

impl Store {
    /// A forward scan of the metadata column family in `[from, to)`, one
    /// `[ns][slot]` prefix at a time through one prefix-bounded iterator, so
    /// that its hashed memtable is searched per bucket instead of copied into
    /// total order. Returns false (and visits nothing) for a range of more
    /// slots than [`MAX_SLOTS_PER_SCAN`].
    fn scan_meta_by_slot(
        &self,
        snap: Option<&rocksdb::SnapshotWithThreadMode<'_, DB>>,
        from: &[u8],
        to: &[u8],
        f: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> bool {
        if from >= to {
            return true;
        }
        let first = meta_prefix_at_or_after(from);
        // Keys below `to` have a prefix at most `to`'s (padded) prefix.
        let last = meta_prefix_at_or_after(to);
        if last - first >= MAX_SLOTS_PER_SCAN {
            return false;
        }
        let mut ro = rocksdb::ReadOptions::default();
        ro.set_iterate_upper_bound(to.to_vec());
        ro.set_prefix_same_as_start(true);
        if let Some(s) = snap {
            ro.set_snapshot(s);
        }
        let mut it = self.db.raw_iterator_cf_opt(self.handle(Cf::Meta), ro);
        for p in first..=last {
            // (A prefix number is `ns << 16 | slot`.)
            let start = keys::slot_prefix((p >> 16) as u32, p as u16);
            if start.as_slice() >= to {
                break;
            }
            it.seek(if from > start.as_slice() { from } else { start.as_slice() });
            while it.valid() {
                if !f(it.key().unwrap(), it.value().unwrap()) {
                    return true;
                }
                it.next();
            }
            if let Err(e) = it.status() {
                fatal_read(e);
            }
        }
        true
    }
}

/// A read error from RocksDB means the data cannot be trusted: stop, like
/// an fsync error, rather than answer from a broken store.
fn fatal_read(e: rocksdb::Error) -> ! {
    tracing::error!("rocksdb read failed: {e}; aborting");
    eprintln!("FATAL: rocksdb read failed: {e}");
    std::process::abort()
}

/// Read access to the key-value data, by point and by range.
pub trait KvRead {
    fn get(&self, cf: Cf, key: &[u8]) -> Option<Vec<u8>>;
    /// Visits the records with keys in `[from, to)` in order until `f`
    /// returns false.
    fn scan(&self, cf: Cf, from: &[u8], to: &[u8], f: &mut dyn FnMut(&[u8], &[u8]) -> bool);
    /// The same, from the last record down.
    fn scan_rev(&self, cf: Cf, from: &[u8], to: &[u8], f: &mut dyn FnMut(&[u8], &[u8]) -> bool);
    /// Whether reads of several records see one state (a snapshot, or the
    /// applying thread's own view); false for the store read directly.
    fn consistent(&self) -> bool {
        true
    }
}

/// The latest state, without a snapshot (for single-record reads).
impl KvRead for Store {
    fn get(&self, cf: Cf, key: &[u8]) -> Option<Vec<u8>> {
        Store::get(self, cf, key)
    }
    fn scan(&self, cf: Cf, from: &[u8], to: &[u8], f: &mut dyn FnMut(&[u8], &[u8]) -> bool) {
        self.scan_db(None, cf, from, to, false, f)
    }
    fn scan_rev(&self, cf: Cf, from: &[u8], to: &[u8], f: &mut dyn FnMut(&[u8], &[u8]) -> bool) {
        self.scan_db(None, cf, from, to, true, f)
    }
    fn consistent(&self) -> bool {
        false
    }
}

/// A consistent view: one RocksDB snapshot.
pub struct ReadView<'a> {
    store: &'a Store,
    seq: u64,
    snap: rocksdb::SnapshotWithThreadMode<'a, DB>,
}

impl Drop for ReadView<'_> {
    fn drop(&mut self) {
        self.store.gc.close_view(self.seq);
    }
}

impl KvRead for ReadView<'_> {
    fn get(&self, cf: Cf, key: &[u8]) -> Option<Vec<u8>> {
        match self.snap.get_cf(self.store.handle(cf), key) {
            Ok(v) => v,
            Err(e) => fatal_read(e),
        }
    }
    fn scan(&self, cf: Cf, from: &[u8], to: &[u8], f: &mut dyn FnMut(&[u8], &[u8]) -> bool) {
        self.store.scan_db(Some(&self.snap), cf, from, to, false, f)
    }
    fn scan_rev(&self, cf: Cf, from: &[u8], to: &[u8], f: &mut dyn FnMut(&[u8], &[u8]) -> bool) {
        self.store.scan_db(Some(&self.snap), cf, from, to, true, f)
    }
}

/// One record of the overlay: a deletion is `None`.
type OverlayItem<'a> = (&'a (Cf, Vec<u8>), &'a Option<Vec<u8>>);

/// The apply-side view: writes go into one `WriteBatch` and an overlay, so
/// that later commands of the same batch read what earlier ones wrote. Range
/// deletions are recorded as tombstones that hide older records.
pub struct WriteCtx {
    store: Arc<Store>,
    batch: WriteBatch,
    overlay: BTreeMap<(Cf, Vec<u8>), Option<Vec<u8>>>,
    ranges: Vec<(Cf, Vec<u8>, Vec<u8>)>,
    /// Element prefixes of versions that died in this batch.
    dead: Vec<Vec<u8>>,
    /// Number of puts and deletes in the batch.
    pub ops: u64,
    /// While set, writes are held back from the batch so that they can be
    /// taken back ([`WriteCtx::savepoint`]).
    savepoint: Option<Savepoint>,
}

type OverlayKey = (Cf, Vec<u8>);
/// An overlay record's value: `None` is a deletion.
type OverlayValue = Option<Vec<u8>>;

/// A write held back while a savepoint is open.
enum HeldWrite {
    Put(Cf, Vec<u8>, Vec<u8>),
    Delete(Cf, Vec<u8>),
    DeleteRange(Cf, Vec<u8>, Vec<u8>),
}

/// What taking the writes since a savepoint back needs: the writes not yet
/// in the batch, the overlay records they replaced (`None`: there was
/// none), and the lengths and count to go back to.
struct Savepoint {
    held: Vec<HeldWrite>,
    replaced: Vec<(OverlayKey, Option<OverlayValue>)>,
    ranges: usize,
    dead: usize,
    ops: u64,
}

impl WriteCtx {
    pub fn new(store: Arc<Store>) -> WriteCtx {
        WriteCtx {
            store,
            batch: WriteBatch::default(),
            overlay: BTreeMap::new(),
            ranges: Vec::new(),
            dead: Vec::new(),
            ops: 0,
            savepoint: None,
        }
    }

    /// Opens a savepoint: the writes from here on are read back as usual,
    /// and either kept ([`WriteCtx::keep`]) or taken back
    /// ([`WriteCtx::take_back`]). A script that must run again from the
    /// start uses it (see `exec::script`). One at a time.
    pub fn savepoint(&mut self) {
        debug_assert!(self.savepoint.is_none(), "one savepoint at a time");
        self.savepoint = Some(Savepoint {
            held: Vec::new(),
            replaced: Vec::new(),
            ranges: self.ranges.len(),
            dead: self.dead.len(),
            ops: self.ops,
        });
    }

    /// Closes the savepoint, keeping its writes.
    pub fn keep(&mut self) {
        let Some(sp) = self.savepoint.take() else { return };
        for w in sp.held {
            match w {
                HeldWrite::Put(cf, k, v) => self.store.batch_put(&mut self.batch, cf, &k, &v),
                HeldWrite::Delete(cf, k) => self.store.batch_delete(&mut self.batch, cf, &k),
                HeldWrite::DeleteRange(cf, from, to) => self.store.batch_delete_range(&mut self.batch, cf, &from, &to),
            }
        }
    }

    /// Closes the savepoint, undoing every write made since it opened.
    pub fn take_back(&mut self) {
        let Some(sp) = self.savepoint.take() else { return };
        for (key, before) in sp.replaced.into_iter().rev() {
            match before {
                Some(v) => self.overlay.insert(key, v),
                None => self.overlay.remove(&key),
            };
        }
        self.ranges.truncate(sp.ranges);
        self.dead.truncate(sp.dead);
        self.ops = sp.ops;
    }

    /// Sets an overlay record, noting the one it replaces while a savepoint
    /// is open.
    fn set_overlay(&mut self, key: (Cf, Vec<u8>), value: Option<Vec<u8>>) {
        match &mut self.savepoint {
            Some(sp) => {
                let before = self.overlay.insert(key.clone(), value);
                sp.replaced.push((key, before));
            }
            None => {
                self.overlay.insert(key, value);
            }
        }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn put(&mut self, cf: Cf, key: &[u8], value: &[u8]) {
        if cf == Cf::Gc {
            self.dead.push(key.to_vec());
        }
        match &mut self.savepoint {
            Some(sp) => sp.held.push(HeldWrite::Put(cf, key.to_vec(), value.to_vec())),
            None => self.store.batch_put(&mut self.batch, cf, key, value),
        }
        self.set_overlay((cf, key.to_vec()), Some(value.to_vec()));
        self.ops += 1;
    }

    pub fn delete(&mut self, cf: Cf, key: &[u8]) {
        match &mut self.savepoint {
            Some(sp) => sp.held.push(HeldWrite::Delete(cf, key.to_vec())),
            None => self.store.batch_delete(&mut self.batch, cf, key),
        }
        self.set_overlay((cf, key.to_vec()), None);
        self.ops += 1;
    }

    pub fn delete_range(&mut self, cf: Cf, from: &[u8], to: &[u8]) {
        match &mut self.savepoint {
            Some(sp) => sp.held.push(HeldWrite::DeleteRange(cf, from.to_vec(), to.to_vec())),
            None => self.store.batch_delete_range(&mut self.batch, cf, from, to),
        }
        let doomed: Vec<_> =
            self.overlay.range((cf, from.to_vec())..(cf, to.to_vec())).map(|(k, _)| k.clone()).collect();
        for k in doomed {
            let before = self.overlay.remove(&k);
            if let Some(sp) = &mut self.savepoint {
                sp.replaced.push((k, before));
            }
        }
        self.ranges.push((cf, from.to_vec(), to.to_vec()));
        self.ops += 1;
    }

    fn range_deleted(&self, cf: Cf, key: &[u8]) -> bool {
        self.ranges.iter().any(|(c, f, t)| *c == cf && key >= f.as_slice() && key < t.as_slice())
    }

    pub fn is_empty(&self) -> bool {
        self.ops == 0
    }

    /// Writes the batch (not synced) and starts a new one.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        self.keep();
        let batch = std::mem::take(&mut self.batch);
        self.overlay.clear();
        self.ranges.clear();
        self.store.ops_written.fetch_add(self.ops, Ordering::Relaxed);
        self.ops = 0;
        self.store.write(batch, false)?;
        self.store.gc.committed(std::mem::take(&mut self.dead));
        Ok(())
    }
}

impl KvRead for WriteCtx {
    fn get(&self, cf: Cf, key: &[u8]) -> Option<Vec<u8>> {
        if let Some(v) = self.overlay.get(&(cf, key.to_vec())) {
            return v.clone();
        }
        if self.range_deleted(cf, key) {
            return None;
        }
        self.store.get(cf, key)
    }

    fn scan(&self, cf: Cf, from: &[u8], to: &[u8], f: &mut dyn FnMut(&[u8], &[u8]) -> bool) {
        self.merged_scan(cf, from, to, false, f)
    }

    fn scan_rev(&self, cf: Cf, from: &[u8], to: &[u8], f: &mut dyn FnMut(&[u8], &[u8]) -> bool) {
        self.merged_scan(cf, from, to, true, f)
    }
}

impl WriteCtx {
    /// Merges the overlay's records in range with the database's, in either
    /// direction: the overlay wins on equal keys and hides range-deleted ones.
    fn merged_scan(&self, cf: Cf, from: &[u8], to: &[u8], reverse: bool, f: &mut dyn FnMut(&[u8], &[u8]) -> bool) {
        let range = self.overlay.range((cf, from.to_vec())..(cf, to.to_vec()));
        let mut over: Box<dyn Iterator<Item = OverlayItem<'_>>> =
            if reverse { Box::new(range.rev()) } else { Box::new(range) };
        let mut pending = over.next();
        // Overlay keys that come before `k` in scan order go first.
        let before = |a: &[u8], b: &[u8]| if reverse { a > b } else { a < b };
        let mut stopped = false;
        self.store.scan_db(None, cf, from, to, reverse, &mut |k, v| {
            while let Some(((_, ok), ov)) = pending {
                if !before(ok, k) && ok.as_slice() != k {
                    break;
                }
                let same = ok.as_slice() == k;
                if let Some(val) = ov {
                    if !f(ok, val) {
                        stopped = true;
                        return false;
                    }
                }
                pending = over.next();
                if same {
                    return true;
                }
            }
            if self.range_deleted(cf, k) {
                return true;
            }
            if !f(k, v) {
                stopped = true;
                return false;
            }
            true
        });
        if stopped {
            return;
        }
        while let Some(((_, ok), ov)) = pending {
            if let Some(val) = ov {
                if !f(ok, val) {
                    return;
                }
            }
            pending = over.next();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn memtable_entries(store: &Store, cf: Cf) -> u64 {
        store.db.property_int_value_cf(store.handle(cf), "rocksdb.num-entries-active-mem-table").unwrap().unwrap()
    }

    /// A seek that steps over many deleted records in the memtable flushes
    /// it at the next write (they are then dropped by compaction, not
    /// stepped over by every later seek): the active memtable empties, far
    /// before it is full.
    #[test]
    fn a_seek_over_many_deletions_flushes_the_memtable() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut b = store.new_batch();
        for i in 0..2000u32 {
            store.batch_put(&mut b, Cf::Data, format!("k{i:05}").as_bytes(), b"v");
        }
        for i in 0..1999u32 {
            store.batch_delete(&mut b, Cf::Data, format!("k{i:05}").as_bytes());
        }
        store.write(b, false).unwrap();
        assert_eq!(memtable_entries(&store, Cf::Data), 3999);
        let deadline = Instant::now() + Duration::from_secs(30);
        while memtable_entries(&store, Cf::Data) > 1 {
            assert!(Instant::now() < deadline, "the memtable was never flushed");
            let mut found = Vec::new();
            store.scan_db(None, Cf::Data, b"k", b"l", false, &mut |k, _| {
                found.push(k.to_vec());
                false
            });
            assert_eq!(found, vec![b"k01999".to_vec()]);
            // (A memtable marked for flush goes at the next write.)
            let mut b = store.new_batch();
            store.batch_put(&mut b, Cf::Data, b"other", b"v");
            store.write(b, false).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
