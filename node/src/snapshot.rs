//! Partition snapshots on this node: building them for raft-rs (the
//! [`SnapshotSource`] hook), serving their files to receivers, pulling the
//! files of a snapshot sent to us, and installing one (called by the state
//! machine on the driver thread; see `sm.rs`).
//!
//! A snapshot of a partition is one SST file per column family of the
//! partition's key range (plus its per-slot removal records), written from
//! one RocksDB snapshot, and a [`Manifest`] with the partition state record
//! of that same view (its applied index and term, ConfState, counters).

use crate::keys;
use crate::state::{partition_key, removal_key, PartitionState};
use crate::store::{Cf, KvRead, Store};
use bytes::Bytes;
use kvraft::raft::eraftpb::{Snapshot, SnapshotMetadata};
use kvraft::raft::{self, StorageError};
use kvraft::{SnapshotSource, Transport};
use parking_lot::Mutex;
use prost::Message;
use snap::{Manifest, SnapMsg, SnapMsgKind};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// The column families a partition's data lives in, and their file names.
const DATA_CFS: [(Cf, &str); 4] =
    [(Cf::Meta, "meta.sst"), (Cf::Data, "data.sst"), (Cf::Expire, "expire.sst"), (Cf::Gc, "gc.sst")];
const REMOVALS_FILE: &str = "removals.sst";

/// `a/<group>`: the manifest of a snapshot being installed (state Applying).
pub fn applying_key(group: u64) -> Vec<u8> {
    let mut k = b"a/".to_vec();
    k.extend_from_slice(&group.to_be_bytes());
    k
}

/// Where a partition's keys live: (namespace, slots [lo, hi)).
pub type Range = (u32, (u32, u32));

fn ranges_of(ns: u32, slots: (u32, u32)) -> Vec<(Cf, &'static str, Vec<u8>, Vec<u8>)> {
    let mut v: Vec<(Cf, &'static str, Vec<u8>, Vec<u8>)> = DATA_CFS
        .iter()
        .map(|(cf, name)| (*cf, *name, keys::slot_start(ns, slots.0), keys::slot_start(ns, slots.1)))
        .collect();
    v.push((Cf::State, REMOVALS_FILE, removal_key(ns, slots.0 as u16), removal_key(ns, slots.1 as u16)));
    v
}

/// Where the answer to one file-chunk request goes.
type FetchReply = oneshot::Sender<Result<Vec<u8>, String>>;

pub struct Snapshots {
    me: std::sync::Weak<Snapshots>,
    store: Arc<Store>,
    /// Built snapshots (`<data>/snap/<name>`) and received ones (`<data>/snap-recv/<name>`).
    built_dir: PathBuf,
    recv_dir: PathBuf,
    rt: tokio::runtime::Handle,
    ranges: HashMap<u64, Range>,
    built: Mutex<HashMap<u64, Arc<(Manifest, PathBuf)>>>,
    building: Mutex<HashSet<u64>>,
    transport: Arc<Transport>,
    next_id: AtomicU64,
    fetches: Mutex<HashMap<u64, FetchReply>>,
    /// Receive rate limit in bytes per second (0: none).
    pub bandwidth: u64,
    pub stats: SnapshotStats,
}

#[derive(Default)]
pub struct SnapshotStats {
    pub built: AtomicU64,
    pub installed: AtomicU64,
    pub bytes_received: AtomicU64,
    pub files_resumed: AtomicU64,
    pub pulls_failed: AtomicU64,
}

impl Snapshots {
    pub fn new(
        store: Arc<Store>,
        data_dir: &Path,
        ranges: HashMap<u64, Range>,
        transport: Arc<Transport>,
        bandwidth: u64,
    ) -> Arc<Snapshots> {
        Arc::new_cyclic(|me| Snapshots {
            me: me.clone(),
            store,
            built_dir: data_dir.join("snap"),
            recv_dir: data_dir.join("snap-recv"),
            rt: tokio::runtime::Handle::current(),
            ranges,
            built: Mutex::default(),
            building: Mutex::default(),
            transport,
            next_id: AtomicU64::new(1),
            fetches: Mutex::default(),
            bandwidth,
            stats: SnapshotStats::default(),
        })
    }

    pub fn recv_path(&self, m: &Manifest) -> PathBuf {
        self.recv_dir.join(snap::snapshot_dir_name(m.group, m.index, m.term))
    }

    /// Builds a snapshot of `group` from one RocksDB snapshot (blocking).
    fn build(&self, group: u64) -> Result<(Manifest, PathBuf), String> {
        let &(ns, slots) = self.ranges.get(&group).ok_or("unknown group")?;
        let view = self.store.read_view();
        let st = view
            .get(Cf::State, &partition_key(group))
            .and_then(|v| PartitionState::decode(v.as_slice()).ok())
            .ok_or("no partition state")?;
        let name = snap::snapshot_dir_name(group, st.applied_index, st.applied_term);
        let dir = self.built_dir.join(&name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut names = Vec::new();
        for (cf, file, from, to) in ranges_of(ns, slots) {
            if self.store.write_sst(&view, cf, &from, &to, &dir.join(file)).map_err(|e| e.to_string())? {
                names.push(file.to_string());
            }
        }
        drop(view);
        let files = snap::describe(&dir, &names).map_err(|e| e.to_string())?;
        let m = Manifest {
            group,
            index: st.applied_index,
            term: st.applied_term,
            conf_state: st.conf_state.clone(),
            state: Bytes::from(st.encode_to_vec()),
            files,
        };
        Ok((m, dir))
    }

    fn to_raft(m: &Manifest) -> Snapshot {
        let mut s = Snapshot::default();
        let mut md = SnapshotMetadata { index: m.index, term: m.term, ..Default::default() };
        md.set_conf_state(crate::state::decode_conf_state(&m.conf_state));
        s.set_metadata(md);
        s.data = m.encode_to_vec().into();
        s
    }

    /// Serves a receiver's request for a chunk of one of our built snapshots.
    fn serve_fetch(&self, from_node: u64, req: SnapMsg) {
        let name = snap::snapshot_dir_name(req.group, req.index, req.term);
        let dir = self.built_dir.join(&name);
        let mut reply = SnapMsg { kind: SnapMsgKind::Chunk as i32, id: req.id, ..Default::default() };
        match snap::read_chunk(&dir, &req.file, req.offset, req.len) {
            Ok(d) => reply.data = d.into(),
            Err(e) => reply.error = e.to_string(),
        }
        if let Err(e) = self.transport.send_snapshot(from_node, Bytes::from(reply.encode_to_vec())) {
            tracing::debug!("snapshot chunk to node {from_node}: {e}");
        }
    }

    /// Handles a snapshot-lane message other than a status report.
    pub fn on_message(self: &Arc<Self>, from_node: u64, m: SnapMsg) {
        match SnapMsgKind::try_from(m.kind) {
            Ok(SnapMsgKind::Fetch) => {
                let me = self.clone();
                // File reads off the transport task.
                self.rt.spawn_blocking(move || me.serve_fetch(from_node, m));
            }
            Ok(SnapMsgKind::Chunk) => {
                if let Some(tx) = self.fetches.lock().remove(&m.id) {
                    let _ = tx.send(if m.error.is_empty() { Ok(m.data.to_vec()) } else { Err(m.error) });
                }
            }
            _ => {}
        }
    }

    async fn fetch(&self, node: u64, m: &Manifest, file: String, offset: u64, len: u64) -> Result<Vec<u8>, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.fetches.lock().insert(id, tx);
        let req = SnapMsg {
            kind: SnapMsgKind::Fetch as i32,
            id,
            group: m.group,
            index: m.index,
            term: m.term,
            file,
            offset,
            len,
            ..Default::default()
        };
        if let Err(e) = self.transport.send_snapshot(node, Bytes::from(req.encode_to_vec())) {
            self.fetches.lock().remove(&id);
            return Err(e.to_string());
        }
        match tokio::time::timeout(Duration::from_secs(10), rx).await {
            Ok(Ok(r)) => {
                if let Ok(d) = &r {
                    self.stats.bytes_received.fetch_add(d.len() as u64, Ordering::Relaxed);
                }
                r
            }
            _ => {
                self.fetches.lock().remove(&id);
                Err("no chunk within 10s".into())
            }
        }
    }

    /// Pulls the files of a snapshot sent by `node` (resuming what an
    /// earlier attempt left).
    pub async fn pull(&self, node: u64, m: &Manifest) -> Result<(), String> {
        let dir = self.recv_path(m);
        let stats = snap::pull(m, &dir, self.bandwidth, |file, offset, len| self.fetch(node, m, file, offset, len))
            .await
            .map_err(|e| e.to_string())?;
        self.stats.files_resumed.fetch_add(stats.files_resumed as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Tells the leader's node how the snapshot to `to_replica` went.
    pub fn report(&self, node: u64, group: u64, to_replica: u64, ok: bool) {
        let m = SnapMsg { kind: SnapMsgKind::Status as i32, group, to_replica, ok, ..Default::default() };
        let _ = self.transport.send_snapshot(node, Bytes::from(m.encode_to_vec()));
    }
}

impl SnapshotSource for Snapshots {
    /// Reuses the latest built snapshot if it is new enough and its members
    /// include `to`; otherwise starts building one in the background.
    fn snapshot(&self, group: u64, request_index: u64, to: u64) -> raft::Result<Snapshot> {
        if let Some(b) = self.built.lock().get(&group).cloned() {
            let cs = crate::state::decode_conf_state(&b.0.conf_state);
            if b.0.index >= request_index && (cs.voters.contains(&to) || cs.learners.contains(&to)) {
                return Ok(Self::to_raft(&b.0));
            }
        }
        if self.building.lock().insert(group) {
            let me: Arc<Snapshots> = self.self_arc();
            self.rt.spawn_blocking(move || {
                match me.build(group) {
                    Ok((m, dir)) => {
                        tracing::info!(
                            "group {group}: built a snapshot at index {} ({} files)",
                            m.index,
                            m.files.len()
                        );
                        me.stats.built.fetch_add(1, Ordering::Relaxed);
                        let old = me.built.lock().insert(group, Arc::new((m, dir.clone())));
                        if let Some(old) = old {
                            if old.1 != dir {
                                let _ = std::fs::remove_dir_all(&old.1);
                            }
                        }
                    }
                    Err(e) => tracing::warn!("group {group}: building a snapshot: {e}"),
                }
                me.building.lock().remove(&group);
            });
        }
        Err(raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable))
    }
}

impl Snapshots {
    fn self_arc(&self) -> Arc<Snapshots> {
        self.me.upgrade().expect("snapshots are alive while the driver runs")
    }
}

/// Steps (1) and (2) of installing a snapshot: the partition's state
/// becomes `Applying` with the manifest kept beside it (synced), then its
/// key range is deleted and the files are ingested. Returns the state to
/// record once the WAL mark is written (step 4). Idempotent: a node that
/// restarts in `Applying` runs it again.
pub fn install_data(store: &Store, recv_root: &Path, replica_id: u64, m: &Manifest) -> Result<PartitionState, String> {
    let mut st = PartitionState::decode(m.state.as_ref()).map_err(|e| format!("snapshot state: {e}"))?;
    st.replica_id = replica_id;
    st.applied_index = m.index;
    st.applied_term = m.term;
    st.conf_state = m.conf_state.clone();
    st.status = crate::state::ReplicaStatus::Applying as i32;
    let mut b = store.new_batch();
    store.batch_put(&mut b, Cf::State, &partition_key(m.group), &st.encode_to_vec());
    store.batch_put(&mut b, Cf::State, &applying_key(m.group), &m.encode_to_vec());
    store.write(b, true).map_err(|e| e.to_string())?;
    let dir = recv_root.join(snap::snapshot_dir_name(m.group, m.index, m.term));
    let mut b = store.new_batch();
    delete_partition_data(store, &mut b, st.ns, (st.slot_lo, st.slot_hi));
    store.write(b, true).map_err(|e| e.to_string())?;
    for (cf, file, _, _) in ranges_of(st.ns, (st.slot_lo, st.slot_hi)) {
        if m.files.iter().any(|f| f.name == file) {
            store.ingest(cf, &[dir.join(file)]).map_err(|e| format!("ingesting {file}: {e}"))?;
        }
    }
    // Tests stop the node here: data replaced, state still Applying.
    crate::failpoint::crash_point("snapshot-after-ingest");
    Ok(st)
}

/// Adds to `b` the deletion of all of a partition's data (keys and their
/// per-slot removal records; not its state record).
pub fn delete_partition_data(store: &Store, b: &mut rocksdb::WriteBatch, ns: u32, slots: (u32, u32)) {
    for (cf, _, from, to) in ranges_of(ns, slots) {
        store.batch_delete_range(b, cf, &from, &to);
    }
}

/// Step (4): the snapshot's applied state, `Normal`, synced; then its files go.
pub fn finish_install(store: &Store, recv_root: &Path, st: &mut PartitionState) -> Result<(), String> {
    st.status = crate::state::ReplicaStatus::Normal as i32;
    let mut b = store.new_batch();
    store.batch_put(&mut b, Cf::State, &partition_key(st.group), &st.encode_to_vec());
    store.batch_delete(&mut b, Cf::State, &applying_key(st.group));
    store.write(b, true).map_err(|e| e.to_string())?;
    let _ =
        std::fs::remove_dir_all(recv_root.join(snap::snapshot_dir_name(st.group, st.applied_index, st.applied_term)));
    Ok(())
}

/// Finishes an install a crash interrupted (state `Applying` at open).
pub fn resume_install(store: &Store, recv_root: &Path, st: &mut PartitionState) -> Result<(), String> {
    let m = store
        .get(Cf::State, &applying_key(st.group))
        .and_then(|v| Manifest::decode(v.as_slice()).ok())
        .ok_or_else(|| format!("group {}: Applying without a manifest", st.group))?;
    tracing::info!("group {}: finishing the install of the snapshot at {} after a restart", st.group, m.index);
    *st = install_data(store, recv_root, st.replica_id, &m)?;
    finish_install(store, recv_root, st)
}
