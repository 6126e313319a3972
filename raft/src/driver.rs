//! The multi-raft driver: one thread runs every `RawNode` of this node.
//!
//! Each turn of the loop takes what arrived (raft messages, proposals, reads,
//! admin requests), ticks on schedule, then handles the `Ready` of every group
//! that has one together:
//!
//! 1. send the leader's `messages()` (they may go before persisting: raft
//!    thesis 10.2.1), note read states, then apply and answer what a leader
//!    has committed;
//! 2. write the entries and hard states of *all* ready groups to the WAL with
//!    one append, i.e. one fdatasync (group commit);
//! 3. send `persisted_messages()` (votes, follower acks) only now;
//! 4. apply committed entries through the caller's [`StateMachine`], advance,
//!    and do the same for the light ready;
//! 5. once the state machine has flushed, resolve proposals and reads.
//!
//! The messages of steps 1, 3 and 4 leave per step in one batch per peer
//! node (see [`crate::outbox`]).
//!
//! A proposal is only handed to raft while this replica is leader, checked on
//! this thread right before proposing (raft-rs would otherwise forward a
//! follower's proposal fire-and-forget). Each proposal's (index, term) is
//! recorded and its outcome decided by what gets applied at that index.

use crate::error::ProposeError;
use crate::outbox::{Outbox, SNAPSHOT_FAILED_FLAG};
use crate::proto::{GroupMessage, ReplicaNodes};
use crate::storage::{encode_entry, AppliedState, SnapshotSource, WalStorage};
use crate::transport::{InboundHandler, Transport};
use bytes::Bytes;
use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeV2, ConfState, Entry, EntryType, Message, MessageType, Snapshot};
use raft::{RawNode, ReadOnlyOption, SnapshotStatus, StateRole};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify};
use wal::{Wal, WalOp};

#[derive(Clone, Debug)]
pub struct DriverConfig {
    pub node_id: u64,
    pub tick_interval: Duration,
    /// Election timeout in ticks (randomized in [election, 2*election)).
    pub election_tick: usize,
    pub heartbeat_tick: usize,
    pub max_size_per_msg: u64,
    pub max_inflight_msgs: usize,
    pub max_uncommitted_size: u64,
    /// Largest proposal accepted; bigger ones fail with `TooLarge`.
    pub max_entry_size: usize,
    /// Lease-based reads (needs check_quorum, which is always on). Off by default:
    /// ReadIndex with a quorum round trip.
    pub lease_read: bool,
    /// Requests waiting for the driver before senders wait.
    pub request_queue: usize,
    /// Ticks after which a snapshot sent to a replica and neither installed
    /// nor reported failed counts as failed (the leader sends it again).
    pub snapshot_deadline_ticks: u64,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            node_id: 1,
            tick_interval: Duration::from_millis(100),
            election_tick: 10,
            heartbeat_tick: 2,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            max_uncommitted_size: 256 << 20,
            max_entry_size: 64 << 20,
            lease_read: false,
            request_queue: 16 << 10,
            snapshot_deadline_ticks: 1200,
        }
    }
}

/// One committed entry as the state machine sees it.
pub struct Committed<'a> {
    pub index: u64,
    pub term: u64,
    pub kind: CommittedKind<'a>,
}

pub enum CommittedKind<'a> {
    /// A proposal's data.
    Normal(&'a Bytes),
    /// An empty entry (a new leader's first entry, or a refused conf change).
    Empty,
    /// A configuration change, already applied to raft: `conf_state` is the
    /// membership from this index on (persist it with the applied index).
    ConfChange { change: &'a ConfChangeV2, conf_state: &'a ConfState },
}

/// The caller's state machine. Called on the driver thread.
pub trait StateMachine: Send + 'static {
    type Output: Send + 'static;
    /// Applies the committed entries of one group, in log order, and returns
    /// one output per entry (`None` where there is nothing to report). It
    /// must record `entries.last()`'s index and term as the group's applied
    /// state, in the same write as the data.
    fn apply(&mut self, group: u64, entries: &[Committed<'_>]) -> Vec<Option<Self::Output>>;
    /// Makes everything applied since the last flush visible to readers.
    /// Proposals and reads are resolved only after this returns.
    fn flush(&mut self);
    /// Installs a received snapshot's data (its files arrived before the
    /// message was stepped): mark the partition as applying it, durably,
    /// then replace the partition's data. The driver then writes the WAL
    /// mark and calls [`StateMachine::finish_snapshot`].
    fn install_snapshot(&mut self, group: u64, _snap: &Snapshot) -> Result<(), String> {
        Err(format!("group {group}: this state machine cannot install snapshots"))
    }
    /// Records the snapshot's index, term and membership as applied, durably.
    fn finish_snapshot(&mut self, _group: u64, _snap: &Snapshot) {}
    /// The group is added to the driver: drop whatever the state machine
    /// cached about it (a new replica of it starts afresh).
    fn forget(&mut self, _group: u64) {}
    /// The group is to be removed: record durably that this replica is gone
    /// (so that no restart brings it back), and forget it. Called before the
    /// driver drops the group's log and hard state; an error keeps the group.
    fn remove(&mut self, group: u64) -> Result<(), String> {
        self.forget(group);
        Ok(())
    }
}

/// A snapshot message that arrived for a group: the receiver fetches its
/// files first, then steps it with [`Request::StepSnapshot`].
pub struct SnapshotArrival {
    pub group: u64,
    pub from_node: u64,
    pub message: Message,
}

/// Role values of [`GroupShared::role`].
pub const ROLE_FOLLOWER: u8 = 0;
pub const ROLE_CANDIDATE: u8 = 1;
pub const ROLE_LEADER: u8 = 2;
pub const ROLE_PRE_CANDIDATE: u8 = 3;

/// What other threads may read about a group without asking the driver.
pub struct GroupShared {
    pub group: u64,
    pub replica_id: u64,
    applied: AtomicU64,
    commit: AtomicU64,
    term: AtomicU64,
    role: AtomicU8,
    leader_node: AtomicU64,
    /// First index of the current leader term (only meaningful as leader).
    term_start: AtomicU64,
    voters: AtomicU64,
    pub proposals: AtomicU64,
    /// Woken whenever the applied index moves.
    pub applied_changed: Notify,
}

impl GroupShared {
    fn new(group: u64, replica_id: u64, applied: u64) -> GroupShared {
        GroupShared {
            group,
            replica_id,
            applied: AtomicU64::new(applied),
            commit: AtomicU64::new(applied),
            term: AtomicU64::new(0),
            role: AtomicU8::new(ROLE_FOLLOWER),
            leader_node: AtomicU64::new(0),
            term_start: AtomicU64::new(u64::MAX),
            voters: AtomicU64::new(0),
            proposals: AtomicU64::new(0),
            applied_changed: Notify::new(),
        }
    }
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Acquire)
    }
    pub fn commit(&self) -> u64 {
        self.commit.load(Ordering::Relaxed)
    }
    pub fn term(&self) -> u64 {
        self.term.load(Ordering::Relaxed)
    }
    pub fn role(&self) -> u8 {
        self.role.load(Ordering::Relaxed)
    }
    pub fn is_leader(&self) -> bool {
        self.role() == ROLE_LEADER
    }
    /// The leader's node id, if known.
    pub fn leader_node(&self) -> Option<u64> {
        match self.leader_node.load(Ordering::Relaxed) {
            0 => None,
            n => Some(n),
        }
    }
    pub fn voters(&self) -> u64 {
        self.voters.load(Ordering::Relaxed)
    }
    /// True when this replica is the group's only voter, leads it, and has
    /// applied everything of earlier terms: then its applied state holds every
    /// acknowledged write and may be read without a ReadIndex round.
    pub fn sole_voter_ready(&self) -> bool {
        self.is_leader() && self.voters() == 1 && self.applied() >= self.term_start.load(Ordering::Acquire)
    }
    /// Waits until the applied index reaches `index`.
    pub async fn wait_applied(&self, index: u64) {
        loop {
            let notified = self.applied_changed.notified();
            if self.applied() >= index {
                return;
            }
            notified.await;
        }
    }
}

/// A snapshot of a group's raft state, for admin endpoints and tests.
#[derive(Clone, Debug)]
pub struct GroupStatus {
    pub replica_id: u64,
    pub term: u64,
    pub vote: u64,
    pub commit: u64,
    pub applied: u64,
    pub role: StateRole,
    pub leader_replica: u64,
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    /// Per replica (as known by a leader): (replica, matched index).
    pub progress: Vec<(u64, u64)>,
    pub peers: Vec<(u64, u64)>,
    /// A configuration change is proposed and not yet applied (raft-rs
    /// refuses another one until it is).
    pub pending_conf: bool,
}

impl GroupStatus {
    fn of<O>(g: &Group<O>) -> GroupStatus {
        let r = &g.raw.raft;
        let conf = r.prs().conf();
        let mut progress: Vec<(u64, u64)> = r.prs().iter().map(|(id, p)| (*id, p.matched)).collect();
        progress.sort_unstable();
        let mut peers: Vec<(u64, u64)> = g.peers.iter().map(|(r, n)| (*r, *n)).collect();
        peers.sort_unstable();
        let mut voters: Vec<u64> = conf.voters().ids().iter().collect();
        voters.sort_unstable();
        let mut learners: Vec<u64> = conf.learners().iter().copied().collect();
        learners.sort_unstable();
        GroupStatus {
            replica_id: r.id,
            term: r.term,
            vote: r.vote,
            commit: r.raft_log.committed,
            applied: g.applied,
            role: r.state,
            leader_replica: r.leader_id,
            voters,
            learners,
            progress,
            peers,
            pending_conf: r.pending_conf_index > g.applied,
        }
    }
}

/// How to create a group on this node.
#[derive(Clone, Debug)]
pub struct GroupSpec {
    pub group: u64,
    pub replica_id: u64,
    /// From the state machine: applied index/term and membership.
    pub applied: AppliedState,
    /// Replica id -> node id of the current members (and learners).
    pub peers: Vec<(u64, u64)>,
}

type Reply<T> = oneshot::Sender<Result<T, ProposeError>>;

/// A request to the driver.
pub enum Request<O> {
    Propose {
        group: u64,
        data: Bytes,
        reply: Reply<O>,
    },
    ConfChange {
        group: u64,
        change: ConfChangeV2,
        reply: Reply<O>,
    },
    /// Resolves with an index once it is applied; reading the state machine
    /// then is linearizable.
    Read {
        group: u64,
        reply: Reply<u64>,
    },
    AddGroup {
        spec: GroupSpec,
        snapshots: Option<Arc<dyn SnapshotSource>>,
        reply: oneshot::Sender<Result<Arc<GroupShared>, String>>,
    },
    RemoveGroup {
        group: u64,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Campaign {
        group: u64,
    },
    TransferLeader {
        group: u64,
        to_replica: u64,
    },
    ReportSnapshot {
        group: u64,
        to_replica: u64,
        ok: bool,
    },
    /// Sets where a replica of a group lives.
    SetPeer {
        group: u64,
        replica: u64,
        node: u64,
    },
    Status {
        group: u64,
        reply: oneshot::Sender<Option<GroupStatus>>,
    },
    /// Drops the group's log up to `index` (at most its applied index). The
    /// caller must have made the state machine durable up to `index`.
    CompactLog {
        group: u64,
        index: u64,
    },
    /// Steps a snapshot message whose files have all arrived.
    StepSnapshot {
        group: u64,
        message: Box<Message>,
    },
}

/// Raft messages from the transport.
struct Inbound {
    from_node: u64,
    messages: Vec<GroupMessage>,
}

/// The handle through which the rest of the node uses the driver.
pub struct RaftHandle<O> {
    requests: mpsc::Sender<Request<O>>,
    node_id: u64,
    stop: parking_lot::Mutex<Option<oneshot::Sender<()>>>,
    thread: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl<O: Send + 'static> RaftHandle<O> {
    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    async fn enqueue<T>(&self, make: impl FnOnce(Reply<T>) -> Request<O>) -> Result<Pending<T>, ProposeError> {
        let (tx, rx) = oneshot::channel();
        // A request that never reached the driver certainly did nothing.
        self.requests.send(make(tx)).await.map_err(|_| ProposeError::Dropped("raft driver stopped".into()))?;
        Ok(Pending { rx })
    }

    /// Hands a proposal to the driver and returns once it is queued: requests
    /// queued by one caller are proposed in that order. Await the returned
    /// [`Pending`] for the state machine's output.
    pub async fn enqueue_propose(&self, group: u64, data: Bytes) -> Result<Pending<O>, ProposeError> {
        self.enqueue(|reply| Request::Propose { group, data, reply }).await
    }

    /// Queues a linearizable read point behind everything this caller queued
    /// before. Once it resolves to `Ok(i)`, the group's applied state (at
    /// index >= i) reflects every write acknowledged before the call and
    /// every proposal queued before it.
    pub async fn enqueue_read(&self, group: u64) -> Result<Pending<u64>, ProposeError> {
        self.enqueue(|reply| Request::Read { group, reply }).await
    }

    /// Proposes `data` to `group`; resolves with the state machine's output
    /// once the entry is applied here.
    pub async fn propose(&self, group: u64, data: Bytes, timeout: Duration) -> Result<O, ProposeError> {
        self.enqueue_propose(group, data).await?.wait(timeout).await
    }

    pub async fn propose_conf_change(
        &self,
        group: u64,
        change: ConfChangeV2,
        timeout: Duration,
    ) -> Result<O, ProposeError> {
        self.enqueue(|reply| Request::ConfChange { group, change, reply }).await?.wait(timeout).await
    }

    /// A linearizable read point (see [`RaftHandle::enqueue_read`]).
    pub async fn read_index(&self, group: u64, timeout: Duration) -> Result<u64, ProposeError> {
        self.enqueue_read(group).await?.wait_read(timeout).await
    }

    pub async fn add_group(
        &self,
        spec: GroupSpec,
        snapshots: Option<Arc<dyn SnapshotSource>>,
    ) -> Result<Arc<GroupShared>, String> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::AddGroup { spec, snapshots, reply: tx })
            .await
            .map_err(|_| "raft driver stopped".to_string())?;
        rx.await.map_err(|_| "raft driver stopped".to_string())?
    }

    /// Removes the group from this node (see [`StateMachine::remove`]).
    pub async fn remove_group(&self, group: u64) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Request::RemoveGroup { group, reply: tx })
            .await
            .map_err(|_| "raft driver stopped".to_string())?;
        rx.await.map_err(|_| "raft driver stopped".to_string())?
    }

    pub async fn status(&self, group: u64) -> Option<GroupStatus> {
        let (tx, rx) = oneshot::channel();
        self.requests.send(Request::Status { group, reply: tx }).await.ok()?;
        rx.await.ok().flatten()
    }

    /// Sends a request without waiting for its effect.
    pub async fn send(&self, r: Request<O>) -> bool {
        self.requests.send(r).await.is_ok()
    }

    /// Stops the driver thread and waits for it. Proposals it had taken are
    /// answered "outcome unknown" (their reply channels close).
    pub fn stop(&self) {
        if let Some(tx) = self.stop.lock().take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

impl<O> Drop for RaftHandle<O> {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.lock().take() {
            let _ = tx.send(());
        }
    }
}

/// The outcome of a queued request.
pub struct Pending<T> {
    rx: oneshot::Receiver<Result<T, ProposeError>>,
}

impl<T> Pending<T> {
    /// Waits for the outcome; no answer by the deadline is "outcome unknown".
    pub async fn wait(self, timeout: Duration) -> Result<T, ProposeError> {
        match tokio::time::timeout(timeout, self.rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(ProposeError::Unknown("raft driver stopped".into())),
            Err(_) => Err(ProposeError::Unknown(format!("no outcome within {}ms", timeout.as_millis()))),
        }
    }

    /// Like `wait`, for reads: a read changes nothing, so no answer in time
    /// means "try again", never "unknown".
    pub async fn wait_read(self, timeout: Duration) -> Result<T, ProposeError> {
        match self.wait(timeout).await {
            Err(ProposeError::Unknown(m)) => Err(ProposeError::Dropped(format!("read index: {m}"))),
            r => r,
        }
    }
}

/// The receiving end of [`RaftInbound`], handed to [`Driver::spawn`].
pub struct RaftInbox {
    rx: mpsc::Receiver<Inbound>,
}

/// A channel for raft messages from peers: create it first, give the
/// [`RaftInbound`] end to the transport and the [`RaftInbox`] to the driver.
pub fn raft_channel(capacity: usize) -> (RaftInbound, RaftInbox) {
    let (tx, rx) = mpsc::channel(capacity);
    (RaftInbound { tx }, RaftInbox { rx })
}

/// Feeds raft messages from the transport into the driver. Never blocks: when
/// the driver is behind, messages are dropped (raft retransmits).
#[derive(Clone)]
pub struct RaftInbound {
    tx: mpsc::Sender<Inbound>,
}

impl RaftInbound {
    pub fn deliver(&self, from_node: u64, messages: Vec<GroupMessage>) {
        let _ = self.tx.try_send(Inbound { from_node, messages });
    }
}

impl InboundHandler for RaftInbound {
    fn on_raft(&self, from_node: u64, messages: Vec<GroupMessage>) {
        self.deliver(from_node, messages)
    }
}

struct PendingProposal<O> {
    index: u64,
    term: u64,
    conf_change: bool,
    reply: Reply<O>,
}

/// Reads that share one ReadIndex round (all that arrived in one driver turn).
struct PendingRead {
    /// The reads must also see everything in the log when they arrived.
    min_index: u64,
    issued_tick: u64,
    replies: Vec<Reply<u64>>,
}

struct Group<O> {
    raw: RawNode<WalStorage>,
    peers: HashMap<u64, u64>,
    proposals: VecDeque<PendingProposal<O>>,
    reads: HashMap<u64, PendingRead>,
    /// Reads that arrived in this turn, issued together before the readies.
    new_reads: Option<PendingRead>,
    /// Reads with a confirmed index, waiting for apply: (index, reply).
    read_waits: BTreeMap<(u64, u64), Vec<Reply<u64>>>,
    shared: Arc<GroupShared>,
    applied: u64,
    /// Snapshots sent to replicas and not reported yet: replica -> tick sent.
    snapshots_out: HashMap<u64, u64>,
    /// Term and vote of the last hard state given to the WAL.
    term_vote: (u64, u64),
}

/// What step 4 learned about one applied entry, for step 5.
struct AppliedInfo<O> {
    index: u64,
    term: u64,
    empty: bool,
    output: Option<O>,
}

pub struct Driver<M: StateMachine> {
    cfg: DriverConfig,
    wal: Arc<Wal>,
    transport: Arc<Transport>,
    sm: M,
    groups: BTreeMap<u64, Group<M::Output>>,
    logger: slog::Logger,
    ticks: u64,
    next_read_id: u64,
    snapshot_arrivals: Option<mpsc::UnboundedSender<SnapshotArrival>>,
}

impl<M: StateMachine> Driver<M> {
    /// Starts the driver on its own thread. Raft messages from peers arrive
    /// through `inbox` (see [`raft_channel`]).
    pub fn spawn(
        cfg: DriverConfig,
        wal: Arc<Wal>,
        transport: Arc<Transport>,
        sm: M,
        inbox: RaftInbox,
    ) -> RaftHandle<M::Output> {
        Self::spawn_with_snapshots(cfg, wal, transport, sm, inbox, None)
    }

    /// Like [`Driver::spawn`]; snapshot messages from leaders are handed to
    /// `snapshot_arrivals` instead of being stepped (the receiver fetches
    /// the files, then steps them with [`Request::StepSnapshot`]).
    pub fn spawn_with_snapshots(
        cfg: DriverConfig,
        wal: Arc<Wal>,
        transport: Arc<Transport>,
        sm: M,
        inbox: RaftInbox,
        snapshot_arrivals: Option<mpsc::UnboundedSender<SnapshotArrival>>,
    ) -> RaftHandle<M::Output> {
        let (req_tx, req_rx) = mpsc::channel(cfg.request_queue);
        let raft_rx = inbox.rx;
        let node_id = cfg.node_id;
        let logger = crate::logger::raft_logger(node_id);
        let driver = Driver {
            cfg,
            wal,
            transport,
            sm,
            groups: BTreeMap::new(),
            logger,
            ticks: 0,
            next_read_id: 1,
            snapshot_arrivals,
        };
        let (stop_tx, stop_rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("raft-driver-{node_id}"))
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
                rt.block_on(driver.run(req_rx, raft_rx, stop_rx));
            })
            .expect("spawn raft driver thread");
        RaftHandle {
            requests: req_tx,
            node_id,
            stop: parking_lot::Mutex::new(Some(stop_tx)),
            thread: parking_lot::Mutex::new(Some(thread)),
        }
    }

    async fn run(
        mut self,
        mut req_rx: mpsc::Receiver<Request<M::Output>>,
        mut raft_rx: mpsc::Receiver<Inbound>,
        mut stop_rx: oneshot::Receiver<()>,
    ) {
        let mut next_tick = tokio::time::Instant::now() + self.cfg.tick_interval;
        // A node without peers may drop its inbound end: that is no reason to stop.
        let mut raft_open = true;
        loop {
            tokio::select! {
                biased;
                _ = &mut stop_rx => return,
                m = raft_rx.recv(), if raft_open => match m {
                    Some(m) => self.on_inbound(m),
                    None => raft_open = false,
                },
                r = req_rx.recv() => match r {
                    Some(r) => self.on_request(r),
                    None => return,
                },
                _ = tokio::time::sleep_until(next_tick) => {}
            }
            // Take whatever else is already queued, bounded so that ticks and
            // readies keep their pace under load.
            for _ in 0..4096 {
                match raft_rx.try_recv() {
                    Ok(m) => self.on_inbound(m),
                    Err(_) => break,
                }
            }
            for _ in 0..4096 {
                match req_rx.try_recv() {
                    Ok(r) => self.on_request(r),
                    Err(_) => break,
                }
            }
            let now = tokio::time::Instant::now();
            if now >= next_tick {
                self.tick();
                next_tick += self.cfg.tick_interval;
                if next_tick < now {
                    next_tick = now + self.cfg.tick_interval;
                }
            }
            self.issue_reads();
            self.handle_readies();
        }
    }

    fn raft_config(&self, replica_id: u64, applied: u64) -> raft::Config {
        raft::Config {
            id: replica_id,
            election_tick: self.cfg.election_tick,
            heartbeat_tick: self.cfg.heartbeat_tick,
            applied,
            max_size_per_msg: self.cfg.max_size_per_msg,
            max_inflight_msgs: self.cfg.max_inflight_msgs,
            check_quorum: true,
            pre_vote: true,
            read_only_option: if self.cfg.lease_read { ReadOnlyOption::LeaseBased } else { ReadOnlyOption::Safe },
            max_uncommitted_size: self.cfg.max_uncommitted_size,
            max_committed_size_per_ready: 64 << 20,
            ..Default::default()
        }
    }

    fn add_group(
        &mut self,
        spec: GroupSpec,
        snapshots: Option<Arc<dyn SnapshotSource>>,
    ) -> Result<Arc<GroupShared>, String> {
        if let Some(g) = self.groups.get(&spec.group) {
            return Ok(g.shared.clone());
        }
        self.sm.forget(spec.group);
        if spec.applied.index == 0 {
            // A new, empty replica: whatever an earlier replica of the group
            // on this node left in the WAL (a crash between its tombstone and
            // its removal) must not become this one's log or hard state.
            self.wal
                .append(vec![WalOp::RemoveGroup { group: spec.group }])
                .map_err(|e| format!("group {}: clearing the WAL: {e}", spec.group))?;
        }
        let storage = WalStorage::open(self.wal.clone(), spec.group, spec.applied.clone(), snapshots)
            .map_err(|e| format!("group {}: {e}", spec.group))?;
        let cfg = self.raft_config(spec.replica_id, spec.applied.index);
        let logger = self.logger.new(slog::o!("group" => spec.group));
        let raw = RawNode::new(&cfg, storage, &logger).map_err(|e| format!("group {}: {e}", spec.group))?;
        let term_vote = (raw.raft.term, raw.raft.vote);
        let shared = Arc::new(GroupShared::new(spec.group, spec.replica_id, spec.applied.index));
        shared.voters.store(spec.applied.conf_state.voters.len() as u64, Ordering::Relaxed);
        let g = Group {
            raw,
            peers: spec.peers.into_iter().collect(),
            proposals: VecDeque::new(),
            reads: HashMap::new(),
            new_reads: None,
            read_waits: BTreeMap::new(),
            shared: shared.clone(),
            applied: spec.applied.index,
            snapshots_out: HashMap::new(),
            term_vote,
        };
        let single = g.raw.raft.prs().conf().voters().ids().len() == 1
            && g.raw.raft.prs().conf().voters().contains(spec.replica_id);
        self.groups.insert(spec.group, g);
        if single {
            // A group of one voter need not wait an election timeout.
            let _ = self.groups.get_mut(&spec.group).unwrap().raw.campaign();
        }
        Ok(shared)
    }

    /// Removes a group: the state machine records the removal durably
    /// first, then its log and hard state go from the WAL. A crash between
    /// the two leaves a tombstoned replica that never restarts, never a
    /// replica that forgot its votes.
    fn remove_group(&mut self, group: u64) -> Result<(), String> {
        if !self.groups.contains_key(&group) {
            self.sm.forget(group);
            return Ok(());
        }
        self.sm.remove(group).map_err(|e| format!("group {group}: recording its removal: {e}"))?;
        let g = self.groups.remove(&group).expect("checked above");
        for p in g.proposals {
            let _ = p.reply.send(Err(ProposeError::Unknown("group removed".into())));
        }
        self.wal
            .append(vec![WalOp::RemoveGroup { group }])
            .map_err(|e| format!("group {group}: recording its removal in the WAL: {e}"))
    }

    fn on_inbound(&mut self, m: Inbound) {
        for gm in m.messages {
            let Some(g) = self.groups.get_mut(&gm.group) else {
                tracing::debug!("raft message for unknown group {} from node {}", gm.group, m.from_node);
                continue;
            };
            let msg = match Message::parse_from_bytes(&gm.message) {
                Ok(msg) => msg,
                Err(e) => {
                    tracing::warn!("undecodable raft message from node {}: {e}", m.from_node);
                    continue;
                }
            };
            if msg.to != g.raw.raft.id {
                // For an earlier replica of the group on this node (removed,
                // or lost with a wiped data directory): never this one's.
                tracing::debug!(
                    "group {}: message for replica {} dropped (this is {})",
                    gm.group,
                    msg.to,
                    g.raw.raft.id
                );
                continue;
            }
            // Learn where the sender lives (a replica added by a conf change
            // we have not applied yet may talk to us first).
            g.peers.entry(msg.from).or_insert(m.from_node);
            if msg.get_msg_type() == MessageType::MsgSnapshot {
                if let Some(tx) = &self.snapshot_arrivals {
                    // Its files come first; the receiver steps it afterwards.
                    let _ = tx.send(SnapshotArrival { group: gm.group, from_node: m.from_node, message: msg });
                    continue;
                }
            }
            if let Err(e) = g.raw.step(msg) {
                tracing::debug!("group {}: step: {e}", gm.group);
            }
        }
    }

    /// The group, if this node leads it; otherwise why a request to it fails.
    fn led(groups: &mut BTreeMap<u64, Group<M::Output>>, group: u64) -> Result<&mut Group<M::Output>, ProposeError> {
        let g = groups.get_mut(&group).ok_or(ProposeError::NoGroup(group))?;
        if g.raw.raft.state != StateRole::Leader {
            return Err(Self::not_leader(g));
        }
        Ok(g)
    }

    fn not_leader(g: &Group<M::Output>) -> ProposeError {
        let leader = g.raw.raft.leader_id;
        ProposeError::NotLeader { leader: if leader == 0 { None } else { g.peers.get(&leader).copied() } }
    }

    fn on_request(&mut self, r: Request<M::Output>) {
        match r {
            Request::Propose { group, data, reply } => {
                if data.is_empty() {
                    // An empty entry would be indistinguishable from a leader's no-op.
                    let _ = reply.send(Err(ProposeError::Dropped("empty proposal".into())));
                    return;
                }
                if data.len() > self.cfg.max_entry_size {
                    let _ = reply.send(Err(ProposeError::TooLarge { size: data.len(), max: self.cfg.max_entry_size }));
                    return;
                }
                self.propose_as_leader(group, reply, false, |raw| raw.propose(vec![], data.to_vec()));
            }
            Request::ConfChange { group, change, reply } => {
                self.propose_as_leader(group, reply, true, |raw| raw.propose_conf_change(vec![], change));
            }
            Request::Read { group, reply } => {
                // A follower may read too: raft-rs forwards its ReadIndex
                // request to the leader and hands back the leader's commit
                // index, to be waited for here (follower reads, READONLY).
                let Some(g) = self.groups.get_mut(&group) else {
                    let _ = reply.send(Err(ProposeError::NoGroup(group)));
                    return;
                };
                let leader = g.raw.raft.state == StateRole::Leader;
                if !leader && g.raw.raft.leader_id == 0 {
                    let _ = reply.send(Err(Self::not_leader(g)));
                    return;
                }
                // A leader's read must also cover what was proposed before it.
                let min_index = if leader { g.raw.raft.raft_log.last_index() } else { 0 };
                let batch =
                    g.new_reads.get_or_insert_with(|| PendingRead { min_index, issued_tick: 0, replies: Vec::new() });
                batch.min_index = batch.min_index.max(min_index);
                batch.replies.push(reply);
            }
            Request::AddGroup { spec, snapshots, reply } => {
                let _ = reply.send(self.add_group(spec, snapshots));
            }
            Request::RemoveGroup { group, reply } => {
                let _ = reply.send(self.remove_group(group));
            }
            Request::Campaign { group } => {
                if let Some(g) = self.groups.get_mut(&group) {
                    let _ = g.raw.campaign();
                }
            }
            Request::TransferLeader { group, to_replica } => {
                if let Some(g) = self.groups.get_mut(&group) {
                    g.raw.transfer_leader(to_replica);
                }
            }
            Request::StepSnapshot { group, message } => {
                // (The replica may have been replaced while its files came.)
                if let Some(g) = self.groups.get_mut(&group).filter(|g| g.raw.raft.id == message.to) {
                    if let Err(e) = g.raw.step(*message) {
                        tracing::warn!("group {group}: stepping a snapshot: {e}");
                    }
                }
            }
            Request::ReportSnapshot { group, to_replica, ok } => {
                if let Some(g) = self.groups.get_mut(&group) {
                    if g.snapshots_out.remove(&to_replica).is_none() {
                        return;
                    }
                    let status = if ok { SnapshotStatus::Finish } else { SnapshotStatus::Failure };
                    g.raw.report_snapshot(to_replica, status);
                }
            }
            Request::SetPeer { group, replica, node } => {
                if let Some(g) = self.groups.get_mut(&group) {
                    g.peers.insert(replica, node);
                }
            }
            Request::CompactLog { group, index } => {
                if let Some(g) = self.groups.get(&group) {
                    let index = index.min(g.applied);
                    let first = self.wal.bounds(group).map_or(0, |(f, _)| f);
                    if index >= first {
                        if let Ok(term) = self.wal.term(group, index) {
                            if let Err(e) = self.wal.append(vec![WalOp::Compact { group, index, term }]) {
                                tracing::warn!("group {group}: log compaction to {index}: {e}");
                            }
                        }
                    }
                }
            }
            Request::Status { group, reply } => {
                let _ = reply.send(self.groups.get(&group).map(GroupStatus::of));
            }
        }
    }

    /// Hands a proposal to raft only if this replica leads the group (checked
    /// here, on the driver thread), and records its (index, term) so that
    /// what gets applied there decides its outcome.
    fn propose_as_leader(
        &mut self,
        group: u64,
        reply: Reply<M::Output>,
        conf_change: bool,
        propose: impl FnOnce(&mut RawNode<WalStorage>) -> raft::Result<()>,
    ) {
        let g = match Self::led(&mut self.groups, group) {
            Ok(g) => g,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let before = g.raw.raft.raft_log.last_index();
        if let Err(e) = propose(&mut g.raw) {
            let _ = reply.send(Err(ProposeError::Dropped(e.to_string())));
            return;
        }
        let index = g.raw.raft.raft_log.last_index();
        if index == before {
            let _ = reply.send(Err(ProposeError::Dropped("raft did not append the proposal".into())));
            return;
        }
        g.shared.proposals.fetch_add(1, Ordering::Relaxed);
        g.proposals.push_back(PendingProposal { index, term: g.raw.raft.term, conf_change, reply });
    }

    fn tick(&mut self) {
        self.ticks += 1;
        let ticks = self.ticks;
        let deadline = self.cfg.snapshot_deadline_ticks;
        for g in self.groups.values_mut() {
            g.raw.tick();
            // A snapshot that was neither installed nor reported failed in
            // time is failed here, so the leader sends a new one.
            let expired: Vec<u64> =
                g.snapshots_out.iter().filter(|(_, sent)| ticks >= **sent + deadline).map(|(r, _)| *r).collect();
            for r in expired {
                g.snapshots_out.remove(&r);
                g.raw.report_snapshot(r, SnapshotStatus::Failure);
            }
            // raft-rs drops a read index request silently when there is no
            // leader or the leader has not committed in its term yet: issue
            // again what is still unanswered, and fail it once not leader.
            if !g.reads.is_empty() {
                let can_read = g.raw.raft.state == StateRole::Leader || g.raw.raft.leader_id != 0;
                let stale: Vec<u64> =
                    g.reads.iter().filter(|(_, r)| ticks >= r.issued_tick + 2).map(|(id, _)| *id).collect();
                for id in stale {
                    if can_read {
                        g.reads.get_mut(&id).unwrap().issued_tick = ticks;
                        g.raw.read_index(id.to_le_bytes().to_vec());
                    } else {
                        let r = g.reads.remove(&id).unwrap();
                        for reply in r.replies {
                            let _ = reply.send(Err(Self::not_leader(g)));
                        }
                    }
                }
            }
        }
    }

    /// Issues one ReadIndex request per group for the reads of this turn.
    fn issue_reads(&mut self) {
        for g in self.groups.values_mut() {
            if let Some(mut batch) = g.new_reads.take() {
                let id = self.next_read_id;
                self.next_read_id += 1;
                batch.issued_tick = self.ticks;
                g.reads.insert(id, batch);
                g.raw.read_index(id.to_le_bytes().to_vec());
            }
        }
    }

    fn handle_readies(&mut self) {
        let mut ops = Vec::new();
        let mut installed: Vec<(u64, Snapshot)> = Vec::new();
        let mut readies = Vec::new();
        let mut unreachable = Vec::new();
        let mut outbox = Outbox::default();
        let mut leader_committed = Vec::new();
        // Whether this turn's WAL records must be durable before it goes on:
        // entries, log marks, a new term or vote must; a hard state that
        // only raised the commit index need not (see below).
        let mut must_sync = false;
        // Step 1: collect every group's ready; the leaders' messages are queued
        // and go out right after this loop, before the leaders apply.
        for (&id, g) in self.groups.iter_mut() {
            if !g.raw.has_ready() {
                continue;
            }
            let mut rd = g.raw.ready();
            if let Some(ss) = rd.ss() {
                let role = match ss.raft_state {
                    StateRole::Leader => ROLE_LEADER,
                    StateRole::Candidate => ROLE_CANDIDATE,
                    StateRole::PreCandidate => ROLE_PRE_CANDIDATE,
                    StateRole::Follower => ROLE_FOLLOWER,
                };
                if role == ROLE_LEADER && g.shared.role() != ROLE_LEADER {
                    // Entries up to here may be from earlier terms; reads served
                    // from local state must wait until they are applied.
                    g.shared.term_start.store(g.raw.raft.raft_log.last_index(), Ordering::Release);
                }
                g.shared.role.store(role, Ordering::Relaxed);
                let leader = if ss.leader_id == 0 { 0 } else { g.peers.get(&ss.leader_id).copied().unwrap_or(0) };
                g.shared.leader_node.store(leader, Ordering::Relaxed);
            }
            let msgs = rd.take_messages();
            for m in &msgs {
                if m.get_msg_type() == MessageType::MsgSnapshot {
                    g.snapshots_out.insert(m.to, self.ticks);
                }
            }
            outbox.push(id, &g.peers, msgs, &mut unreachable);
            if !rd.snapshot().is_empty() {
                // Install order (each step survives a crash): the state
                // machine marks the partition Applying and replaces its data;
                // the WAL mark goes with this turn's append (fsynced); then
                // the applied state is recorded as Normal.
                let snap = rd.snapshot().clone();
                let md = snap.get_metadata();
                if let Err(e) = self.sm.install_snapshot(id, &snap) {
                    tracing::error!("group {id}: installing the snapshot at {}: {e}; aborting", md.index);
                    eprintln!("FATAL: group {id}: installing a snapshot: {e}");
                    std::process::abort();
                }
                ops.push(WalOp::Reset { group: id, index: md.index, term: md.term });
                must_sync = true;
                g.raw.mut_store().set_conf_state(md.get_conf_state().clone());
                g.applied = md.index;
                installed.push((id, snap));
            } else if g.shared.is_leader() {
                // raft-rs hands out committed entries only up to what this
                // replica has persisted, so they are durable on a quorum
                // including us: a leader applies and answers them now rather
                // than after this turn's fsync of newer entries. (A crash
                // before that fsync may leave RocksDB's applied index above
                // the WAL's commit; opening the group takes max(commit,
                // applied).) raft-rs's own examples apply a ready's committed
                // entries before persisting its entries the same way. A
                // follower applies after the fsync, once its
                // acknowledgements, which the leader waits for, are sent.
                leader_committed.push((id, rd.take_committed_entries()));
            }
            for rs in rd.take_read_states() {
                let Ok(ctx) = <[u8; 8]>::try_from(rs.request_ctx.as_slice()) else {
                    continue;
                };
                let id = u64::from_le_bytes(ctx);
                if let Some(r) = g.reads.remove(&id) {
                    let wait = rs.index.max(r.min_index);
                    g.read_waits.entry((wait, id)).or_default().extend(r.replies);
                }
            }
            if !rd.entries().is_empty() {
                ops.push(WalOp::Entries { group: id, entries: rd.entries().iter().map(encode_entry).collect() });
                must_sync = true;
            }
            if let Some(hs) = rd.hs() {
                g.shared.term.store(hs.term, Ordering::Relaxed);
                if (hs.term, hs.vote) != g.term_vote {
                    g.term_vote = (hs.term, hs.vote);
                    must_sync = true;
                }
                ops.push(WalOp::HardState {
                    group: id,
                    state: wal::HardState { term: hs.term, vote: hs.vote, commit: hs.commit },
                });
            }
            readies.push((id, rd));
        }
        if readies.is_empty() {
            return;
        }
        // The leaders' appends go out before anything else of the turn, so
        // that the followers' fsyncs run alongside ours.
        outbox.flush(&self.transport, &mut unreachable);
        let mut applied: Vec<(u64, Vec<AppliedInfo<M::Output>>)> = Vec::new();
        for (id, committed) in leader_committed {
            let mut infos = Vec::new();
            Self::apply(&mut self.sm, id, self.groups.get_mut(&id).unwrap(), committed, &mut infos);
            if !infos.is_empty() {
                applied.push((id, infos));
            }
        }
        let handled: Vec<u64> = readies.iter().map(|(id, _)| *id).collect();
        self.publish(applied, &handled);
        // Step 2: one WAL append (one fdatasync) for all groups. A turn that
        // only moved commit indexes writes without the fdatasync: raft's
        // safety needs term, vote and entries durable, not the commit, which
        // a restart learns again from the leader (and never below what
        // RocksDB applied). A failure here is a bug in what we wrote (fsync
        // errors abort inside the WAL).
        if !ops.is_empty() {
            let written = if must_sync { self.wal.append(ops) } else { self.wal.append_unsynced(ops) };
            if let Err(e) = written {
                tracing::error!("raft driver: WAL append failed: {e}; aborting");
                eprintln!("FATAL: raft driver: WAL append failed: {e}");
                std::process::abort();
            }
        }
        for (id, snap) in installed {
            self.sm.finish_snapshot(id, &snap);
            let g = self.groups.get_mut(&id).unwrap();
            g.shared.voters.store(snap.get_metadata().get_conf_state().voters.len() as u64, Ordering::Relaxed);
            g.shared.applied.store(g.applied, Ordering::Release);
            g.shared.applied_changed.notify_waiters();
            // Proposals the snapshot covers may or may not be in it.
            while g.proposals.front().is_some_and(|p| p.index <= g.applied) {
                let p = g.proposals.pop_front().unwrap();
                let _ = p
                    .reply
                    .send(Err(ProposeError::Unknown("replaced by a snapshot before it was applied here".into())));
            }
        }
        // Step 3: what this turn's append made sendable (votes, the
        // followers' acknowledgements) goes out before any apply.
        let mut turn = Vec::with_capacity(readies.len());
        for (id, mut rd) in readies {
            let g = &self.groups[&id];
            outbox.push(id, &g.peers, rd.take_persisted_messages(), &mut unreachable);
            // A follower's (or a snapshot's) committed entries; a leader's
            // were applied in step 1.
            let committed = rd.take_committed_entries();
            turn.push((id, rd, committed));
        }
        outbox.flush(&self.transport, &mut unreachable);
        // Step 4: apply what is committed, and advance.
        let mut applied: Vec<(u64, Vec<AppliedInfo<M::Output>>)> = Vec::new();
        for (id, rd, committed) in turn {
            let g = self.groups.get_mut(&id).unwrap();
            let mut infos = Vec::new();
            Self::apply(&mut self.sm, id, g, committed, &mut infos);
            let mut light = g.raw.advance(rd);
            if let Some(c) = light.commit_index() {
                g.shared.commit.store(c, Ordering::Relaxed);
            }
            outbox.push(id, &g.peers, light.take_messages(), &mut unreachable);
            Self::apply(&mut self.sm, id, g, light.take_committed_entries(), &mut infos);
            g.raw.advance_apply();
            if !infos.is_empty() {
                applied.push((id, infos));
            }
        }
        outbox.flush(&self.transport, &mut unreachable);
        for (group, to) in unreachable {
            if let Some(g) = self.groups.get_mut(&group) {
                if to & SNAPSHOT_FAILED_FLAG != 0 {
                    g.raw.report_snapshot(to & !SNAPSHOT_FAILED_FLAG, SnapshotStatus::Failure);
                } else {
                    g.raw.report_unreachable(to);
                }
            }
        }
        self.publish(applied, &handled);
    }

    /// Step 5: makes applies visible, then answers proposals and every read
    /// whose index is applied (also reads confirmed in this turn at an index
    /// applied long ago).
    fn publish(&mut self, applied: Vec<(u64, Vec<AppliedInfo<M::Output>>)>, handled: &[u64]) {
        if !applied.is_empty() {
            self.sm.flush();
        }
        for (id, infos) in applied {
            let g = self.groups.get_mut(&id).unwrap();
            // Publish the applied index before answering anyone: whoever learns
            // of a write must also see an applied index that covers it.
            g.shared.applied.store(g.applied, Ordering::Release);
            g.shared.applied_changed.notify_waiters();
            for info in infos {
                Self::resolve(g, info);
            }
        }
        for id in handled {
            let g = self.groups.get_mut(id).unwrap();
            while let Some(entry) = g.read_waits.first_entry() {
                if entry.key().0 > g.applied {
                    break;
                }
                let wait = entry.key().0;
                for reply in entry.remove() {
                    let _ = reply.send(Ok(wait));
                }
            }
        }
    }

    fn apply(
        sm: &mut M,
        group: u64,
        g: &mut Group<M::Output>,
        entries: Vec<Entry>,
        infos: &mut Vec<AppliedInfo<M::Output>>,
    ) {
        if entries.is_empty() {
            return;
        }
        // Decode conf changes and apply them to raft first, in order.
        let mut changes: Vec<Option<(ConfChangeV2, ConfState)>> = Vec::with_capacity(entries.len());
        for e in &entries {
            let cc = match e.get_entry_type() {
                EntryType::EntryNormal => None,
                EntryType::EntryConfChange => ConfChange::parse_from_bytes(&e.data).ok().map(|c| {
                    use raft_proto::ConfChangeI as _;
                    c.into_v2()
                }),
                EntryType::EntryConfChangeV2 => ConfChangeV2::parse_from_bytes(&e.data).ok(),
            };
            changes.push(cc.and_then(|cc| match g.raw.apply_conf_change(&cc) {
                Ok(cs) => {
                    if let Ok(nodes) = ReplicaNodes::decode(cc.context.as_ref()) {
                        for rn in nodes.replicas {
                            g.peers.insert(rn.replica, rn.node);
                        }
                    }
                    g.shared.voters.store(cs.voters.len() as u64, Ordering::Relaxed);
                    Some((cc, cs))
                }
                Err(err) => {
                    tracing::warn!("group {group}: conf change at {} not applied: {err}", e.index);
                    None
                }
            }));
        }
        let committed: Vec<Committed<'_>> = entries
            .iter()
            .zip(&changes)
            .map(|(e, cc)| Committed {
                index: e.index,
                term: e.term,
                kind: match cc {
                    Some((change, conf_state)) => CommittedKind::ConfChange { change, conf_state },
                    None if e.data.is_empty() => CommittedKind::Empty,
                    None => CommittedKind::Normal(&e.data),
                },
            })
            .collect();
        let outputs = sm.apply(group, &committed);
        for (c, out) in committed.iter().zip(outputs.into_iter().chain(std::iter::repeat_with(|| None))) {
            infos.push(AppliedInfo {
                index: c.index,
                term: c.term,
                empty: matches!(c.kind, CommittedKind::Empty),
                output: out,
            });
        }
        g.applied = entries.last().unwrap().index;
    }

    /// Decides the proposals waiting at or below this applied index.
    fn resolve(g: &mut Group<M::Output>, info: AppliedInfo<M::Output>) {
        let mut output = info.output;
        while let Some(p) = g.proposals.front() {
            if p.index > info.index {
                break;
            }
            let p = g.proposals.pop_front().unwrap();
            let result = if p.index < info.index {
                // Jumped over (a snapshot covered it): it may be in there.
                Err(ProposeError::Unknown("replaced by a snapshot before it was applied here".into()))
            } else if p.term != info.term {
                Err(ProposeError::Overwritten)
            } else if info.empty && p.conf_change {
                // Same index and term but empty: raft replaced a refused conf change.
                Err(ProposeError::Refused)
            } else {
                match output.take() {
                    Some(o) => Ok(o),
                    None => Err(ProposeError::Unknown("the state machine reported no result".into())),
                }
            };
            let _ = p.reply.send(result);
        }
    }
}
