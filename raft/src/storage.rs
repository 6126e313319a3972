//! raft-rs `Storage` for one group over the node-wide WAL.
//!
//! The WAL holds only entries, hard states and log marks. What the state
//! machine has applied (index, term, ConfState) lives with the data in
//! RocksDB, so opening a group takes them from the caller: the log is made to
//! start no later than the applied index (a `Reset` mark is written when the
//! WAL knows nothing of the group or ends before it), and the initial commit
//! is `max(commit, applied)`.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use raft::eraftpb::{ConfState, Entry, EntryType, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, StorageError};
use std::sync::Arc;
use wal::{LogEntry, Wal, WalOp};

/// Supplies snapshots for `Storage::snapshot` (filled in by the node: SST
/// files plus a manifest). Without one, every request answers
/// `SnapshotTemporarilyUnavailable`.
pub trait SnapshotSource: Send + Sync {
    /// A snapshot with index >= `request_index` whose ConfState contains `to`,
    /// or `SnapshotTemporarilyUnavailable` after starting to build one.
    fn snapshot(&self, group: u64, request_index: u64, to: u64) -> raft::Result<Snapshot>;
}

pub struct WalStorage {
    group: u64,
    wal: Arc<Wal>,
    applied_index: u64,
    conf_state: ConfState,
    snapshots: Option<Arc<dyn SnapshotSource>>,
}

/// What the caller knows about a group from its state machine.
#[derive(Clone, Debug, Default)]
pub struct AppliedState {
    pub index: u64,
    pub term: u64,
    pub conf_state: ConfState,
}

impl WalStorage {
    pub fn open(
        wal: Arc<Wal>,
        group: u64,
        applied: AppliedState,
        snapshots: Option<Arc<dyn SnapshotSource>>,
    ) -> wal::Result<WalStorage> {
        let needs_mark = match wal.bounds(group) {
            None => applied.index > 0,
            Some((_, last)) => last < applied.index,
        };
        if needs_mark {
            // The log must cover the applied point: a fresh group, or a
            // state machine that is ahead of the log (a snapshot installed
            // but its WAL mark not yet written).
            wal.append(vec![WalOp::Reset { group, index: applied.index, term: applied.term }])?;
        }
        Ok(WalStorage { group, wal, applied_index: applied.index, conf_state: applied.conf_state, snapshots })
    }

    pub fn group(&self) -> u64 {
        self.group
    }

    pub fn wal(&self) -> &Arc<Wal> {
        &self.wal
    }

    /// Records the ConfState of an installed snapshot (raft-rs reads it from
    /// `initial_state` only when the group is (re)created).
    pub fn set_conf_state(&mut self, cs: ConfState) {
        self.conf_state = cs;
    }
}

fn storage_err(e: wal::Error) -> raft::Error {
    match e {
        wal::Error::Compacted { .. } => raft::Error::Store(StorageError::Compacted),
        wal::Error::Unavailable { .. } => raft::Error::Store(StorageError::Unavailable),
        other => raft::Error::Store(StorageError::Other(Box::new(other))),
    }
}

impl raft::Storage for WalStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        let mut hs = HardState::default();
        if let Some(w) = self.wal.hard_state(self.group) {
            hs.term = w.term;
            hs.vote = w.vote;
            hs.commit = w.commit;
        }
        // What was applied was committed, even if the hard state that said so
        // was not written yet.
        hs.commit = hs.commit.max(self.applied_index);
        // A group bootstrapped at (index, term) starts in that term, so that
        // its first leader's entries never carry a lower term than the mark.
        if let Ok(t) = self.wal.term(self.group, self.applied_index) {
            if hs.term < t {
                hs.term = t;
                hs.vote = 0;
            }
        }
        Ok(RaftState { hard_state: hs, conf_state: self.conf_state.clone() })
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        let es = self.wal.entries(self.group, low, high, max_size.into()).map_err(storage_err)?;
        Ok(es.into_iter().map(decode_entry).collect())
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx == 0 {
            return Ok(0);
        }
        self.wal.term(self.group, idx).map_err(storage_err)
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.wal.bounds(self.group).map_or(self.applied_index + 1, |(f, _)| f))
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.wal.bounds(self.group).map_or(self.applied_index, |(_, l)| l))
    }

    fn snapshot(&self, request_index: u64, to: u64) -> raft::Result<Snapshot> {
        match &self.snapshots {
            Some(s) => s.snapshot(self.group, request_index, to),
            None => Err(raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable)),
        }
    }
}

/// An entry as stored in the WAL: `[type u8][context len u32][context][data]`
/// (index and term are part of the WAL record itself).
pub fn encode_entry(e: &Entry) -> LogEntry {
    let mut b = BytesMut::with_capacity(5 + e.context.len() + e.data.len());
    b.put_u8(e.get_entry_type() as u8);
    b.put_u32_le(e.context.len() as u32);
    b.put_slice(&e.context);
    b.put_slice(&e.data);
    LogEntry { index: e.index, term: e.term, data: b.freeze() }
}

pub fn decode_entry(le: LogEntry) -> Entry {
    let mut e = Entry { index: le.index, term: le.term, ..Default::default() };
    let mut d: Bytes = le.data;
    if d.len() < 5 {
        // Not written by encode_entry: nothing sane to return.
        return e;
    }
    let ty = d.get_u8();
    e.set_entry_type(match ty {
        1 => EntryType::EntryConfChange,
        2 => EntryType::EntryConfChangeV2,
        _ => EntryType::EntryNormal,
    });
    let ctx_len = (d.get_u32_le() as usize).min(d.len());
    e.context = d.split_to(ctx_len);
    e.data = d;
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::Storage;

    #[test]
    fn entry_codec_round_trips() {
        let mut e = Entry { index: 7, term: 3, ..Default::default() };
        e.set_entry_type(EntryType::EntryConfChangeV2);
        e.context = Bytes::from_static(b"ctx");
        e.data = Bytes::from_static(b"payload");
        assert_eq!(decode_entry(encode_entry(&e)), e);
    }

    #[test]
    fn fresh_group_starts_at_applied_point() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Arc::new(Wal::open(dir.path(), wal::Options::default()).unwrap());
        let cs = ConfState::from((vec![1], vec![]));
        let applied = AppliedState { index: 5, term: 5, conf_state: cs.clone() };
        let s = WalStorage::open(wal.clone(), 9, applied.clone(), None).unwrap();
        assert_eq!(s.first_index().unwrap(), 6);
        assert_eq!(s.last_index().unwrap(), 5);
        assert_eq!(s.term(5).unwrap(), 5);
        let st = s.initial_state().unwrap();
        assert_eq!(st.hard_state.commit, 5);
        assert_eq!(st.conf_state, cs);
        // Reopening does not write another mark.
        let segs = wal.segments();
        let _ = WalStorage::open(wal.clone(), 9, applied, None).unwrap();
        assert_eq!(wal.segments(), segs);
    }
}
