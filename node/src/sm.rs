//! The state machine the raft driver applies committed entries to.
//!
//! All partitions of the node share one [`WriteCtx`]: the entries of one
//! driver turn, of every group, become one RocksDB write, together with each
//! touched partition's state (applied index and term, ConfState, last stamp,
//! key counters). Apply is deterministic: time comes from the entry's stamp
//! (never the local clock, and never backwards: max(stamp, last applied
//! stamp)), element versions from the raft index, randomness from the entry's
//! seed.

use crate::command::{Cmd, Entry, Watch};
use crate::exec::{self, Apply, Db};
use crate::keys;
use crate::partition::Registry;
use crate::reply::Reply;
use crate::state::{partition_key, PartitionState, ReplicaStatus};
use crate::store::{Cf, KvRead, Store, WriteCtx};
use crate::waiters::KeyWaiters;
use kvraft::{Committed, CommittedKind, StateMachine};
use prost::Message;
use rand::SeedableRng;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub struct KvStateMachine {
    store: Arc<Store>,
    ctx: WriteCtx,
    registry: Registry,
    waiters: Arc<KeyWaiters>,
    /// Keys written in this batch, signalled to blocked clients after commit.
    touched: Vec<(u32, bytes::Bytes)>,
    /// Keys this batch changed, and whether it changed everything (a flush,
    /// a snapshot), for client-side caching after commit.
    changes: Arc<crate::changes::Changes>,
    changed: Vec<crate::changes::Changed>,
    /// Loaded on first use from the `state` column family.
    states: HashMap<u64, PartitionState>,
    dirty: Vec<u64>,
    /// Where received snapshot files wait for their install.
    snap_recv: std::path::PathBuf,
    pub snapshots_installed: Arc<std::sync::atomic::AtomicU64>,
    /// Groups whose replica here was removed by an applied configuration
    /// change (its state is now Tombstone): the node destroys them.
    removed: Vec<(u64, u64)>,
    removed_tx: Option<tokio::sync::mpsc::UnboundedSender<(u64, u64)>>,
}

impl KvStateMachine {
    pub fn new(store: Arc<Store>, registry: Registry, waiters: Arc<KeyWaiters>) -> KvStateMachine {
        KvStateMachine {
            ctx: WriteCtx::new(store.clone()),
            store,
            registry,
            waiters,
            touched: Vec::new(),
            changes: Arc::default(),
            changed: Vec::new(),
            states: HashMap::new(),
            dirty: Vec::new(),
            snap_recv: std::path::PathBuf::new(),
            snapshots_installed: Arc::default(),
            removed: Vec::new(),
            removed_tx: None,
        }
    }

    /// Where to report (group, replica id) of replicas removed from their group.
    pub fn with_removals(mut self, tx: tokio::sync::mpsc::UnboundedSender<(u64, u64)>) -> KvStateMachine {
        self.removed_tx = Some(tx);
        self
    }

    /// Where the keys applied entries change go (client-side caching).
    pub fn with_changes(mut self, changes: Arc<crate::changes::Changes>) -> KvStateMachine {
        self.changes = changes;
        self
    }

    /// Sets where received snapshots wait (`<data>/snap-recv`).
    pub fn with_snapshot_dir(mut self, dir: std::path::PathBuf) -> KvStateMachine {
        self.snap_recv = dir;
        self
    }

    fn state(&mut self, group: u64) -> &mut PartitionState {
        let store = &self.store;
        self.states.entry(group).or_insert_with(|| {
            store
                .get(Cf::State, &partition_key(group))
                .and_then(|v| PartitionState::decode(v.as_slice()).ok())
                .unwrap_or_else(|| panic!("partition state of group {group} is missing"))
        })
    }

    fn apply_entry(&mut self, group: u64, index: u64, entry: &Entry) -> Reply {
        let st = self.states.get_mut(&group).expect("loaded");
        // Time never goes backwards, whatever the proposer's clock said.
        let now = entry.stamp.max(st.last_stamp);
        st.last_stamp = now;
        let mut counters = st.counters();
        let flush_index = st.flush_index;
        let ns = st.ns;
        // An entry this node cannot apply stops it: skipping it would leave
        // this replica different from the others (see crate::versions).
        let cmds: Vec<&Cmd> = entry
            .cmds
            .iter()
            .map(|c| match &c.cmd {
                None => panic!(
                    "entry {index} of group {group} holds a command this kvnode cannot decode (written by a newer \
                     version?): upgrade this node"
                ),
                Some(c) if c.apply_version() > crate::versions::own() => panic!(
                    "entry {index} of group {group} needs apply version {}; this node applies {}: upgrade it",
                    c.apply_version(),
                    crate::versions::own()
                ),
                Some(c) => c,
            })
            .collect();
        let mut a = Apply {
            kv: &mut self.ctx,
            ns: st.ns,
            now,
            index,
            next_version: index << 16,
            slots: (st.slot_lo, st.slot_hi),
            counters: &mut counters,
            rng: rand::rngs::StdRng::seed_from_u64(entry.seed),
            notify: entry.notify,
            published: Vec::new(),
            changed: std::mem::take(&mut self.changed),
            chunk_strings: cmds.iter().any(|c| c.apply_version() >= crate::exec::chunks::APPLY_VERSION),
        };
        let mut flushed = false;
        // Keys that received elements, for the clients blocked on them (only
        // gathered while someone is blocked).
        let mut fed = self.waiters.active().then(Vec::new);
        let mut run = |a: &mut Apply, c: &Cmd| {
            // Whose change this is, for NOLOOP.
            a.changed.push(crate::changes::Changed::Origin {
                node: entry.origin_node,
                client: entry.origin_client,
                script: matches!(c, Cmd::Eval(_)),
            });
            let flush = matches!(c, Cmd::FlushAll(_));
            flushed |= flush;
            let mut r = exec::write(a, c);
            if flush {
                a.changed.push(crate::changes::Changed::All);
            }
            if !a.published.is_empty() {
                r = Reply::Publishing(Box::new(r), std::mem::take(&mut a.published));
            }
            // A command that did nothing (LMOVE from an empty list, an
            // error) feeds no one; signalling anyway would wake the BLMOVE
            // that issued it, which would try again at once, for ever.
            if let Some(fed) = &mut fed {
                if !matches!(r, Reply::Nil | Reply::NilArray | Reply::Error(_)) {
                    fed.extend(c.feeds().into_iter().cloned());
                }
            }
            r
        };
        let reply = if entry.txn {
            if entry.watches.iter().any(|w| watch_fired(&a.db(), w, flush_index)) {
                Reply::NilArray
            } else {
                Reply::Array(cmds.iter().map(|c| run(&mut a, c)).collect())
            }
        } else {
            let mut replies: Vec<Reply> = cmds.iter().map(|c| run(&mut a, c)).collect();
            if replies.len() == 1 {
                replies.pop().unwrap()
            } else {
                Reply::Array(replies)
            }
        };
        if let Some(fed) = fed {
            self.touched.extend(fed.into_iter().map(|k| (ns, k)));
        }
        self.changed = std::mem::take(&mut a.changed);
        let st = self.states.get_mut(&group).unwrap();
        st.key_count = counters.keys;
        st.expire_count = counters.expires;
        if flushed {
            st.flush_index = index;
        }
        reply
    }
}

/// EXEC aborts when a watched key changed after WATCH looked at it: a newer
/// mod_index, a removal in its slot (or a flush) while it is absent, or an
/// expiry since.
fn watch_fired<K: KvRead + ?Sized>(db: &Db<K>, w: &Watch, flush_index: u64) -> bool {
    match db.meta_raw(&w.key) {
        Some(m) => m.mod_index > w.read_index || (w.existed && m.expired(db.now)),
        None => w.existed || db.removal_index(keys::slot(&w.key)) > w.read_index || flush_index > w.read_index,
    }
}

impl StateMachine for KvStateMachine {
    type Output = Reply;

    fn apply(&mut self, group: u64, entries: &[Committed<'_>]) -> Vec<Option<Reply>> {
        self.state(group);
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let reply = match &e.kind {
                CommittedKind::Normal(data) => Some(match Entry::decode(data.as_ref()) {
                    Ok(entry) => self.apply_entry(group, e.index, &entry),
                    Err(err) => Reply::error(format!("ERR undecodable raft entry at index {}: {err}", e.index)),
                }),
                CommittedKind::Empty => None,
                CommittedKind::ConfChange { change, conf_state } => {
                    let st = self.states.get_mut(&group).unwrap();
                    st.apply_conf_change(&change.context, conf_state);
                    if !st.is_member(st.replica_id) {
                        // This replica left the group: it serves nothing from
                        // now on, and a restart must not bring it back.
                        st.status = ReplicaStatus::Tombstone as i32;
                        self.removed.push((group, st.replica_id));
                    }
                    Some(Reply::Ok)
                }
            };
            let st = self.states.get_mut(&group).unwrap();
            st.applied_index = e.index;
            st.applied_term = e.term;
            out.push(reply);
        }
        if !self.dirty.contains(&group) {
            self.dirty.push(group);
        }
        out
    }

    fn install_snapshot(&mut self, group: u64, snap: &kvraft::raft::eraftpb::Snapshot) -> Result<(), String> {
        let m = snap::Manifest::decode(snap.data.as_ref()).map_err(|e| format!("snapshot manifest: {e}"))?;
        let replica_id = self.state(group).replica_id;
        let st = crate::snapshot::install_data(&self.store, &self.snap_recv, replica_id, &m)?;
        self.states.insert(group, st);
        Ok(())
    }

    fn finish_snapshot(&mut self, group: u64, _snap: &kvraft::raft::eraftpb::Snapshot) {
        let st = self.states.get_mut(&group).unwrap();
        if let Err(e) = crate::snapshot::finish_install(&self.store, &self.snap_recv, st) {
            tracing::error!("group {group}: recording an installed snapshot: {e}; aborting");
            eprintln!("FATAL: group {group}: recording an installed snapshot: {e}");
            std::process::abort();
        }
        if let Some(p) = self.registry.get(group) {
            p.last_stamp.store(st.last_stamp, Ordering::Release);
        }
        self.snapshots_installed.fetch_add(1, Ordering::Relaxed);
        self.changed.push(crate::changes::Changed::All);
    }

    fn flush(&mut self) {
        for group in std::mem::take(&mut self.dirty) {
            let st = &self.states[&group];
            self.ctx.put(Cf::State, &partition_key(group), &st.encode_vec());
            if let Some(p) = self.registry.get(group) {
                p.last_stamp.store(st.last_stamp, Ordering::Release);
            }
        }
        if let Err(e) = self.ctx.commit() {
            // Applied entries that cannot be written must not be acknowledged.
            tracing::error!("apply: RocksDB write failed: {e}; aborting");
            eprintln!("FATAL: apply: RocksDB write failed: {e}");
            std::process::abort();
        }
        if !self.touched.is_empty() {
            self.waiters.signal(self.touched.drain(..));
        }
        if !self.removed.is_empty() {
            // Keys of a replica gone from here change unseen from now on.
            self.changed.push(crate::changes::Changed::All);
        }
        if !self.changed.is_empty() {
            self.changes.deliver(std::mem::take(&mut self.changed));
        }
        for r in self.removed.drain(..) {
            if let Some(tx) = &self.removed_tx {
                let _ = tx.send(r);
            }
        }
    }

    fn forget(&mut self, group: u64) {
        self.states.remove(&group);
        self.dirty.retain(|g| *g != group);
    }

    fn remove(&mut self, group: u64) -> Result<(), String> {
        // The cached state is the newest (what the last flush wrote).
        let cached = self.states.remove(&group);
        self.dirty.retain(|g| *g != group);
        let Some(mut st) = cached.or_else(|| {
            self.store.get(Cf::State, &partition_key(group)).and_then(|v| PartitionState::decode(v.as_slice()).ok())
        }) else {
            return Ok(());
        };
        st.status = ReplicaStatus::Tombstone as i32;
        let mut b = self.store.new_batch();
        self.store.batch_put(&mut b, Cf::State, &partition_key(group), &st.encode_vec());
        self.store.write(b, true).map_err(|e| e.to_string())
    }
}
