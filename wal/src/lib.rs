//! One node-wide write-ahead log for the Raft entries, hard states and log
//! marks of any number of groups.
//!
//! * Segment files `<seq>.wal` (default 64 MiB) each start with a 16-byte
//!   header (magic, sequence number) followed by framed records (see
//!   [`record`]): length, CRC32, type, payload.
//! * [`Wal::append`] takes a batch of ops that may span many groups and returns
//!   once one `fdatasync` covers it. Concurrent appenders share fsyncs: while
//!   one thread writes and syncs, the next batches gather in the queue and the
//!   next syncer writes them all with one write and one fsync (group commit).
//!   [`Wal::append_unsynced`] writes without waiting for an fsync (records
//!   whose loss is harmless); the next synced append, or the rotation to a
//!   new segment, makes them durable in log order.
//! * Once the active segment is half full, the next one is prepared in the
//!   background (zero-filled to the full size and synced, see [`prepare`]) so
//!   that the fdatasyncs of appends into it flush only data. A segment that
//!   is not preallocated (a new log's first) gets one prepared at open and is
//!   left for it as soon as it is ready. Rotating cuts the old segment's
//!   unused zeros, so only the last segment ever ends in zeros.
//! * Reads come from the in-memory [`index`] and a bounded cache of recently
//!   appended entry data; uncached entries are read with one `pread` each.
//! * Open recovers: every segment is scanned to rebuild the index; a torn
//!   tail of the *last* segment is truncated (and logged), a tail of nothing
//!   but zeros there (a preallocated segment's unused part) is kept for the
//!   next records; any damage in an older segment is an error naming the
//!   file and offset.
//! * [`Wal::purge`] deletes the oldest segments once no group needs a record
//!   in them. A group that still has a record in the oldest segment (an idle
//!   group's hard state, a lagging group's few entries) would pin it forever:
//!   purge rewrites such a group's whole live state forward as one `Moved`
//!   record, which replaces the group's state at that point of the log and
//!   never means "truncate after". Only groups pinning a segment older than
//!   the newest closed one are moved: busy groups compact their logs within
//!   a segment's worth of writes, and moving them right after a rotation
//!   would rewrite entries about to be dropped. The bound: a group whose live log exceeds
//!   [`Options::move_limit`] is not moved and pins its segments until it is
//!   compacted (the node compacts each group's log up to its durable applied
//!   index, so this pin lasts only while that group is far behind).
//! * Any write or fsync error aborts the process: a failed fsync may have lost
//!   data the kernel already reported as written, so it is never retried and
//!   nothing it covered is acknowledged. Restart recovers from the files.

pub mod fs;
mod index;
mod prepare;
pub mod record;

use bytes::Bytes;
use fs::{FileSystem, OsFs, WalFile};
use index::{Index, Misfit};
use parking_lot::{Condvar, Mutex};
use prepare::Preparer;
use record::{DataSpan, MovedState, Op};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub use record::Op as WalOp;

/// One Raft log entry as the WAL sees it: index, term and opaque bytes (the
/// raft layer stores the encoded `eraftpb::Entry` there).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    pub index: u64,
    pub term: u64,
    pub data: Bytes,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardState {
    pub term: u64,
    pub vote: u64,
    pub commit: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("wal i/o on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("wal corrupt: {file} at offset {offset}: {reason}")]
    Corrupt { file: PathBuf, offset: u64, reason: String },
    #[error("wal: {0}")]
    Misfit(String),
    #[error("wal: group {group} index {index} is compacted")]
    Compacted { group: u64, index: u64 },
    #[error("wal: group {group} index {index} is not in the log")]
    Unavailable { group: u64, index: u64 },
}

pub type Result<T> = std::result::Result<T, Error>;

pub struct Options {
    /// A segment is closed and a new one started once it reaches this size.
    pub segment_size: u64,
    /// Bytes of recently appended entry data kept in memory.
    pub cache_bytes: usize,
    /// Purge rewrites a group forward only if its live log is at most this big.
    pub move_limit: u64,
    pub fs: Arc<dyn FileSystem>,
    /// Skips fdatasync. Unsafe: exists only so that tests can show that the
    /// crash test catches a WAL that does not sync.
    #[doc(hidden)]
    pub unsafe_skip_fsync: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            segment_size: 64 << 20,
            cache_bytes: 64 << 20,
            move_limit: 4 << 20,
            fs: Arc::new(OsFs),
            unsafe_skip_fsync: false,
        }
    }
}

const SEG_MAGIC: &[u8; 8] = b"KVWAL001";
const SEG_HEADER_LEN: u64 = 16;

fn segment_name(seq: u64) -> String {
    format!("{seq:020}.wal")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".wal")?;
    if stem.len() != 20 {
        return None;
    }
    stem.parse().ok()
}

/// Counters for metrics and benchmarks.
#[derive(Default)]
pub struct Stats {
    pub appends: AtomicU64,
    pub fsyncs: AtomicU64,
    pub bytes_written: AtomicU64,
    pub fsync_latency: LatencyHistogram,
}

/// A fixed-bucket latency histogram (upper bounds in microseconds), cheap to
/// update from the syncer and to render as Prometheus text.
pub struct LatencyHistogram {
    pub bounds_us: &'static [u64],
    pub counts: Vec<AtomicU64>,
    pub sum_us: AtomicU64,
    pub count: AtomicU64,
}

const LATENCY_BOUNDS_US: &[u64] =
    &[50, 100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000];

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            bounds_us: LATENCY_BOUNDS_US,
            counts: (0..=LATENCY_BOUNDS_US.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

impl LatencyHistogram {
    pub fn record(&self, us: u64) {
        let i = self.bounds_us.iter().position(|b| us <= *b).unwrap_or(self.bounds_us.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

enum Body {
    /// `sync`: the caller waits until an fdatasync covers the batch.
    Batch { ops: Vec<Op>, sync: bool },
    /// Rewrite these groups' live state forward (purge).
    Move(Vec<u64>),
}

struct Queue {
    pending: Vec<(u64, Body)>,
    next_ticket: u64,
    /// Every ticket up to this one has been written and synced.
    done_ticket: u64,
    syncing: bool,
    /// Requests that failed validation (their ops were not written).
    failed: HashMap<u64, Error>,
}

struct Active {
    seq: u64,
    file: Arc<dyn WalFile>,
    /// Where the log ends: the next record goes here.
    size: u64,
    /// The file's length: more than `size` in a preallocated segment, whose
    /// rest is zeros.
    allocated: u64,
    /// Written records that no fdatasync covers yet (unsynced appends).
    unsynced: bool,
}

struct State {
    index: Index,
    segments: BTreeMap<u64, Arc<dyn WalFile>>,
    active_seq: u64,
}

pub struct Wal {
    dir: PathBuf,
    opts: Options,
    state: Mutex<State>,
    queue: Mutex<Queue>,
    queue_cond: Condvar,
    active: Mutex<Active>,
    preparer: Preparer,
    pub stats: Stats,
}

fn fatal(what: &str, path: &Path, err: &io::Error) -> ! {
    tracing::error!("wal {what} failed on {}: {err}; aborting", path.display());
    eprintln!(
        "FATAL: wal {what} failed on {}: {err}. The process aborts: a failed write or fsync is never \
         retried or acknowledged; restart recovers from the log.",
        path.display()
    );
    std::process::abort()
}

impl Wal {
    /// Opens (recovering) or creates the WAL in `dir`.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Wal> {
        let dir = dir.as_ref().to_path_buf();
        let fs = opts.fs.clone();
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        fs.create_dir_all(&dir).map_err(io_err(&dir))?;
        let names = fs.list(&dir).map_err(io_err(&dir))?;
        let preparer = Preparer::new(fs.clone(), &dir, opts.segment_size);
        if names.iter().any(|n| n == prepare::PREPARED_NAME) {
            // A crash while preparing a segment: it was never part of the log.
            fs.remove(preparer.path()).map_err(io_err(preparer.path()))?;
        }
        let mut seqs: Vec<u64> = names.iter().filter_map(|n| parse_segment_name(n)).collect();
        seqs.sort_unstable();

        let mut index = Index::new(opts.cache_bytes);
        let mut segments = BTreeMap::new();
        let mut active: Option<Active> = None;
        for (i, &seq) in seqs.iter().enumerate() {
            let path = dir.join(segment_name(seq));
            let last = i + 1 == seqs.len();
            let file = fs.open(&path).map_err(io_err(&path))?;
            let (size, allocated) = recover_segment(&path, seq, &*file, last, &mut index)?;
            segments.insert(seq, file.clone());
            if last {
                // What the last run wrote after its last fsync may sit only in the
                // page cache: treat it as unsynced.
                active = Some(Active { seq, file, size, allocated, unsynced: true });
            }
        }
        let active = match active {
            Some(a) => a,
            None => {
                let a = create_segment(&*fs, &dir, 1)?;
                segments.insert(a.seq, a.file.clone());
                a
            }
        };
        let active_seq = active.seq;
        if active.allocated <= active.size {
            preparer.kick();
        }
        Ok(Wal {
            dir,
            opts,
            state: Mutex::new(State { index, segments, active_seq }),
            queue: Mutex::new(Queue {
                pending: Vec::new(),
                next_ticket: 1,
                done_ticket: 0,
                syncing: false,
                failed: HashMap::new(),
            }),
            queue_cond: Condvar::new(),
            active: Mutex::new(active),
            preparer,
            stats: Stats::default(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `ops` and returns once they are durable (one fdatasync, shared
    /// with concurrent appenders). An op that does not fit its group's log
    /// (a gap, an append below the compaction mark) fails the whole batch
    /// before anything of it is written.
    pub fn append(&self, ops: Vec<Op>) -> Result<()> {
        self.append_batch(ops, true)
    }

    /// Writes `ops` without waiting for an fdatasync: they are readable at
    /// once and become durable with the next synced append (or segment
    /// rotation), in log order. For records whose loss in a crash is
    /// harmless, like a hard state that only raised the commit index (raft
    /// needs only term and vote to survive; the commit is learned again).
    pub fn append_unsynced(&self, ops: Vec<Op>) -> Result<()> {
        self.append_batch(ops, false)
    }

    fn append_batch(&self, ops: Vec<Op>, sync: bool) -> Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        self.stats.appends.fetch_add(1, Ordering::Relaxed);
        self.submit(Body::Batch { ops, sync })
    }

    fn submit(&self, body: Body) -> Result<()> {
        let mut q = self.queue.lock();
        let ticket = q.next_ticket;
        q.next_ticket += 1;
        q.pending.push((ticket, body));
        loop {
            if q.done_ticket >= ticket {
                return match q.failed.remove(&ticket) {
                    Some(e) => Err(e),
                    None => Ok(()),
                };
            }
            if !q.syncing {
                // Become the syncer for everything queued so far.
                q.syncing = true;
                let work = std::mem::take(&mut q.pending);
                let last_ticket = work.last().map(|(t, _)| *t).unwrap_or(q.done_ticket);
                drop(q);
                let failed = self.write_round(work);
                q = self.queue.lock();
                q.syncing = false;
                q.done_ticket = last_ticket;
                q.failed.extend(failed);
                self.queue_cond.notify_all();
                continue;
            }
            self.queue_cond.wait(&mut q);
        }
    }

    /// Writes one round of requests with one write and one fsync. Index
    /// updates happen as each request is encoded; entries of this round stay
    /// cached until it is written, so readers never look for them on disk
    /// early.
    fn write_round(&self, work: Vec<(u64, Body)>) -> Vec<(u64, Error)> {
        let mut active = self.active.lock();
        // A segment that is not preallocated (a new log's first, or one whose
        // torn tail recovery cut) is left as soon as a prepared one is ready.
        let appending_at_eof = active.allocated <= active.size;
        if active.size >= self.opts.segment_size || (appending_at_eof && self.preparer.is_ready()) {
            self.rotate(&mut active);
        }
        let mut buf: Vec<u8> = Vec::new();
        let mut failed = Vec::new();
        let mut spans = Vec::new();
        let sync = work.iter().any(|(_, body)| !matches!(body, Body::Batch { sync: false, .. }));
        for (ticket, body) in work {
            let mut st = self.state.lock();
            let ops = match body {
                Body::Batch { ops, .. } => {
                    if let Err(Misfit(m)) = check_batch(&st.index, &ops) {
                        failed.push((ticket, Error::Misfit(m)));
                        continue;
                    }
                    ops
                }
                Body::Move(groups) => match self.moved_ops(&st, &groups) {
                    Ok(ops) => ops,
                    Err(e) => {
                        failed.push((ticket, e));
                        continue;
                    }
                },
            };
            for op in ops {
                spans.clear();
                record::encode(&mut buf, &op, &mut spans);
                for s in spans.iter_mut() {
                    s.offset += active.size;
                }
                if let Err(Misfit(m)) = st.index.apply(op, active.seq, &spans, true) {
                    // check_batch passed, so this is a bug; the record is already
                    // encoded and would fail recovery the same way.
                    fatal("index update", &self.dir, &io::Error::other(m));
                }
            }
        }
        if !buf.is_empty() {
            let path = self.dir.join(segment_name(active.seq));
            if let Err(e) = active.file.write_at(&buf, active.size) {
                fatal("write", &path, &e);
            }
            active.size += buf.len() as u64;
            active.allocated = active.allocated.max(active.size);
            self.stats.bytes_written.fetch_add(buf.len() as u64, Ordering::Relaxed);
            if sync {
                self.sync(&*active.file, &path);
                active.unsynced = false;
            } else {
                active.unsynced = true;
            }
        }
        self.state.lock().index.evict_to_budget();
        if active.size.saturating_mul(2) >= self.opts.segment_size {
            self.preparer.kick();
        }
        failed
    }

    fn sync(&self, file: &dyn WalFile, path: &Path) {
        if self.opts.unsafe_skip_fsync {
            return;
        }
        let t = Instant::now();
        if let Err(e) = file.sync_data() {
            fatal("fdatasync", path, &e);
        }
        self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.stats.fsync_latency.record(t.elapsed().as_micros() as u64);
    }

    fn rotate(&self, active: &mut Active) {
        // Only the last segment may end torn or in zeros (recovery truncates
        // it): an older one must end with its last record, synced.
        let old = self.dir.join(segment_name(active.seq));
        if active.allocated > active.size {
            // truncate also syncs the records before the cut.
            if let Err(e) = active.file.truncate(active.size) {
                fatal("truncate", &old, &e);
            }
        } else if active.unsynced {
            self.sync(&*active.file, &old);
        }
        let next = active.seq + 1;
        let created = match self.preparer.take() {
            Some(file) => install_prepared(&*self.opts.fs, &self.dir, self.preparer.path(), file, next),
            None => create_segment(&*self.opts.fs, &self.dir, next),
        };
        match created {
            Ok(a) => {
                let mut st = self.state.lock();
                st.segments.insert(a.seq, a.file.clone());
                st.active_seq = a.seq;
                *active = a;
            }
            Err(Error::Io { path, source }) => fatal("segment creation", &path, &source),
            Err(e) => fatal("segment creation", &self.dir, &io::Error::other(e.to_string())),
        }
    }

    /// Builds the `Moved` ops for `groups` from the index (reading entry data
    /// that is not cached).
    fn moved_ops(&self, st: &State, groups: &[u64]) -> Result<Vec<Op>> {
        let mut ops = Vec::new();
        for &group in groups {
            let Some(g) = st.index.groups.get(&group) else {
                continue;
            };
            let mut entries = Vec::with_capacity(g.entries.len());
            for (i, slot) in g.entries.iter().enumerate() {
                let data = match &slot.data {
                    Some(d) => d.clone(),
                    None => self.read_loc(st, slot.loc)?,
                };
                entries.push(LogEntry { index: g.first + i as u64, term: slot.term, data });
            }
            ops.push(Op::Moved(MovedState {
                group,
                mark_index: g.mark_index,
                mark_term: g.mark_term,
                hard_state: g.hard_state.map(|(hs, _)| hs),
                entries,
            }));
        }
        Ok(ops)
    }

    fn read_loc(&self, st: &State, loc: index::Loc) -> Result<Bytes> {
        let file = st.segments.get(&loc.seg).cloned();
        read_at(&self.dir, file, loc)
    }

    /// Entries `[lo, hi)` of `group`, at most `max_bytes` of data but always at
    /// least one entry.
    pub fn entries(&self, group: u64, lo: u64, hi: u64, max_bytes: Option<u64>) -> Result<Vec<LogEntry>> {
        let mut out: Vec<(u64, u64, Result<Bytes>)> = Vec::new();
        let mut reads = Vec::new();
        {
            let st = self.state.lock();
            let Some(g) = st.index.groups.get(&group) else {
                return Err(Error::Unavailable { group, index: lo });
            };
            if lo < g.first_index() {
                return Err(Error::Compacted { group, index: lo });
            }
            if hi > g.last_index() + 1 {
                return Err(Error::Unavailable { group, index: hi - 1 });
            }
            let mut size = 0u64;
            for index in lo..hi {
                let slot = g.slot(index).expect("index within range");
                size += slot.loc.len as u64;
                if !out.is_empty() && max_bytes.is_some_and(|m| size > m) {
                    break;
                }
                match &slot.data {
                    Some(d) => out.push((index, slot.term, Ok(d.clone()))),
                    None => {
                        reads.push((out.len(), st.segments.get(&slot.loc.seg).cloned(), slot.loc));
                        out.push((index, slot.term, Ok(Bytes::new())));
                    }
                }
            }
        }
        for (pos, file, loc) in reads {
            out[pos].2 = read_at(&self.dir, file, loc);
        }
        out.into_iter().map(|(index, term, data)| Ok(LogEntry { index, term, data: data? })).collect()
    }

    /// The term of entry `index`; the mark's term for the index just before
    /// the first entry.
    pub fn term(&self, group: u64, index: u64) -> Result<u64> {
        let st = self.state.lock();
        let Some(g) = st.index.groups.get(&group) else {
            return Err(Error::Unavailable { group, index });
        };
        if let Some(s) = g.slot(index) {
            return Ok(s.term);
        }
        if index == g.mark_index && g.mark_seg.is_some() {
            return Ok(g.mark_term);
        }
        if index < g.first_index() {
            Err(Error::Compacted { group, index })
        } else {
            Err(Error::Unavailable { group, index })
        }
    }

    /// (first index, last index) of the group's log; `None` for an unknown
    /// group. An empty log has last = first - 1.
    pub fn bounds(&self, group: u64) -> Option<(u64, u64)> {
        let st = self.state.lock();
        st.index.groups.get(&group).map(|g| (g.first_index(), g.last_index()))
    }

    /// The mark (compaction or snapshot point) of the group: (index, term).
    pub fn mark(&self, group: u64) -> Option<(u64, u64)> {
        let st = self.state.lock();
        st.index.groups.get(&group).and_then(|g| g.mark_seg.map(|_| (g.mark_index, g.mark_term)))
    }

    pub fn hard_state(&self, group: u64) -> Option<HardState> {
        let st = self.state.lock();
        st.index.groups.get(&group).and_then(|g| g.hard_state.map(|(hs, _)| hs))
    }

    /// Groups with any state in the log.
    pub fn groups(&self) -> Vec<u64> {
        self.state.lock().index.groups.keys().copied().collect()
    }

    /// Segment sequence numbers currently on disk (for tests and metrics).
    pub fn segments(&self) -> Vec<u64> {
        self.state.lock().segments.keys().copied().collect()
    }

    /// True while a prepared (zero-filled) next segment waits for the
    /// rotation; preparation starts once the active segment is half full.
    pub fn next_segment_ready(&self) -> bool {
        self.preparer.is_ready()
    }

    pub fn cached_bytes(&self) -> usize {
        self.state.lock().index.cached_bytes()
    }

    /// Deletes segments no group needs, rewriting small groups that pin a
    /// segment older than the newest closed one forward first. Returns how
    /// many segments were deleted.
    pub fn purge(&self) -> Result<usize> {
        let mut deleted = 0;
        // Each pass frees at least the oldest segment or stops.
        for _ in 0..64 {
            let to_move = {
                let st = self.state.lock();
                let Some(&oldest) = st.segments.keys().next() else {
                    break;
                };
                if oldest >= st.active_seq {
                    break;
                }
                // The newest closed segment holds what busy groups wrote
                // just before the rotation; they compact their logs long
                // before the active segment fills, and the segment is then
                // deleted as it is. Moving them now would rewrite entries
                // about to be dropped. Only groups that still pin a segment
                // after a further rotation (idle or lagging ones) are moved.
                let newest_closed = st.segments.range(..st.active_seq).next_back().map(|(s, _)| *s);
                if newest_closed == Some(oldest) {
                    Vec::new()
                } else {
                    let pinners: Vec<(u64, u64)> = st
                        .index
                        .groups
                        .iter()
                        .filter(|(_, g)| g.min_seg() == Some(oldest))
                        .map(|(id, g)| (*id, g.live_bytes()))
                        .collect();
                    if pinners.iter().any(|(_, b)| *b > self.opts.move_limit) {
                        break;
                    }
                    pinners.into_iter().map(|(id, _)| id).collect::<Vec<_>>()
                }
            };
            if !to_move.is_empty() {
                self.submit(Body::Move(to_move))?;
            }
            let n = self.delete_unneeded()?;
            if n == 0 {
                break;
            }
            deleted += n;
        }
        Ok(deleted)
    }

    fn delete_unneeded(&self) -> Result<usize> {
        let doomed: Vec<(u64, PathBuf)> = {
            let mut st = self.state.lock();
            let min_live = st.index.groups.values().filter_map(|g| g.min_seg()).min().unwrap_or(u64::MAX);
            let limit = min_live.min(st.active_seq);
            let doomed: Vec<u64> = st.segments.range(..limit).map(|(s, _)| *s).collect();
            for s in &doomed {
                st.segments.remove(s);
            }
            doomed.into_iter().map(|s| (s, self.dir.join(segment_name(s)))).collect()
        };
        for (_, path) in &doomed {
            self.opts.fs.remove(path).map_err(|source| Error::Io { path: path.clone(), source })?;
        }
        if !doomed.is_empty() {
            self.opts.fs.sync_dir(&self.dir).map_err(|source| Error::Io { path: self.dir.clone(), source })?;
            tracing::debug!("wal purged {} segment(s)", doomed.len());
        }
        Ok(doomed.len())
    }
}

fn read_at(dir: &Path, file: Option<Arc<dyn WalFile>>, loc: index::Loc) -> Result<Bytes> {
    let path = dir.join(segment_name(loc.seg));
    let Some(file) = file else {
        return Err(Error::Io { path, source: io::Error::other("segment already purged") });
    };
    let mut buf = vec![0u8; loc.len as usize];
    file.read_at(&mut buf, loc.offset).map_err(|source| Error::Io { path, source })?;
    Ok(Bytes::from(buf))
}

/// Validates a batch against the index, following the batch's own effect on
/// each group's last index so that several ops for one group may share a batch.
fn check_batch(index: &Index, ops: &[Op]) -> std::result::Result<(), Misfit> {
    let mut last: HashMap<u64, u64> = HashMap::new();
    for op in ops {
        if let Op::Entries { group, entries } = op {
            if let (Some(&l), Some(first)) = (last.get(group), entries.first()) {
                if first.index > l + 1 {
                    return Err(Misfit(format!("group {group}: append at {} leaves a gap after {l}", first.index)));
                }
            } else {
                index.check(op)?;
            }
            if let Some(e) = entries.last() {
                last.insert(*group, e.index);
            }
        } else if let Op::Reset { group, index: i, .. } = op {
            last.insert(*group, *i);
        } else if !last.contains_key(&op.group()) {
            index.check(op)?;
        }
    }
    Ok(())
}

fn create_segment(fs: &dyn FileSystem, dir: &Path, seq: u64) -> Result<Active> {
    let path = dir.join(segment_name(seq));
    let file = fs.create(&path).map_err(|source| Error::Io { path: path.clone(), source })?;
    start_segment(fs, dir, &path, file, seq)
}

/// Renames a prepared (zero-filled, synced) file into place as segment `seq`.
/// A crash after the rename leaves an all-zero last segment, which recovery
/// starts again like a torn creation.
fn install_prepared(
    fs: &dyn FileSystem,
    dir: &Path,
    prepared: &Path,
    file: Arc<dyn WalFile>,
    seq: u64,
) -> Result<Active> {
    let path = dir.join(segment_name(seq));
    fs.rename(prepared, &path).map_err(|source| Error::Io { path: path.clone(), source })?;
    start_segment(fs, dir, &path, file, seq)
}

/// Writes and syncs the header of a new segment and makes its name durable.
fn start_segment(fs: &dyn FileSystem, dir: &Path, path: &Path, file: Arc<dyn WalFile>, seq: u64) -> Result<Active> {
    let io_err = |source| Error::Io { path: path.to_path_buf(), source };
    file.write_at(&segment_header(seq), 0).map_err(io_err)?;
    file.sync_data().map_err(io_err)?;
    fs.sync_dir(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
    let allocated = file.len().map_err(io_err)?;
    Ok(Active { seq, file, size: SEG_HEADER_LEN, allocated, unsynced: false })
}

fn segment_header(seq: u64) -> Vec<u8> {
    let mut header = Vec::with_capacity(SEG_HEADER_LEN as usize);
    header.extend_from_slice(SEG_MAGIC);
    header.extend_from_slice(&seq.to_le_bytes());
    header
}

/// Replays one segment into the index; returns where its log ends (after
/// truncating a torn tail) and the file's length (more when a preallocated
/// segment's zeros are kept).
fn recover_segment(path: &Path, seq: u64, file: &dyn WalFile, last: bool, index: &mut Index) -> Result<(u64, u64)> {
    let io_err = |source| Error::Io { path: path.to_path_buf(), source };
    let len = file.len().map_err(io_err)?;
    let mut buf = vec![0u8; len as usize];
    file.read_at(&mut buf, 0).map_err(io_err)?;
    let corrupt = |offset: u64, reason: String| Error::Corrupt { file: path.to_path_buf(), offset, reason };

    let header_ok =
        len >= SEG_HEADER_LEN && &buf[..8] == SEG_MAGIC && u64::from_le_bytes(buf[8..16].try_into().unwrap()) == seq;
    if !header_ok {
        if last && (len < SEG_HEADER_LEN || buf.iter().all(|b| *b == 0)) {
            // Creation of the newest segment was torn: start it again.
            tracing::warn!("wal: rewriting the torn header of {}", path.display());
            file.truncate(0).map_err(io_err)?;
            file.write_at(&segment_header(seq), 0).map_err(io_err)?;
            file.sync_data().map_err(io_err)?;
            return Ok((SEG_HEADER_LEN, SEG_HEADER_LEN));
        }
        return Err(corrupt(0, "bad segment header".into()));
    }

    let mut pos = SEG_HEADER_LEN as usize;
    while pos < buf.len() {
        let failure = match record::read_frame(&buf[pos..]) {
            Ok(frame) => match record::decode(&frame) {
                Ok(d) => {
                    let payload_start = (pos + record::HEADER_LEN) as u64;
                    let spans: Vec<DataSpan> =
                        d.spans.iter().map(|s| DataSpan { offset: payload_start + s.offset, len: s.len }).collect();
                    if let Err(Misfit(m)) = index.apply(d.op, seq, &spans, false) {
                        return Err(corrupt(pos as u64, m));
                    }
                    pos += frame.framed_len;
                    continue;
                }
                Err(e) => e,
            },
            Err(e) => e,
        };
        if last && buf[pos..].iter().all(|b| *b == 0) {
            // The unused rest of a preallocated segment (or a tail whose
            // records never reached the disk): nothing but zeros, so new
            // records may go right here and the preallocation stays.
            return Ok((pos as u64, len));
        }
        if last {
            tracing::warn!(
                "wal: truncating the torn tail of {} at offset {pos} ({} bytes dropped: {failure:?})",
                path.display(),
                buf.len() - pos
            );
            file.truncate(pos as u64).map_err(io_err)?;
            return Ok((pos as u64, pos as u64));
        }
        return Err(corrupt(pos as u64, format!("{failure:?}")));
    }
    Ok((pos as u64, len))
}
