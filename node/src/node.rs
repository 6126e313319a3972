//! The data node: opens the store and the WAL, runs the raft driver with the
//! key-value state machine, and executes typed commands for the RESP layer.
//!
//! Write path: [`Node::submit`] routes the command to its partition, wraps it
//! in an [`Entry`] (stamp, seed) and queues it on the driver; the returned
//! future resolves when the entry is applied (see `sm.rs`). Queuing is this
//! connection's ordering point: its commands are proposed in the order they
//! were submitted, and a read queued after a write waits until that write is
//! applied. Read path: a linearizable read point from raft (or, for a group
//! whose only voter is this ready leader with nothing of this connection in
//! flight, the applied state directly), then a RocksDB snapshot.

use crate::command::{Cmd, Command, Empty, Entry, ExpireIfStale, Keys, Scan, Watch};
use crate::exec::{self, Db};
use crate::forward::{Forwarder, FwdKind, FwdMsg, LeaderInfo, PartitionRead, PartitionReadMsg};
use crate::keys;
use crate::partition::{group_id, slot_range, Announced, Namespace, Partition, PartitionShared, Registry};
use crate::reply::{err, Reply};
use crate::seen::SeenNodes;
use crate::sm::KvStateMachine;
use crate::snapshot::Snapshots;
use crate::state::{namespace_key, partition_key, NamespaceRecord, PartitionState, ReplicaStatus};
use crate::store::{Cf, KvRead, ReadView, Store};
use crate::waiters::KeyWaiters;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use kvraft::raft::eraftpb::ConfState;
use kvraft::{
    AppliedState, Driver, DriverConfig, GroupSpec, InboundHandler, ProposeError, RaftHandle, Request, Transport,
    TransportConfig,
};
use parking_lot::Mutex;
use prost::Message;
use rand::Rng;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};
use wal::Wal;

/// The initial applied index and term of a bootstrapped partition (as TiKV):
/// the log starts after it, so a new replica can always be told apart.
pub const INIT_INDEX: u64 = 5;

/// How often a client blocked on keys of a partition this node holds no
/// replica of looks whether they exist yet.
const BLOCKED_POLL: Duration = Duration::from_millis(100);

#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub data_dir: PathBuf,
    pub node_id: u64,
    /// Partitions of the `default` namespace when the data directory is new.
    pub partitions: u32,
    pub raft: DriverConfig,
    /// How long a write waits for its outcome before answering UNCERTAIN.
    pub write_timeout: Duration,
    pub read_timeout: Duration,
    /// A partition's raft log is compacted once it holds this many entries.
    pub log_compact_entries: u64,
    pub expire_cycle: Duration,
    /// Keys expired per partition per cycle at most.
    pub expire_batch: usize,
    /// Set when the node is one of a replicated cluster.
    pub cluster: Option<ClusterConfig>,
    /// Bytes per second a node may pull snapshot files at (0: no limit).
    pub snapshot_bandwidth: u64,
    /// How long a command waits for its partition to have a leader before
    /// it is answered TRYAGAIN.
    pub leader_wait: Duration,
}

/// A node of a replicated cluster described by a static `cluster.toml`.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub spec: ::meta::cluster::ClusterSpec,
    /// Create the initial replicas if the data directory is new (only
    /// meaningful on a new cluster, as etcd's initial-cluster-state=new).
    pub bootstrap: bool,
    /// Answer -MOVED for keys this node does not lead, instead of forwarding.
    pub redirect_moved: bool,
    /// How often this node hands partitions it leads back to their
    /// preferred nodes (see [`crate::balance`]); zero: never.
    pub leader_balance: Duration,
}

impl NodeConfig {
    pub fn standalone(data_dir: PathBuf) -> NodeConfig {
        NodeConfig {
            data_dir,
            node_id: 1,
            partitions: 1,
            raft: DriverConfig::default(),
            write_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(10),
            log_compact_entries: 20_000,
            expire_cycle: Duration::from_millis(100),
            expire_batch: 256,
            cluster: None,
            snapshot_bandwidth: 0,
            leader_wait: Duration::from_secs(3),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Wal(#[from] wal::Error),
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Raft(String),
}

/// Snapshot counters for /metrics.
#[derive(Clone, Copy, Debug, Default)]
pub struct SnapshotCounts {
    pub built: u64,
    pub installed: u64,
    pub bytes_received: u64,
    pub files_resumed: u64,
    pub pulls_failed: u64,
    /// Installs a crash interrupted, finished when this node started.
    pub installs_resumed: u64,
}

/// Counters for INFO.
#[derive(Default)]
pub struct NodeStats {
    pub writes: AtomicU64,
    pub reads: AtomicU64,
    pub expired_keys: AtomicU64,
}

pub struct Node {
    pub cfg: NodeConfig,
    pub(crate) store: Arc<Store>,
    wal: Arc<Wal>,
    pub(crate) raft: RaftHandle<Reply>,
    ns: Arc<Namespace>,
    started: Instant,
    pub stats: NodeStats,
    waiters: Arc<KeyWaiters>,
    /// The keys applied entries change (client-side caching).
    changes: Arc<crate::changes::Changes>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    transport: Arc<Transport>,
    /// Forwarding to and from other nodes (cluster mode only).
    pub(crate) fwd: Option<Arc<Forwarder>>,
    /// Partitions by raft group id.
    pub(crate) by_group: HashMap<u64, Arc<Partition>>,
    pub(crate) snapshots: Option<Arc<Snapshots>>,
    snapshots_installed: Arc<AtomicU64>,
    installs_resumed: u64,
    /// This node's pub/sub subscribers.
    pub pubsub: Arc<crate::pubsub::Hub>,
    /// Publishes to them and to the other nodes' (PUBLISH, scripts).
    publisher: Arc<Publisher>,
    /// Scripts and functions asked of, and answered to, the other nodes.
    lookup: crate::peer_lookup::PeerLookup,
    /// The apply versions the other nodes announce.
    versions: crate::versions::PeerVersions,
    /// `notify-keyspace-events` ([`crate::notify`] flags): what entries this
    /// node proposes collect and publish.
    pub notify: AtomicU32,
}

/// What a connection carries for the node: its namespace and which of its
/// commands are still in flight, per partition.
pub struct Session {
    pub ns: Arc<Namespace>,
    /// Names this connection's session on the leaders it forwards to.
    id: u64,
    /// Writes of this connection in flight, per partition.
    writes: HashMap<u32, Arc<Gate>>,
    /// Reads of this connection still waiting for their read point, per
    /// partition. A later write of the connection waits for them, so a
    /// pipelined read never sees a write the client sent after it.
    reads: HashMap<u32, Arc<Gate>>,
    /// Where this connection's last command on each partition went (0: this
    /// node). When it changes, the new route waits for the old one to drain.
    routes: HashMap<u32, u64>,
    /// Partitions where a write of this connection has an unknown outcome:
    /// later commands there fail rather than overtake it.
    poisoned: Arc<Mutex<HashSet<u32>>>,
    /// Set by the connection while a command of it refused for a
    /// leadership change (see [`leader_changing`]) waits to be sent again
    /// or answered: commands it dispatches meanwhile are refused the same
    /// way, so that none can run before the refused one (at a new leader,
    /// say) and all are sent again in order.
    refused: Arc<AtomicBool>,
    /// A session serving requests forwarded by another node: it never
    /// forwards again.
    pub local_only: bool,
    /// READONLY: reads may be served by a follower replica here (through a
    /// read index from the leader, so still linearizable).
    pub readonly: bool,
    /// The front end's id of the connection (CLIENT ID), written into the
    /// entries it proposes (see [`Entry::origin_client`]).
    pub client: u64,
    /// Closes this session on the leaders it used once the last handle goes.
    remote: Option<Arc<RemoteSessions>>,
}

/// The leaders a session forwarded to; they are told when it ends.
struct RemoteSessions {
    fwd: Arc<Forwarder>,
    id: u64,
    nodes: Mutex<HashSet<u64>>,
}

impl Drop for RemoteSessions {
    fn drop(&mut self) {
        for n in self.nodes.lock().iter() {
            self.fwd.close_session(*n, self.id);
        }
    }
}

impl Session {
    /// A handle on the same connection state, for work that outlives one
    /// dispatch (a blocked command retrying its pop).
    pub fn share(&self) -> Session {
        Session {
            ns: self.ns.clone(),
            id: self.id,
            writes: self.writes.clone(),
            reads: self.reads.clone(),
            routes: self.routes.clone(),
            poisoned: self.poisoned.clone(),
            refused: self.refused.clone(),
            local_only: self.local_only,
            readonly: self.readonly,
            client: self.client,
            remote: self.remote.clone(),
        }
    }

    fn read_gate(&mut self, p: u32) -> Arc<Gate> {
        self.reads.entry(p).or_default().clone()
    }

    fn write_gate(&mut self, p: u32) -> Arc<Gate> {
        self.writes.entry(p).or_default().clone()
    }

    /// Waits until every earlier read of this connection on `p` has read.
    async fn reads_done(&self, p: u32) {
        if let Some(g) = self.reads.get(&p) {
            g.wait_clear().await;
        }
    }

    /// Waits until every earlier write of this connection on `p` has an outcome.
    async fn writes_done(&self, p: u32) {
        if let Some(g) = self.writes.get(&p) {
            g.wait_clear().await;
        }
    }

    /// The flag the connection raises while a refused command of it waits
    /// (see `refused` above); shared by the session's handles.
    pub fn refusal_flag(&self) -> Arc<AtomicBool> {
        self.refused.clone()
    }

    fn has_inflight(&self, p: u32) -> bool {
        self.writes.get(&p).is_some_and(|g| g.busy())
    }
}

/// Counts commands in flight; wakes those waiting for them to finish.
#[derive(Default)]
struct Gate {
    pending: AtomicUsize,
    done: tokio::sync::Notify,
}

impl Gate {
    fn enter(self: &Arc<Self>) -> GateGuard {
        self.pending.fetch_add(1, Ordering::AcqRel);
        GateGuard(self.clone())
    }

    fn busy(&self) -> bool {
        self.pending.load(Ordering::Acquire) > 0
    }

    async fn wait_clear(&self) {
        loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            // Registered before the check, so a wake-up in between is not lost.
            notified.as_mut().enable();
            if !self.busy() {
                return;
            }
            notified.await;
        }
    }
}

struct GateGuard(Arc<Gate>);

impl Drop for GateGuard {
    fn drop(&mut self) {
        if self.0.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.done.notify_waiters();
        }
    }
}

/// Where a command on a partition goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Local,
    Remote(u64),
}

/// A reply that will be ready later.
pub type PendingReply = BoxFuture<'static, Reply>;

fn ready(r: Reply) -> PendingReply {
    futures::future::ready(r).boxed()
}

/// Milliseconds of the local clock.
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The `-TRYAGAIN` errors of a leadership change under way: the command
/// certainly did not take effect, and once the partition has settled on a
/// leader it can be sent again (a connection does that itself when nothing
/// it sent after the command took effect; see redisapi's `resend`).
const NOT_LEADER: &str = "TRYAGAIN this node does not lead the partition";
const NO_LEADER: &str = "TRYAGAIN the partition has no leader yet";
const DROPPED: &str = "TRYAGAIN the leader did not take the command";
const OVERWRITTEN: &str = "TRYAGAIN the write was overwritten by a new leader";
const LEADER_CHANGING: &str = "TRYAGAIN the partition's leader is changing";

/// Whether `r` is one of the leadership-change errors above.
pub fn leader_changing(r: &Reply) -> bool {
    matches!(r, Reply::Error(e) if [NOT_LEADER, NO_LEADER, DROPPED, OVERWRITTEN, LEADER_CHANGING]
        .iter()
        .any(|p| e.starts_with(p)))
}

/// How outcomes reach clients: TRYAGAIN only when the command certainly did
/// not take effect, UNCERTAIN when it may have.
pub fn propose_error_reply(e: &ProposeError) -> Reply {
    match e {
        ProposeError::NotLeader { leader: Some(n) } => Reply::error(format!("{NOT_LEADER} (leader: node {n})")),
        ProposeError::NotLeader { leader: None } => Reply::error(NO_LEADER),
        ProposeError::Dropped(m) => Reply::error(format!("{DROPPED}: {m}")),
        ProposeError::Overwritten => Reply::error(OVERWRITTEN),
        ProposeError::Refused => Reply::error("TRYAGAIN the change was refused"),
        ProposeError::TooLarge { size, max } => {
            Reply::error(format!("ERR the command is {size} bytes, larger than the maximum entry size of {max} bytes"))
        }
        ProposeError::NoGroup(_) => Reply::error("CLUSTERDOWN the partition is not served by this node"),
        ProposeError::Unknown(m) => Reply::error(format!("UNCERTAIN the outcome of the write is unknown: {m}")),
    }
}

const POISONED: &str =
    "UNCERTAIN an earlier write of this connection to this partition has an unknown outcome; reconnect to continue";

impl Node {
    /// Opens (or creates) a standalone node: one voter per partition, no etcd.
    pub async fn open_standalone(cfg: NodeConfig) -> Result<Arc<Node>, NodeError> {
        Node::open(cfg).await
    }

    /// Opens the node: standalone, or as one node of `cfg.cluster`.
    pub async fn open(cfg: NodeConfig) -> Result<Arc<Node>, NodeError> {
        std::fs::create_dir_all(&cfg.data_dir)
            .map_err(|e| NodeError::Config(format!("data dir {}: {e}", cfg.data_dir.display())))?;
        let store = Arc::new(Store::open(&cfg.data_dir.join("db"))?);
        let wal = Arc::new(Wal::open(cfg.data_dir.join("wal"), wal::Options::default())?);
        // The transport comes up before the replicas: a bootstrapping node
        // asks its peers first, and answers their questions meanwhile.
        let (inbound, inbox) = kvraft::raft_channel(16 << 10);
        let handler = Arc::new(NodeInbound {
            raft: inbound,
            seen: SeenNodes::load(store.clone()),
            fwd: OnceLock::new(),
            node: OnceLock::new(),
            origins: Mutex::default(),
        });
        let transport = match &cfg.cluster {
            None => Transport::local_only(cfg.node_id),
            Some(c) => {
                let me = c.spec.node(cfg.node_id).ok_or_else(|| {
                    NodeError::Config(format!("node id {} is not in the cluster description", cfg.node_id))
                })?;
                let (t, _) = Transport::start(cfg.node_id, &me.raft_addr, TransportConfig::default(), handler.clone())
                    .await
                    .map_err(|e| NodeError::Config(format!("binding the raft address {}: {e}", me.raft_addr)))?;
                for n in &c.spec.nodes {
                    if n.id != cfg.node_id {
                        t.set_peer_addr(n.id, n.raft_addr.clone());
                    }
                }
                t
            }
        };
        let fwd = cfg.cluster.as_ref().map(|_| Arc::new(Forwarder::new(transport.clone())));
        if let Some(f) = &fwd {
            let _ = handler.fwd.set(f.clone());
        }
        let (record, mut states) = match (&cfg.cluster, &fwd) {
            (Some(c), Some(f)) => bootstrap_cluster(&store, cfg.node_id, c, f).await?,
            _ => bootstrap_standalone(&store, &cfg)?,
        };
        let recv_root = cfg.data_dir.join("snap-recv");
        let mut installs_resumed = 0;
        for st in &mut states {
            if st.status == ReplicaStatus::Applying as i32 {
                // A crash interrupted a snapshot install: finish it first.
                crate::snapshot::resume_install(&store, &recv_root, st).map_err(NodeError::Raft)?;
                installs_resumed += 1;
            }
        }

        let registry = Registry::default();
        let waiters = Arc::new(KeyWaiters::default());
        let (removed_tx, removed_rx) = tokio::sync::mpsc::unbounded_channel();
        let changes = Arc::new(crate::changes::Changes::default());
        let sm = KvStateMachine::new(store.clone(), registry.clone(), waiters.clone())
            .with_snapshot_dir(recv_root)
            .with_removals(removed_tx)
            .with_changes(changes.clone());
        let snapshots_installed = sm.snapshots_installed.clone();
        let mut dcfg = cfg.raft.clone();
        dcfg.node_id = cfg.node_id;
        let (snapshots, arrivals) = match &cfg.cluster {
            None => (None, None),
            Some(_) => {
                let ranges = (0..record.partitions)
                    .map(|i| (group_id(record.id, i), (record.id, slot_range(i, record.partitions))))
                    .collect();
                let snaps =
                    Snapshots::new(store.clone(), &cfg.data_dir, ranges, transport.clone(), cfg.snapshot_bandwidth);
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                (Some(snaps), Some((tx, rx)))
            }
        };
        let (arrivals_tx, arrivals_rx) = match arrivals {
            Some((tx, rx)) => (Some(tx), Some(rx)),
            None => (None, None),
        };
        let raft = Driver::spawn_with_snapshots(dcfg, wal.clone(), transport.clone(), sm, inbox, arrivals_tx);

        let mut hosted: HashMap<u32, PartitionState> = states.into_iter().map(|st| (st.index, st)).collect();
        let mut partitions = Vec::new();
        for i in 0..record.partitions {
            let shared = Arc::new(PartitionShared::default());
            let group = group_id(record.id, i);
            registry.insert(group, shared.clone());
            let mut gs = None;
            if let Some(st) = hosted.remove(&i) {
                shared.last_stamp.store(st.last_stamp, Ordering::Relaxed);
                let mut peers = st.peer_list();
                if peers.is_empty() {
                    // Standalone data directories from before peers were recorded.
                    peers.push((st.replica_id, cfg.node_id));
                }
                let spec = GroupSpec {
                    group,
                    replica_id: st.replica_id,
                    applied: AppliedState {
                        index: st.applied_index,
                        term: st.applied_term,
                        conf_state: st.conf_state(),
                    },
                    peers,
                };
                let source = snapshots.clone().map(|s| s as Arc<dyn kvraft::SnapshotSource>);
                gs = Some(raft.add_group(spec, source).await.map_err(NodeError::Raft)?);
            }
            partitions.push(Arc::new(Partition::new(record.id, i, record.partitions, gs, shared)));
        }
        let by_group = partitions.iter().map(|p| (p.group, p.clone())).collect();
        let ns = Arc::new(Namespace { id: record.id, name: record.name.clone(), partitions });
        let pubsub: Arc<crate::pubsub::Hub> = Default::default();
        let peers = match (&fwd, &cfg.cluster) {
            (Some(_), Some(c)) => c.spec.nodes.iter().map(|n| n.id).filter(|id| *id != cfg.node_id).collect(),
            _ => vec![],
        };
        let lookup = crate::peer_lookup::PeerLookup::new(fwd.clone(), peers.clone());
        let publisher = Arc::new(Publisher { hub: pubsub.clone(), fwd: fwd.clone(), peers });
        let node = Arc::new(Node {
            cfg,
            store,
            wal,
            raft,
            ns,
            started: Instant::now(),
            stats: NodeStats::default(),
            waiters,
            changes,
            tasks: Mutex::new(Vec::new()),
            transport,
            fwd,
            by_group,
            snapshots,
            snapshots_installed,
            installs_resumed,
            pubsub,
            publisher,
            lookup,
            notify: AtomicU32::new(0),
            versions: Default::default(),
        });
        let _ = handler.node.set(Arc::downgrade(&node));
        if let Some(rx) = arrivals_rx {
            node.tasks.lock().push(tokio::spawn(receive_snapshots(Arc::downgrade(&node), rx)));
        }
        node.tasks.lock().push(tokio::spawn(destroy_removed(Arc::downgrade(&node), removed_rx)));
        if let (Some(snaps), Some(c)) = (&node.snapshots, &node.cfg.cluster) {
            // A snapshot a leader sent to this node's previous run will never
            // be reported: say it failed, so the leader sends a new one now
            // rather than at its deadline. Leaders ignore reports of
            // snapshots they are not waiting for.
            for p in &node.ns.partitions {
                let Some(g) = p.replica() else { continue };
                for n in c.spec.nodes.iter().filter(|n| n.id != node.cfg.node_id) {
                    snaps.report(n.id, p.group, g.replica_id, false);
                }
            }
        }
        if node.cfg.cluster.is_none() {
            node.wait_ready(Duration::from_secs(60)).await?;
        }
        node.start_background();
        Ok(node)
    }

    /// Waits until every partition has a leader that applied its term's
    /// first entry (so the whole log before it is applied).
    async fn wait_ready(&self, timeout: Duration) -> Result<(), NodeError> {
        let deadline = Instant::now() + timeout;
        for p in &self.ns.partitions {
            while !p.sole_voter_ready() {
                if Instant::now() > deadline {
                    return Err(NodeError::Raft(format!("partition {} did not become ready", p.index)));
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        Ok(())
    }

    pub fn node_id(&self) -> u64 {
        self.cfg.node_id
    }

    pub fn cluster(&self) -> Option<&ClusterConfig> {
        self.cfg.cluster.as_ref()
    }

    /// What this node did with snapshots since it started.
    pub fn snapshot_counts(&self) -> SnapshotCounts {
        let mut c = SnapshotCounts {
            installed: self.snapshots_installed.load(Ordering::Relaxed),
            installs_resumed: self.installs_resumed,
            ..Default::default()
        };
        if let Some(s) = &self.snapshots {
            c.built = s.stats.built.load(Ordering::Relaxed);
            c.bytes_received = s.stats.bytes_received.load(Ordering::Relaxed);
            c.files_resumed = s.stats.files_resumed.load(Ordering::Relaxed);
            c.pulls_failed = s.stats.pulls_failed.load(Ordering::Relaxed);
        }
        c
    }

    /// Requests forwarded by this node to leaders, and served for other nodes.
    pub fn forward_counts(&self) -> (u64, u64) {
        self.fwd.as_ref().map_or((0, 0), |f| (f.sent.load(Ordering::Relaxed), f.served.load(Ordering::Relaxed)))
    }

    pub fn namespace(&self) -> &Arc<Namespace> {
        &self.ns
    }

    /// Clients blocked in BLPOP and the like (INFO clients).
    pub fn blocked_clients(&self) -> usize {
        self.waiters.count()
    }

    /// PUBLISH (SPUBLISH with `shard`): delivered to this node's subscribers
    /// and passed on to every other node's. Returns this node's receivers
    /// (Redis Cluster's count).
    pub fn publish(&self, channel: &Bytes, message: &Bytes, shard: bool) -> usize {
        self.publisher.publish(channel, message, shard)
    }

    /// The keyspace notifications the entries this node proposes collect.
    fn notify_wanted(&self) -> u32 {
        crate::notify::wanted(self.notify.load(Ordering::Relaxed))
    }

    /// The apply versions the other nodes announced (for /metrics).
    pub fn peer_versions(&self) -> Vec<(u64, u32)> {
        self.versions.all()
    }

    pub fn new_session(&self) -> Session {
        let id = rand::thread_rng().gen();
        Session {
            ns: self.ns.clone(),
            id,
            writes: HashMap::new(),
            reads: HashMap::new(),
            routes: HashMap::new(),
            poisoned: Arc::default(),
            refused: Arc::default(),
            local_only: false,
            readonly: false,
            client: 0,
            remote: self
                .fwd
                .as_ref()
                .map(|fwd| Arc::new(RemoteSessions { fwd: fwd.clone(), id, nodes: Mutex::default() })),
        }
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn wal(&self) -> &Arc<Wal> {
        &self.wal
    }

    /// Counters of the node-to-node connections.
    pub fn transport_stats(&self) -> &kvraft::transport::TransportStats {
        &self.transport.stats
    }

    /// The read clock of a partition: never behind what apply has used.
    fn read_now(p: &Partition) -> u64 {
        wall_ms().max(p.shared.last_stamp.load(Ordering::Acquire))
    }

    /// The partition all `keys` belong to, or CROSSSLOT. `None` when empty.
    pub fn partition_for(&self, ns: &Namespace, keys: &[&Bytes]) -> Result<Option<u32>, Reply> {
        let mut part = None;
        for k in keys {
            let p = ns.partition_of_key(k).index;
            match part {
                None => part = Some(p),
                Some(q) if q != p => return Err(Reply::error(err::CROSSSLOT)),
                _ => {}
            }
        }
        Ok(part)
    }

    /// Submits a data command and returns once it is queued in this
    /// connection's order; the future resolves to its reply.
    pub async fn submit(&self, s: &mut Session, cmd: Cmd) -> PendingReply {
        if cmd.is_keyless() {
            return self.submit_keyless(s, cmd).await;
        }
        let ns = s.ns.clone();
        let keys = cmd.keys();
        if cmd.is_write() {
            let p = match self.partition_for(&ns, &keys) {
                Ok(Some(p)) => p,
                // A script that declares no keys runs on the first
                // partition (it may touch the keys that live there).
                Ok(None) if matches!(cmd, Cmd::Eval(_)) => 0,
                Ok(None) => return ready(Reply::error("ERR command without keys")),
                Err(e) => return ready(e),
            };
            self.stats.writes.fetch_add(1, Ordering::Relaxed);
            let entry = Entry { cmds: vec![Command::from(cmd)], ..Default::default() };
            return self.propose(s, &ns.partitions[p as usize], entry).await;
        }
        self.stats.reads.fetch_add(1, Ordering::Relaxed);
        // Reads: per partition, merged in key order (MGET, EXISTS, TOUCH).
        let mut by_part: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (i, k) in keys.iter().enumerate() {
            by_part.entry(ns.partition_of_key(k).index).or_default().push(i);
        }
        if by_part.len() <= 1 {
            let p = by_part.keys().next().copied().unwrap_or(0);
            return self.read(s, &ns.partitions[p as usize], cmd).await;
        }
        let all_keys: Vec<Bytes> = keys.into_iter().cloned().collect();
        let mut parts = Vec::new();
        for (p, idx) in &by_part {
            let sub: Vec<Bytes> = idx.iter().map(|i| all_keys[*i].clone()).collect();
            let sub_cmd = match &cmd {
                Cmd::MGet(_) => Cmd::MGet(Keys { keys: sub }),
                Cmd::Exists(_) => Cmd::Exists(Keys { keys: sub }),
                Cmd::Touch(_) => Cmd::Touch(Keys { keys: sub }),
                _ => return ready(Reply::error(err::CROSSSLOT)),
            };
            parts.push((idx.clone(), self.read(s, &ns.partitions[*p as usize], sub_cmd).await));
        }
        let n = all_keys.len();
        let is_mget = matches!(cmd, Cmd::MGet(_));
        async move {
            let mut merged = vec![Reply::Nil; n];
            let mut count = 0;
            for (idx, fut) in parts {
                match fut.await {
                    Reply::Array(items) if is_mget => {
                        for (i, r) in idx.into_iter().zip(items) {
                            merged[i] = r;
                        }
                    }
                    Reply::Int(c) => count += c,
                    e @ Reply::Error(_) => return e,
                    other => return Reply::error(format!("ERR internal: unexpected partial reply {other:?}")),
                }
            }
            if is_mget {
                Reply::Array(merged)
            } else {
                Reply::Int(count)
            }
        }
        .boxed()
    }

    /// A blocking pop (BLPOP, BLMOVE, BZPOPMIN, ...): `cmd` is the pop to try,
    /// now and again whenever a write to one of its keys is applied here,
    /// until it yields something or `timeout` passes (then its empty reply).
    /// CLIENT UNBLOCK sends on `unblock` whether to end with an error (else
    /// as a timeout); it ends the wait only between attempts, never an
    /// attempt under way, whose pop may already be applied.
    pub async fn submit_blocking(
        self: &Arc<Self>,
        s: &mut Session,
        cmd: Cmd,
        timeout: Option<Duration>,
        mut unblock: tokio::sync::oneshot::Receiver<bool>,
    ) -> PendingReply {
        let ns = s.ns.id;
        let keys: Vec<Bytes> = cmd.keys().into_iter().cloned().collect();
        // XREAD's `$` is fixed first: the client counts as blocked (INFO's
        // blocked_clients) only once it is, so that an entry added after
        // that is one it gets.
        let cmd = match self.resolve_last_ids(s, cmd, timeout).await {
            Ok(cmd) => cmd,
            Err(e) => return futures::future::ready(e).boxed(),
        };
        // Take a place in the queues before the first attempt, so that no
        // push can slip between it and the wait.
        let reg = self.waiters.register(ns, &keys);
        let first = self.submit(s, cmd.clone()).await;
        let node = self.clone();
        let mut session = s.share();
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        // Pushes are signalled where they are applied: a node without a
        // replica of the keys' partition hears of none, so it looks (a
        // linearizable EXISTS at the leader) every BLOCKED_POLL instead.
        let part = keys.first().map(|k| s.ns.partition_of_key(k).clone());
        // What it asks: whether the keys exist (a pop finds elements in any
        // list that exists); a stream read asks itself (XREAD is a read)
        // or, for a group, whether it would deliver (XREADGROUP writes).
        let probe = match &cmd {
            Cmd::XRead(x) if !x.group.is_empty() => Cmd::XRead(crate::stream_cmds::XRead { peek: true, ..x.clone() }),
            Cmd::XRead(_) => cmd.clone(),
            _ => Cmd::Exists(Keys { keys: keys.clone() }),
        };
        async move {
            let mut last = first.await;
            loop {
                if !matches!(last, Reply::Nil | Reply::NilArray) {
                    // Got something (or an error): whoever is next may find more.
                    reg.pass_turn();
                    return last;
                }
                // The deadline holds even if wake-ups keep coming (a timeout
                // polls what it bounds before it looks at the clock).
                if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                    return Reply::NilArray;
                }
                // Whether this node holds a replica is asked each time: one
                // may be added or removed meanwhile. (notify_one keeps a
                // signal that comes between two waits.)
                let wake = async {
                    loop {
                        let remote = part.as_ref().is_some_and(|p| !p.has_replica());
                        let poll = if remote { BLOCKED_POLL } else { Duration::from_secs(1) };
                        tokio::select! {
                            _ = reg.notify.notified() => return,
                            _ = tokio::time::sleep(poll) => {}
                        }
                        if remote
                            && !matches!(
                                node.submit(&mut session.share(), probe.clone()).await.await,
                                Reply::Int(0) | Reply::Nil | Reply::NilArray
                            )
                        {
                            return;
                        }
                    }
                };
                // Redis answers a timed-out list or zset pop with a null
                // array, BLMOVE's included.
                let woken = async {
                    match deadline {
                        Some(d) => tokio::time::timeout_at(d, wake).await.is_ok(),
                        None => {
                            wake.await;
                            true
                        }
                    }
                };
                tokio::select! {
                    woken = woken => if !woken {
                        return Reply::NilArray;
                    },
                    Ok(error) = &mut unblock => return if error {
                        Reply::error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
                    } else {
                        Reply::NilArray
                    },
                }
                last = node.submit(&mut session, cmd.clone()).await.await;
                if matches!((&cmd, &last), (Cmd::XRead(_), Reply::Error(e)) if e.starts_with("NOGROUP")) {
                    // The group went away while the consumer waited on it.
                    last = Reply::error("NOGROUP the consumer group this client was blocked on no longer exists");
                }
            }
        }
        .boxed()
    }

    /// A blocking XREAD's `$` means "after the last entry as of now": it is
    /// looked up once, before the wait, so that the entries added while the
    /// client waits are the ones it gets. (Without a wait, `$` finds nothing
    /// and needs no lookup.)
    async fn resolve_last_ids(&self, s: &mut Session, cmd: Cmd, timeout: Option<Duration>) -> Result<Cmd, Reply> {
        let Cmd::XRead(mut x) = cmd else { return Ok(cmd) };
        let last = crate::stream_cmds::ReadKind::Last as i32;
        if timeout == Some(Duration::ZERO) || !x.group.is_empty() || !x.streams.iter().any(|r| r.kind == last) {
            return Ok(Cmd::XRead(x));
        }
        let ask = crate::stream_cmds::XRead { last_ids: true, ..x.clone() };
        let ids = match self.submit(s, Cmd::XRead(ask)).await.await {
            Reply::Array(ids) => ids,
            other => return Err(other),
        };
        for (r, id) in x.streams.iter_mut().zip(ids) {
            let Reply::Bulk(id) = id else { continue };
            if r.kind == last {
                r.kind = crate::stream_cmds::ReadKind::After as i32;
                r.after = crate::stream::parse_id(&id, 0, true, false).map(|p| p.id);
            }
        }
        Ok(Cmd::XRead(x))
    }

    /// Where a command on `p` goes now: this node when it leads the
    /// partition (or, for a READONLY read, holds a replica), else the
    /// leader. Waits up to `leader_wait` for a leader to be known. When the
    /// route changed since this connection's last command on `p`, waits for
    /// that command first, so the new route cannot overtake it.
    async fn target(&self, s: &mut Session, p: &Partition, follower_read: bool) -> Result<Target, Reply> {
        if self.fwd.is_none() || s.local_only {
            return Ok(Target::Local);
        }
        let deadline = tokio::time::Instant::now() + self.cfg.leader_wait;
        let t = loop {
            if p.led_here() || (follower_read && p.has_replica()) {
                break Target::Local;
            }
            match p.leader_node() {
                Some(n) if n != self.cfg.node_id => break Target::Remote(n),
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Reply::error(NO_LEADER));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let via = match t {
            Target::Local => 0,
            Target::Remote(n) => n,
        };
        if s.routes.insert(p.index, via).is_some_and(|before| before != via) {
            s.writes_done(p.index).await;
            s.reads_done(p.index).await;
        }
        Ok(t)
    }

    /// Queues `entry` on partition `p` (here or at its leader) and returns
    /// the future of its reply.
    async fn propose(&self, s: &mut Session, p: &Arc<Partition>, mut entry: Entry) -> PendingReply {
        // (A forwarded entry carries its origin already.)
        if !s.local_only {
            (entry.origin_node, entry.origin_client) = (self.cfg.node_id, s.client);
        }
        match self.route(s, p, FwdKind::Write, || Bytes::from(entry.encode_to_vec())).await {
            Some(reply) => reply,
            None => self.propose_local(s, p, entry).await,
        }
    }

    /// Sends a command on `p` to the partition's leader when that is another
    /// node; `None` when it is to run here. Refuses a poisoned partition,
    /// and retries a leader that cannot be reached (the request was not
    /// sent) until a new one is elected or `leader_wait` passes.
    async fn route(
        &self,
        s: &mut Session,
        p: &Partition,
        kind: FwdKind,
        encode: impl FnOnce() -> Bytes,
    ) -> Option<PendingReply> {
        if s.poisoned.lock().contains(&p.index) {
            return Some(ready(Reply::error(POISONED)));
        }
        let follower_read = kind == FwdKind::Read && s.readonly;
        let deadline = tokio::time::Instant::now() + self.cfg.leader_wait;
        let mut encode = Some(encode);
        let mut data = None;
        loop {
            let t = self.target(s, p, follower_read).await;
            // (Checked after target(), which waits for the connection's
            // earlier commands when the route changed.)
            if t.is_ok() && s.refused.load(Ordering::Acquire) {
                return Some(ready(Reply::error(format!(
                    "{LEADER_CHANGING}: an earlier command of this connection was refused"
                ))));
            }
            let n = match t {
                Ok(Target::Local) => return None,
                Ok(Target::Remote(n)) => n,
                Err(e) => return Some(ready(e)),
            };
            let bytes = data.get_or_insert_with(|| (encode.take().unwrap())()).clone();
            match self.forward(s, p, n, kind, bytes) {
                Ok(f) => return Some(f),
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Some(ready(Reply::error(format!("TRYAGAIN cannot reach the leader: {e}"))))
                }
                // The leader is down: a new one is elected soon.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    async fn propose_local(&self, s: &mut Session, p: &Arc<Partition>, mut entry: Entry) -> PendingReply {
        if let Err(e) = self.check_apply_version(p, &entry).await {
            return ready(e);
        }
        s.reads_done(p.index).await;
        entry.stamp = Self::read_now(p);
        entry.seed = rand::thread_rng().gen();
        entry.notify = self.notify_wanted();
        let data = Bytes::from(entry.encode_to_vec());
        let pending = match self.raft.enqueue_propose(p.group, data).await {
            Ok(pending) => pending,
            Err(e) => return ready(propose_error_reply(&e)),
        };
        let guard = s.write_gate(p.index).enter();
        let poisoned = s.poisoned.clone();
        let part = p.index;
        let timeout = self.cfg.write_timeout;
        let publisher = self.publisher.clone();
        async move {
            let r = pending.wait(timeout).await;
            drop(guard);
            match r {
                // What scripts published, and keyspace notifications, go
                // out here, once, from the node that proposed them.
                Ok(reply) => publisher.release(reply),
                Err(e) => {
                    if !e.certainly_not_applied() {
                        poisoned.lock().insert(part);
                    }
                    propose_error_reply(&e)
                }
            }
        }
        .boxed()
    }

    /// Refuses an entry that a replica of `p` is known to be too old to
    /// apply (a rolling upgrade under way; see [`crate::versions`]).
    async fn check_apply_version(&self, p: &Partition, entry: &Entry) -> Result<(), Reply> {
        let needed = entry.cmds.iter().filter_map(|c| c.cmd.as_ref()).map(Cmd::apply_version).max().unwrap_or(1);
        if needed <= 1 {
            return Ok(());
        }
        let name = || {
            let c = entry.cmds.iter().filter_map(|c| c.cmd.as_ref()).find(|c| c.apply_version() == needed);
            c.map_or("the command", crate::exec::name).to_uppercase()
        };
        let too_old = |node: u64, v: u32| {
            Reply::error(format!(
                "TRYAGAIN {} needs every replica at apply version {needed}; node {node} applies {v} (finish the upgrade)",
                name()
            ))
        };
        if crate::versions::own() < needed {
            return Err(too_old(self.cfg.node_id, crate::versions::own()));
        }
        // Outside an upgrade no node is older: no need to ask the raft
        // driver (a round trip through its loop) who holds replicas.
        if !self.versions.any_older(needed) {
            return Ok(());
        }
        let Some(st) = self.raft.status(p.group).await else { return Ok(()) };
        let nodes: Vec<u64> = st.peers.iter().map(|(_, n)| *n).filter(|n| *n != self.cfg.node_id).collect();
        match self.versions.older_than(&nodes, needed) {
            Some((n, v)) => Err(too_old(n, v)),
            None => Ok(()),
        }
    }

    /// Sends a command to the leader `node` and returns the future of its
    /// reply. A write without a reply by the deadline is UNCERTAIN (and
    /// poisons the partition for this connection); a read is TRYAGAIN.
    /// `Err` when the request could not be sent (it certainly had no effect).
    fn forward(
        &self,
        s: &mut Session,
        p: &Partition,
        node: u64,
        kind: FwdKind,
        data: Bytes,
    ) -> Result<PendingReply, kvraft::SendError> {
        let fwd = self.fwd.clone().expect("forwarding needs cluster mode");
        let write = kind == FwdKind::Write;
        let (id, rx) = fwd.request(node, kind, s.id, p.group, data)?;
        let guard = if write { s.write_gate(p.index).enter() } else { s.read_gate(p.index).enter() };
        if let Some(r) = &s.remote {
            r.nodes.lock().insert(node);
        }
        let poisoned = s.poisoned.clone();
        let part = p.index;
        // The leader answers by its own deadline; allow for the trip.
        let timeout = if write { self.cfg.write_timeout } else { self.cfg.read_timeout } + Duration::from_secs(1);
        Ok(async move {
            let r = tokio::time::timeout(timeout, rx).await;
            drop(guard);
            match r {
                Ok(Ok(reply)) => {
                    if write && matches!(&reply, Reply::Error(e) if e.starts_with("UNCERTAIN")) {
                        poisoned.lock().insert(part);
                    }
                    reply
                }
                _ => {
                    fwd.abandon(id);
                    if write {
                        poisoned.lock().insert(part);
                        Reply::error(format!(
                            "UNCERTAIN the outcome of the write is unknown: no reply from the leader (node {node}) within {}ms",
                            timeout.as_millis()
                        ))
                    } else {
                        Reply::error(format!("TRYAGAIN no reply from the leader (node {node}) to the read"))
                    }
                }
            }
        }
        .boxed())
    }

    /// Returns once the read is ordered after this connection's earlier
    /// commands; the future waits for the read point and reads.
    async fn read(&self, s: &mut Session, p: &Arc<Partition>, cmd: Cmd) -> PendingReply {
        if let Some(reply) =
            self.route(s, p, FwdKind::Read, || Bytes::from(Command::from(cmd.clone()).encode_to_vec())).await
        {
            return reply;
        }
        if !s.has_inflight(p.index) && p.sole_voter_ready() {
            return ready(self.read_now_at(p, &cmd));
        }
        let Some(group) = p.replica() else {
            return ready(Reply::error("CLUSTERDOWN the partition is not served by this node"));
        };
        let pending = match self.raft.enqueue_read(p.group).await {
            Ok(pending) => pending,
            Err(e) => return ready(propose_error_reply(&e)),
        };
        let store = self.store.clone();
        let p = p.clone();
        let timeout = self.cfg.read_timeout;
        let guard = s.read_gate(p.index).enter();
        // A task of its own: a later write of this connection waits for this
        // read while the connection, which polls the returned future, waits
        // for that write to be queued.
        let read = tokio::spawn(async move {
            let reply = match pending.wait_read(timeout).await {
                Ok(index) => {
                    group.wait_applied(index).await;
                    execute_read(&store, &p, &cmd)
                }
                Err(e) => propose_error_reply(&e),
            };
            drop(guard);
            reply
        });
        async move { read.await.unwrap_or_else(|e| Reply::error(format!("ERR internal: read failed: {e}"))) }.boxed()
    }

    fn read_now_at(&self, p: &Partition, cmd: &Cmd) -> Reply {
        execute_read(&self.store, p, cmd)
    }

    /// A linearizable read barrier on one partition (for keyless commands and
    /// WATCH): resolves once reading the partition's applied state here is
    /// safe. On a follower the read index comes from the leader; this
    /// connection's forwarded writes finish first.
    async fn barrier(&self, s: &mut Session, p: &Arc<Partition>) -> Result<(), Reply> {
        if s.poisoned.lock().contains(&p.index) {
            return Err(Reply::error(POISONED));
        }
        let Some(group) = p.replica() else {
            return Err(Reply::error(
                "CLUSTERDOWN this command reads the partition locally and this node holds no replica of it; connect to a node that does",
            ));
        };
        if !s.has_inflight(p.index) && p.sole_voter_ready() {
            return Ok(());
        }
        if !p.led_here() {
            s.writes_done(p.index).await;
        }
        let pending = self.raft.enqueue_read(p.group).await.map_err(|e| propose_error_reply(&e))?;
        let index = pending.wait_read(self.cfg.read_timeout).await.map_err(|e| propose_error_reply(&e))?;
        group.wait_applied(index).await;
        Ok(())
    }

    async fn submit_keyless(&self, s: &mut Session, cmd: Cmd) -> PendingReply {
        let ns = s.ns.clone();
        match cmd {
            Cmd::FlushAll(_) => {
                let mut futs = Vec::new();
                for p in &ns.partitions {
                    let entry = Entry { cmds: vec![Command::from(Cmd::FlushAll(Empty {}))], ..Default::default() };
                    futs.push(self.propose(s, p, entry).await);
                }
                async move {
                    for f in futs {
                        let r = f.await;
                        if r.is_error() {
                            return r;
                        }
                    }
                    Reply::Ok
                }
                .boxed()
            }
            Cmd::DbSize(_) | Cmd::Keys(_) => {
                // Read every partition (of this node's, see `answers_for`)
                // at a linearizable point, in order.
                let mut futs = Vec::new();
                let covered: Vec<_> = ns.partitions.iter().filter(|p| self.answers_for(s, p)).collect();
                for p in covered {
                    futs.push(self.read(s, p, cmd.clone()).await);
                }
                async move {
                    let mut total = 0;
                    let mut keys = Vec::new();
                    for f in futs {
                        match f.await {
                            Reply::Int(n) => total += n,
                            Reply::Array(items) => keys.extend(items),
                            e => return e,
                        }
                    }
                    if matches!(cmd, Cmd::DbSize(_)) {
                        Reply::Int(total)
                    } else {
                        Reply::Array(keys)
                    }
                }
                .boxed()
            }
            Cmd::RandomKey(_) => {
                let start: u64 = rand::thread_rng().gen_range(0..(keys::SLOTS as u64) << 32);
                let first = ns.partition_of_slot((start >> 32) as u16).index as usize;
                let n = ns.partitions.len();
                for k in 0..n {
                    let p = &ns.partitions[(first + k) % n];
                    let cursor = if k == 0 { start } else { 0 };
                    match self.partition_read(s, p, PartitionRead::RandomKey(cursor)).await {
                        Reply::Nil => {}
                        r => return ready(r),
                    }
                }
                ready(Reply::Nil)
            }
            Cmd::Scan(scan) => ready(self.scan(s, &ns, scan).await),
            other => ready(Reply::error(format!("ERR internal: {} is not keyless", exec::name(&other)))),
        }
    }

    /// SCAN across partitions: the cursor names a (slot, hash) position, so
    /// it continues in whichever partition holds that slot. One call visits
    /// up to COUNT keys, moving on to the next partitions as needed.
    async fn scan(&self, s: &mut Session, ns: &Namespace, scan: Scan) -> Reply {
        let mut cursor = scan.cursor;
        let mut found: Vec<Reply> = Vec::new();
        let mut budget = scan.count.max(1);
        loop {
            let slot = (cursor >> 32).min(keys::SLOTS as u64 - 1) as u16;
            let p = ns.partition_of_slot(slot);
            let past = if p.slots.1 >= keys::SLOTS as u32 { 0 } else { keys::cursor_of(p.slots.1 as u16, 0) };
            if !self.answers_for(s, p) {
                cursor = past;
                if cursor == 0 {
                    break;
                }
                continue;
            }
            let step = Scan { cursor, count: budget, ..scan.clone() };
            let (next, visited, keys) = match self.partition_read(s, p, PartitionRead::Scan(step)).await {
                Reply::Array(r) => match <[Reply; 3]>::try_from(r) {
                    Ok([Reply::Int(next), Reply::Int(visited), Reply::Array(keys)]) => (next, visited as u64, keys),
                    _ => return Reply::error("ERR internal: malformed scan step"),
                },
                e => return e,
            };
            budget = budget.saturating_sub(visited);
            found.extend(keys);
            cursor = u64::try_from(next).unwrap_or(past);
            if cursor == 0 || budget == 0 {
                break;
            }
        }
        Reply::Array(vec![Reply::bulk(cursor.to_string()), Reply::Array(found)])
    }

    /// WATCH: where each key stands now, read at a linearizable point.
    pub async fn watch(&self, s: &mut Session, keys: &[Bytes]) -> Result<Vec<Watch>, Reply> {
        let ns = s.ns.clone();
        let mut out = Vec::new();
        for k in keys {
            let p = ns.partition_of_key(k).clone();
            match self.partition_read(s, &p, PartitionRead::Watch(k.clone())).await {
                Reply::Array(r) if r.len() == 2 => match (&r[0], &r[1]) {
                    (Reply::Int(index), Reply::Int(existed)) => {
                        out.push(Watch { key: k.clone(), read_index: *index as u64, existed: *existed != 0 })
                    }
                    _ => return Err(Reply::error("ERR internal: malformed watch reply")),
                },
                Reply::Error(e) => return Err(Reply::Error(e)),
                _ => return Err(Reply::error("ERR internal: malformed watch reply")),
            }
        }
        Ok(out)
    }

    /// Runs `r` on partition `p` at a linearizable point: on this node's
    /// replica, or, on a node without one, at the partition's leader.
    async fn partition_read(&self, s: &mut Session, p: &Arc<Partition>, r: PartitionRead) -> Reply {
        if let PartitionRead::Acks(_) = r {
            return self.replica_acks(s, p).await;
        }
        if !p.has_replica() {
            let msg = PartitionReadMsg { read: Some(r.clone()) };
            if let Some(reply) = self.route(s, p, FwdKind::PartitionRead, || Bytes::from(msg.encode_to_vec())).await {
                return reply.await;
            }
        }
        if let Err(e) = self.barrier(s, p).await {
            return e;
        }
        // The index first: the state read next is at least this new.
        let read_index = p.replica().map_or(0, |g| g.applied());
        let view = self.store.read_view();
        let db = db_for(&view, p, 0);
        match r {
            PartitionRead::Scan(step) => {
                let (keys, next, visited) = exec::keyspace::scan(&db, &step);
                Reply::Array(vec![
                    Reply::Int(next.map_or(-1, |c| c as i64)),
                    Reply::Int(visited as i64),
                    Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
                ])
            }
            PartitionRead::RandomKey(cursor) => exec::keyspace::random_key(&db, cursor).map_or(Reply::Nil, Reply::Bulk),
            PartitionRead::Watch(key) => {
                Reply::Array(vec![Reply::Int(read_index as i64), Reply::Int(db.meta(&key).is_some() as i64)])
            }
            PartitionRead::Acks(_) => unreachable!("answered above"),
        }
    }

    /// How many replicas of `p` other than its leader hold the log up to the
    /// leader's commit index now: at least every write acknowledged so far.
    /// Asked of the leader (forwarded when it is another node).
    async fn replica_acks(&self, s: &mut Session, p: &Arc<Partition>) -> Reply {
        let msg = PartitionReadMsg { read: Some(PartitionRead::Acks(true)) };
        if let Some(reply) = self.route(s, p, FwdKind::PartitionRead, || Bytes::from(msg.encode_to_vec())).await {
            return reply.await;
        }
        match self.raft.status(p.group).await {
            Some(st) if st.role == kvraft::raft::StateRole::Leader => {
                let acks = st
                    .progress
                    .iter()
                    .filter(|(r, m)| *r != st.replica_id && st.voters.contains(r) && *m >= st.commit)
                    .count();
                Reply::Int(acks as i64)
            }
            _ => Reply::error(LEADER_CHANGING),
        }
    }

    /// WAIT numreplicas timeout: the number of other replicas that hold
    /// every write this connection made, once it reaches `want` or at the
    /// deadline (None: no deadline). Over several partitions, the fewest.
    /// Writes are acknowledged only once a majority holds them, so this is
    /// at least a majority less one; WAIT says how far beyond that they went.
    pub fn wait_replicas(self: &Arc<Self>, s: &Session, want: i64, deadline: Option<Instant>) -> PendingReply {
        let node = self.clone();
        let mut s = s.share();
        async move {
            let written: Vec<u32> = s.writes.keys().copied().collect();
            loop {
                let mut fewest: Option<i64> = None;
                for &pi in &written {
                    let p = node.ns.partitions[pi as usize].clone();
                    match node.replica_acks(&mut s, &p).await {
                        Reply::Int(n) => fewest = Some(fewest.map_or(n, |f| f.min(n))),
                        // A leader change: count nothing for it this round.
                        _ => fewest = Some(0),
                    }
                }
                // No writes yet: every replica holds them (Redis counts all
                // of its replicas then); the standalone node has none.
                let n =
                    fewest.unwrap_or_else(|| node.cfg.cluster.as_ref().map_or(0, |c| c.spec.replication as i64 - 1));
                if n >= want || deadline.is_some_and(|d| Instant::now() >= d) {
                    return Reply::Int(n);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        .boxed()
    }

    /// EXEC of a transaction whose keys (watched ones included) lie in one
    /// partition: one raft entry, applied atomically.
    pub async fn submit_txn(&self, s: &mut Session, cmds: Vec<Cmd>, watches: Vec<Watch>) -> PendingReply {
        let ns = s.ns.clone();
        let mut keys: Vec<&Bytes> = cmds.iter().flat_map(|c| c.keys()).collect();
        keys.extend(watches.iter().map(|w| &w.key));
        let p = match self.partition_for(&ns, &keys) {
            Ok(Some(p)) => p,
            Ok(None) if ns.partitions.len() == 1 => 0,
            Ok(None) if cmds.is_empty() => return ready(Reply::Array(vec![])),
            // Scripts that declare no keys run on the first partition, as
            // they do outside a transaction.
            Ok(None) if cmds.iter().all(|c| matches!(c, Cmd::Eval(_))) => 0,
            Ok(None) => return ready(Reply::error(err::CROSSSLOT)),
            Err(e) => return ready(e),
        };
        if cmds.iter().any(|c| c.is_keyless()) && ns.partitions.len() > 1 {
            return ready(Reply::error(err::CROSSSLOT));
        }
        let entry =
            Entry { cmds: cmds.into_iter().map(Command::from).collect(), watches, txn: true, ..Default::default() };
        self.propose(s, &ns.partitions[p as usize], entry).await
    }

    /// (keys, keys with an expiry) of the namespace, from the partitions'
    /// applied state (INFO keyspace; not a linearizable read).
    pub fn keyspace_counts(&self) -> (u64, u64) {
        let mut keys = 0;
        let mut expires = 0;
        for p in &self.ns.partitions {
            if let Some(st) = load_state(&*self.store, p.group) {
                keys += st.key_count;
                expires += st.expire_count;
            }
        }
        (keys, expires)
    }

    /// Raft log entries held across this node's partitions (compaction keeps
    /// this bounded).
    pub fn raft_log_entries(&self) -> u64 {
        self.ns
            .partitions
            .iter()
            .filter_map(|p| self.wal.bounds(p.group))
            .map(|(first, last)| (last + 1).saturating_sub(first))
            .sum()
    }

    /// Scripts and functions this node lacks, found on the other nodes.
    pub fn peer_lookup(&self) -> &crate::peer_lookup::PeerLookup {
        &self.lookup
    }

    /// The keys applied entries change, for client-side caching.
    pub fn changes(&self) -> &Arc<crate::changes::Changes> {
        &self.changes
    }

    /// Whether this node holds a replica of `key`'s partition (so that it
    /// applies, and sees, every change of the key).
    pub fn holds(&self, key: &[u8]) -> bool {
        self.ns.partition_of_key(key).replica().is_some()
    }

    /// Whether this node holds a replica of every partition.
    pub fn holds_all(&self) -> bool {
        self.ns.partitions.iter().all(|p| p.replica().is_some())
    }

    /// SAVE: writes the keys of every partition this node holds a replica
    /// of (all of them, standalone) to `path` as a Redis RDB file, with the
    /// function `libraries`, replacing it whole ([`crate::durable`]). One RocksDB snapshot serves all partitions, so the file is
    /// the state of one moment on this node (a follower's replica may be a
    /// little behind its leader's). The number of keys written.
    pub fn save_rdb(
        &self,
        path: &std::path::Path,
        aux: &[(&str, String)],
        libraries: &[&[u8]],
    ) -> std::io::Result<u64> {
        let view: ReadView<'_> = self.store.read_view();
        crate::durable::replace_file(path, |w| {
            let mut out = crate::rdb::file::FileWriter::new(w, aux, libraries)?;
            let mut written = 0u64;
            for p in self.ns.partitions.iter().filter(|p| p.replica().is_some()) {
                let mut failed = Ok(());
                let db = db_for(&view, p, 0);
                db.scan_keys(&db.partition_start(), &mut |k, m| {
                    let key = keys::meta_user_key(k);
                    let at = (m.expire_at != 0).then_some(m.expire_at);
                    // A long string comes as stored: its value is in chunks.
                    let m = if exec::chunks::is_chunked(m) {
                        let mut whole = m.clone();
                        exec::chunks::assemble(&view, db.ns, key, &mut whole);
                        std::borrow::Cow::Owned(whole)
                    } else {
                        std::borrow::Cow::Borrowed(m)
                    };
                    failed = out.key(key, &exec::dump::value(&db, key, &m), at);
                    written += 1;
                    failed.is_ok()
                });
                failed?;
            }
            out.finish()?;
            Ok(written)
        })
    }

    fn start_background(self: &Arc<Self>) {
        let mut tasks = self.tasks.lock();
        tasks.push(tokio::spawn(expire_loop(Arc::downgrade(self))));
        tasks.push(tokio::spawn(compact_loop(Arc::downgrade(self))));
        if let Some(c) = &self.cfg.cluster {
            tasks.push(tokio::spawn(announce_loop(Arc::downgrade(self))));
            if !c.leader_balance.is_zero() {
                tasks.push(tokio::spawn(crate::balance::balance_loop(Arc::downgrade(self))));
            }
        }
    }

    /// Stops background work and the raft driver; makes RocksDB durable.
    pub async fn shutdown(&self) {
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
        self.raft.stop();
        self.transport.shutdown();
        if let Err(e) = self.store.flush_wal() {
            tracing::warn!("flushing RocksDB's WAL at shutdown: {e}");
        }
    }

    /// One active-expiry step for a partition this node leads: propose
    /// `ExpireIfStale` for up to `expire_batch` keys found expired in the
    /// index, looking from slot `*from` on (and moving it on).
    async fn expire_step(&self, p: &Arc<Partition>, from: &mut u32) -> usize {
        if !p.led_here() {
            return 0;
        }
        let now = Self::read_now(p);
        let found = {
            let view = self.store.read_view();
            let (found, next) = expired_in_index(&view, p, now, self.cfg.expire_batch, *from);
            *from = next;
            found
        };
        if found.is_empty() {
            return 0;
        }
        let n = found.len();
        let cmds = found
            .into_iter()
            .map(|(key, at)| Command::from(Cmd::ExpireIfStale(ExpireIfStale { key, expire_at: at })))
            .collect();
        let entry = Entry { stamp: now, seed: 0, cmds, notify: self.notify_wanted(), ..Default::default() };
        match self.raft.propose(p.group, Bytes::from(entry.encode_to_vec()), self.cfg.write_timeout).await {
            Ok(reply) => {
                // `expired` events.
                self.publisher.release(reply);
                self.stats.expired_keys.fetch_add(n as u64, Ordering::Relaxed);
                n
            }
            Err(e) => {
                tracing::debug!("active expiry on partition {}: {e}", p.index);
                0
            }
        }
    }

    /// Compacts raft logs that grew past the threshold, up to an applied index
    /// made durable in RocksDB first, then purges WAL segments.
    async fn compact_step(&self) {
        let mut any = false;
        for p in &self.ns.partitions {
            let Some(group) = p.replica() else { continue };
            let applied = group.applied();
            let first = self.wal.bounds(p.group).map_or(applied, |(f, _)| f);
            // In a cluster the log is kept back to the point the leader
            // announces: what every replica holds, but at most
            // `log_compact_entries` behind (a replica further behind catches
            // up from a snapshot).
            let limit = match self.cfg.cluster {
                None => applied,
                Some(_) => applied.min(p.shared.announced.lock().as_ref().map_or(0, |a| a.compact_to)),
            };
            if applied + 1 >= first.saturating_add(self.cfg.log_compact_entries) && limit > first {
                if !any {
                    // Everything applied so far becomes durable in RocksDB.
                    let store = self.store.clone();
                    if let Err(e) = tokio::task::spawn_blocking(move || store.flush_wal()).await.unwrap() {
                        tracing::warn!("log compaction: flushing RocksDB's WAL: {e}");
                        return;
                    }
                    any = true;
                }
                self.raft.send(Request::CompactLog { group: p.group, index: limit }).await;
            }
        }
        if any {
            let wal = self.wal.clone();
            match tokio::task::spawn_blocking(move || wal.purge()).await.unwrap() {
                Ok(n) if n > 0 => tracing::debug!("purged {n} WAL segment(s)"),
                Ok(_) => {}
                Err(e) => tracing::warn!("WAL purge: {e}"),
            }
        }
    }
}

/// Receives what peers send: raft messages go to the driver, forwarded
/// requests to one task per origin node (so each origin's requests are
/// queued in the order they were sent), replies and announcements to the node.
struct NodeInbound {
    raft: kvraft::RaftInbound,
    seen: SeenNodes,
    /// Set once the transport is up (cluster mode).
    fwd: OnceLock<Arc<Forwarder>>,
    /// Set once the node is open; what needs it is ignored before.
    node: OnceLock<Weak<Node>>,
    origins: Mutex<HashMap<u64, tokio::sync::mpsc::UnboundedSender<FwdMsg>>>,
}

impl InboundHandler for NodeInbound {
    fn on_raft(&self, from_node: u64, messages: Vec<kvraft::proto::GroupMessage>) {
        // Recorded before raft sees anything the sender voted or acknowledged.
        if let Err(e) = self.seen.note(from_node) {
            tracing::error!("recording that node {from_node} sent raft messages: {e}; dropping them");
            return;
        }
        self.raft.deliver(from_node, messages)
    }

    fn on_forward(&self, from_node: u64, payload: Bytes) {
        let m = match FwdMsg::decode(payload) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("undecodable forwarded message from node {from_node}: {e}");
                return;
            }
        };
        let Some(fwd) = self.fwd.get() else { return };
        match FwdKind::try_from(m.kind) {
            // These two need no open node: a bootstrapping node awaits the
            // answers to its questions, and answers its peers', before.
            Ok(FwdKind::Reply) => {
                let reply =
                    m.reply.map_or_else(|| Reply::error("ERR internal: empty forwarded reply"), |r| r.into_reply());
                fwd.on_reply(m.id, reply);
            }
            Ok(FwdKind::HeardFrom) => fwd.reply(from_node, m.id, &Reply::Int(self.seen.contains(from_node) as i64)),
            Ok(kind) => {
                let Some(node) = self.node.get().and_then(|w| w.upgrade()) else { return };
                if kind == FwdKind::Leaders {
                    node.versions.note(from_node, m.version);
                    node.learn_leaders(m.leaders);
                    return;
                }
                if kind == FwdKind::Publish {
                    if let Ok(p) = crate::forward::PublishMsg::decode(m.data) {
                        node.pubsub.publish(&p.channel, &p.message, p.shard);
                    }
                    return;
                }
                if kind == FwdKind::Lookup {
                    // An in-memory lookup: answered here, not queued behind
                    // the origin's commands.
                    fwd.reply(from_node, m.id, &node.lookup.answer(m.data));
                    return;
                }
                let mut origins = self.origins.lock();
                let tx = origins.entry(from_node).or_insert_with(|| {
                    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                    tokio::spawn(node.clone().serve_forwarded(from_node, rx));
                    tx
                });
                let _ = tx.send(m);
            }
            Err(_) => tracing::warn!("forwarded message of unknown kind {} from node {from_node}", m.kind),
        }
    }

    fn on_snapshot(&self, from_node: u64, payload: Bytes) {
        let Some(node) = self.node.get().and_then(|w| w.upgrade()) else { return };
        let Some(snaps) = node.snapshots.clone() else { return };
        let m = match snap::SnapMsg::decode(payload) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("undecodable snapshot message from node {from_node}: {e}");
                return;
            }
        };
        if m.kind == snap::SnapMsgKind::Status as i32 {
            let (group, to_replica, ok) = (m.group, m.to_replica, m.ok);
            tokio::spawn(async move { node.raft.send(Request::ReportSnapshot { group, to_replica, ok }).await });
        } else {
            snaps.on_message(from_node, m);
        }
    }
}

/// One partition as CLUSTER SLOTS/SHARDS/NODES present it.
#[derive(Clone, Debug)]
pub struct PartitionView {
    pub index: u32,
    /// Slots `[lo, hi)`.
    pub slots: (u32, u32),
    pub leader: Option<u64>,
    /// Nodes of all replicas, the leader's included.
    pub nodes: Vec<u64>,
}

/// One partition's raft state, for /metrics.
#[derive(Clone, Debug)]
pub struct PartitionMetrics {
    pub index: u32,
    pub group: u64,
    pub status: Option<kvraft::GroupStatus>,
    pub proposals: u64,
    /// First index still in the raft log (entries before it were compacted).
    pub log_first_index: u64,
}

impl Node {
    /// Serves the requests forwarded by node `from`, one session per origin
    /// connection, queued in arrival order; replies go back as they resolve.
    async fn serve_forwarded(self: Arc<Self>, from: u64, mut rx: tokio::sync::mpsc::UnboundedReceiver<FwdMsg>) {
        let Some(fwd) = self.fwd.clone() else { return };
        let mut sessions: HashMap<u64, (Session, Instant)> = HashMap::new();
        let mut served = 0u64;
        while let Some(m) = rx.recv().await {
            let kind = FwdKind::try_from(m.kind);
            if kind == Ok(FwdKind::CloseSession) {
                sessions.remove(&m.session);
                continue;
            }
            if kind == Ok(FwdKind::Admin) {
                // Membership requests are rare and may take a while: each on its own.
                let (node, fwd, id) = (self.clone(), fwd.clone(), m.id);
                tokio::spawn(async move {
                    let reply = node.serve_admin(m.data).await;
                    fwd.reply(from, id, &reply);
                });
                continue;
            }
            served += 1;
            if served.is_multiple_of(4096) {
                // Origins that went away without closing their sessions.
                sessions.retain(|_, (s, used)| {
                    used.elapsed() < Duration::from_secs(600) || s.writes.values().any(|g| g.busy())
                });
            }
            fwd.served.fetch_add(1, Ordering::Relaxed);
            let (s, used) = sessions.entry(m.session).or_insert_with(|| {
                let mut s = self.new_session();
                s.local_only = true;
                s.remote = None;
                (s, Instant::now())
            });
            *used = Instant::now();
            let Some(p) = self.by_group.get(&m.group).cloned() else {
                fwd.reply(from, m.id, &Reply::error("CLUSTERDOWN unknown partition"));
                continue;
            };
            let fut = match kind {
                Ok(FwdKind::Write) => match Entry::decode(m.data) {
                    Ok(entry) => self.propose(s, &p, entry).await,
                    Err(e) => ready(Reply::error(format!("ERR undecodable forwarded write: {e}"))),
                },
                Ok(FwdKind::Read) => match Command::decode(m.data).ok().and_then(|c| c.cmd) {
                    Some(cmd) => self.read(s, &p, cmd).await,
                    None => ready(Reply::error("ERR undecodable forwarded read")),
                },
                Ok(FwdKind::PartitionRead) => match PartitionReadMsg::decode(m.data).ok().and_then(|r| r.read) {
                    Some(r) => ready(self.partition_read(s, &p, r).await),
                    None => ready(Reply::error("ERR undecodable forwarded partition read")),
                },
                _ => continue,
            };
            let fwd = fwd.clone();
            let id = m.id;
            tokio::spawn(async move {
                let reply = fut.await;
                fwd.reply(from, id, &reply);
            });
        }
    }

    /// Records leaders' announcements about their groups.
    fn learn_leaders(self: &Arc<Self>, infos: Vec<LeaderInfo>) {
        for info in infos {
            let Some(p) = self.by_group.get(&info.group) else {
                continue;
            };
            if let Some(g) = p.replica() {
                let me = self.cfg.node_id;
                let member = info.replicas.iter().any(|r| r.replica == g.replica_id && r.node == me);
                if !member && g.replica_id < info.next_replica_id {
                    // Removed while it could not hear of it (ids are never
                    // reused, so an older id that is not a member never
                    // will be again).
                    let (node, group, replica) = (self.clone(), info.group, g.replica_id);
                    tokio::spawn(async move { node.destroy_replica(group, replica).await });
                }
            }
            let mut a = p.shared.announced.lock();
            if a.as_ref().is_some_and(|a| a.term > info.term) {
                continue;
            }
            *a = Some(Announced {
                term: info.term,
                leader: info.leader,
                nodes: info.nodes,
                compact_to: info.compact_to,
            });
        }
    }

    /// Tells every other node which groups this node leads, with their
    /// replicas and the index every replica holds.
    async fn announce_step(&self) {
        let (Some(fwd), Some(c)) = (&self.fwd, &self.cfg.cluster) else {
            return;
        };
        let mut infos = Vec::new();
        for p in &self.ns.partitions {
            if !p.led_here() {
                continue;
            }
            let Some(st) = self.raft.status(p.group).await else {
                continue;
            };
            if st.role != kvraft::raft::StateRole::Leader {
                continue;
            }
            let members: Vec<u64> = st.voters.iter().chain(&st.learners).copied().collect();
            let nodes: Vec<u64> = st.peers.iter().filter(|(r, _)| members.contains(r)).map(|(_, n)| *n).collect();
            // Keep the log back to what every replica holds, but no more than
            // `log_compact_entries` behind: a replica further behind than
            // that catches up from a snapshot instead.
            let min_matched =
                st.progress.iter().filter(|(r, _)| members.contains(r)).map(|(_, m)| *m).min().unwrap_or(0);
            let compact_to = min_matched.max(st.applied.saturating_sub(self.cfg.log_compact_entries));
            let (replicas, next_replica_id) =
                load_state(&*self.store, p.group).map_or((Vec::new(), 0), |s| (s.peers, s.next_replica_id));
            let info = LeaderInfo {
                group: p.group,
                term: st.term,
                leader: self.cfg.node_id,
                nodes,
                compact_to,
                replicas,
                next_replica_id,
            };
            *p.shared.announced.lock() =
                Some(Announced { term: info.term, leader: info.leader, nodes: info.nodes.clone(), compact_to });
            infos.push(info);
        }
        for n in &c.spec.nodes {
            if n.id != self.cfg.node_id {
                fwd.announce(n.id, infos.clone());
            }
        }
    }

    /// Every partition's slots, leader and replicas, as this node knows them.
    pub async fn partition_views(&self) -> Vec<PartitionView> {
        let mut out = Vec::new();
        for p in &self.ns.partitions {
            let mut v = PartitionView { index: p.index, slots: p.slots, leader: None, nodes: Vec::new() };
            if self.cfg.cluster.is_none() {
                v.leader = Some(self.cfg.node_id);
                v.nodes = vec![self.cfg.node_id];
            } else if p.has_replica() {
                if let Some(st) = self.raft.status(p.group).await {
                    let peers: HashMap<u64, u64> = st.peers.iter().copied().collect();
                    v.leader = peers.get(&st.leader_replica).copied().filter(|_| st.leader_replica != 0);
                    v.nodes = st.voters.iter().filter_map(|r| peers.get(r).copied()).collect();
                }
            } else if let Some(a) = p.shared.announced.lock().as_ref() {
                v.leader = Some(a.leader);
                v.nodes = a.nodes.clone();
            }
            v.nodes.sort_unstable();
            v.nodes.dedup();
            out.push(v);
        }
        out
    }

    /// Raft state of the partitions this node holds a replica of.
    pub async fn partition_metrics(&self) -> Vec<PartitionMetrics> {
        let mut out = Vec::new();
        for p in &self.ns.partitions {
            let Some(g) = p.replica() else { continue };
            out.push(PartitionMetrics {
                index: p.index,
                group: p.group,
                status: self.raft.status(p.group).await,
                proposals: g.proposals.load(Ordering::Relaxed),
                log_first_index: self.wal.bounds(p.group).map_or(0, |(f, _)| f),
            });
        }
        out
    }

    /// Whether SCAN, KEYS and DBSIZE here cover partition `p`. They cover
    /// every partition, as a single Redis does, but with `--redirect moved`,
    /// where a node serves as a Redis Cluster node does, only the partitions
    /// it leads: cluster clients send them to every master and add up the
    /// replies, and each key must come from one master only.
    fn answers_for(&self, s: &Session, p: &Partition) -> bool {
        match self.cfg.cluster.as_ref() {
            Some(c) if c.redirect_moved && !s.local_only => p.led_here(),
            _ => true,
        }
    }

    /// The partition of `key` if another node leads it: (slot, leader node).
    /// For `--redirect moved`.
    pub fn moved(&self, s: &Session, key: &[u8]) -> Option<(u16, u64)> {
        let c = self.cfg.cluster.as_ref()?;
        if !c.redirect_moved || s.local_only {
            return None;
        }
        let slot = keys::slot(key);
        let p = s.ns.partition_of_slot(slot);
        if p.led_here() {
            return None;
        }
        p.leader_node().filter(|n| *n != self.cfg.node_id).map(|n| (slot, n))
    }
}

fn db_for<'a, K: KvRead + ?Sized>(kv: &'a K, p: &Partition, key_count: u64) -> Db<'a, K> {
    Db { kv, ns: p.ns, now: Node::read_now(p), slots: p.slots, key_count, needs_snapshot: Default::default() }
}

pub(crate) fn load_state<K: KvRead + ?Sized>(kv: &K, group: u64) -> Option<PartitionState> {
    kv.get(Cf::State, &partition_key(group)).and_then(|v| PartitionState::decode(v.as_slice()).ok())
}

fn execute_read(store: &Store, p: &Partition, cmd: &Cmd) -> Reply {
    // A command that reads one record needs no snapshot: a point read of a
    // record written by atomic batches is consistent by itself.
    let single_record = match cmd {
        Cmd::Get(_)
        | Cmd::StrLen(_)
        | Cmd::GetRange(_)
        | Cmd::Type(_)
        | Cmd::Ttl(_)
        | Cmd::ObjectEncoding(_)
        | Cmd::ObjectInfo(_)
        | Cmd::GetBit(_)
        | Cmd::BitCount(_)
        | Cmd::BitPos(_) => true,
        Cmd::Exists(k) | Cmd::Touch(k) | Cmd::MGet(k) => k.keys.len() == 1,
        _ => false,
    };
    if single_record {
        let db = db_for(store, p, 0);
        let reply = exec::read(&db, cmd);
        // A long string is more than one record: read it from a snapshot.
        if !db.needs_snapshot.get() {
            return reply;
        }
    }
    let view: ReadView<'_> = store.read_view();
    let key_count =
        if matches!(cmd, Cmd::DbSize(_)) { load_state(&view, p.group).map_or(0, |st| st.key_count) } else { 0 };
    exec::read(&db_for(&view, p, key_count), cmd)
}

/// Keys of partition `p` whose expiry index entry is at or before `now`,
/// looked for from slot `from` on, round the partition's slots back to it;
/// with the slot to look from next time (where the batch filled up). Seeks
/// once per slot that holds expiring keys, so the cost follows the number
/// of such slots and keys, not the size of the keyspace. Going round
/// matters: an expired key leaves a deleted index record at the start of
/// its slot, which RocksDB steps over on every seek there until compaction,
/// so a search that always began at the first slot would pay again for
/// every key it ever expired.
fn expired_in_index<K: KvRead + ?Sized>(
    kv: &K,
    p: &Partition,
    now: u64,
    limit: usize,
    from: u32,
) -> (Vec<(Bytes, u64)>, u32) {
    let from = from.clamp(p.slots.0, p.slots.1.saturating_sub(1));
    let mut out = Vec::new();
    let mut next = from;
    // From `from` to the partition's end, then from its start back to `from`.
    for (first, last) in [(from, p.slots.1), (p.slots.0, from)] {
        let end = keys::slot_start(p.ns, last);
        let mut pos = keys::slot_start(p.ns, first);
        let mut seeks = 0;
        while out.len() < limit && seeks < 4096 && first < last {
            seeks += 1;
            let mut next_slot: Option<u16> = None;
            kv.scan(Cf::Expire, &pos, &end, &mut |k, _| {
                if let Some((slot, at, key)) = keys::parse_expire_key(k) {
                    if at <= now {
                        out.push((Bytes::copy_from_slice(key), at));
                        next = slot as u32;
                        // Keep reading this slot while keys are due.
                        return out.len() < limit;
                    }
                    next_slot = Some(slot);
                }
                false
            });
            match next_slot {
                // The rest of this slot is not due: jump to the next slot.
                Some(slot) => {
                    pos = keys::slot_start(p.ns, slot as u32 + 1);
                    if out.len() < limit {
                        next = slot as u32 + 1;
                    }
                }
                None => break,
            }
        }
        if out.len() >= limit || seeks >= 4096 {
            return (out, if next >= p.slots.1 { p.slots.0 } else { next });
        }
    }
    (out, from)
}

/// Active expiry, as Redis' cycle: every `expire_cycle`, each partition
/// this node leads expires a batch of due keys, and goes on with more
/// batches while they come full, for up to a quarter of the cycle (Redis
/// gives its cycle 25% of the time). A store that takes keys with short
/// TTLs faster than one batch a cycle would otherwise keep the dead ones
/// (on disk, and in DBSIZE) until they were read.
async fn expire_loop(node: std::sync::Weak<Node>) {
    // Per partition: the slot its next search starts from.
    let mut next_slot: HashMap<u32, u32> = HashMap::new();
    loop {
        let Some(n) = node.upgrade() else { return };
        let cycle = n.cfg.expire_cycle;
        let until = std::time::Instant::now() + cycle / 4;
        for p in n.ns.partitions.clone() {
            let from = next_slot.entry(p.index).or_insert(p.slots.0);
            while n.expire_step(&p, from).await >= n.cfg.expire_batch && std::time::Instant::now() < until {}
        }
        drop(n);
        tokio::time::sleep(cycle).await;
    }
}

/// Pulls the files of each snapshot a leader sends, then steps its message
/// into raft (which installs it); a failed pull is reported to the leader.
async fn receive_snapshots(node: Weak<Node>, mut rx: tokio::sync::mpsc::UnboundedReceiver<kvraft::SnapshotArrival>) {
    let busy: Arc<Mutex<HashSet<u64>>> = Arc::default();
    while let Some(a) = rx.recv().await {
        let Some(n) = node.upgrade() else { return };
        if !busy.lock().insert(a.group) {
            continue; // already pulling one for this group
        }
        let busy = busy.clone();
        tokio::spawn(async move {
            let snaps = n.snapshots.clone().expect("cluster mode");
            let to = a.message.to;
            let result = match snap::Manifest::decode(a.message.get_snapshot().data.as_ref()) {
                Ok(m) => {
                    tracing::info!(
                        "group {}: pulling a snapshot at index {} from node {} ({} files)",
                        a.group,
                        m.index,
                        a.from_node,
                        m.files.len()
                    );
                    snaps.pull(a.from_node, &m).await
                }
                Err(e) => Err(format!("undecodable manifest: {e}")),
            };
            match result {
                Ok(()) => {
                    n.raft.send(Request::StepSnapshot { group: a.group, message: Box::new(a.message) }).await;
                }
                Err(e) => {
                    tracing::warn!("group {}: snapshot from node {} failed: {e}", a.group, a.from_node);
                    snaps.stats.pulls_failed.fetch_add(1, Ordering::Relaxed);
                    snaps.report(a.from_node, a.group, to, false);
                }
            }
            busy.lock().remove(&a.group);
        });
    }
}

/// Destroys the replicas that applied their own removal.
async fn destroy_removed(node: Weak<Node>, mut rx: tokio::sync::mpsc::UnboundedReceiver<(u64, u64)>) {
    while let Some((group, replica)) = rx.recv().await {
        let Some(n) = node.upgrade() else { return };
        n.destroy_replica(group, replica).await;
    }
}

async fn announce_loop(node: Weak<Node>) {
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Some(n) = node.upgrade() else { return };
        n.announce_step().await;
    }
}

async fn compact_loop(node: std::sync::Weak<Node>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Some(n) = node.upgrade() else { return };
        n.compact_step().await;
    }
}

/// The namespace record `name` of this data directory, if it has one; its
/// partition count must be the configured one (`what` names the setting).
fn load_namespace(
    store: &Store,
    name: &str,
    partitions: u32,
    what: &str,
) -> Result<Option<NamespaceRecord>, NodeError> {
    let Some(v) = store.get(Cf::State, &namespace_key(name)) else { return Ok(None) };
    let r = NamespaceRecord::decode(v.as_slice()).map_err(|e| NodeError::Config(format!("namespace record: {e}")))?;
    if r.partitions != partitions {
        return Err(NodeError::Config(format!(
            "the data directory holds {} partition(s) of namespace {name}; {what} says {partitions}",
            r.partitions
        )));
    }
    Ok(Some(r))
}

/// Creates namespace `name` on a new data directory (one synced write):
/// its record, and the initial state of each partition `replicas_of` places
/// a replica of on `node_id` ((replica id, node id) of every initial
/// replica; they are the partition's voters).
fn create_namespace(
    store: &Store,
    name: &str,
    partitions: u32,
    node_id: u64,
    replicas_of: impl Fn(u32) -> Vec<(u64, u64)>,
) -> Result<NamespaceRecord, NodeError> {
    if partitions == 0 || partitions > keys::SLOTS as u32 {
        return Err(NodeError::Config(format!("partitions must be 1..=16384, not {partitions}")));
    }
    let r = NamespaceRecord { id: 1, name: name.to_string(), partitions };
    let mut batch = store.new_batch();
    for i in 0..partitions {
        let replicas = replicas_of(i);
        let Some(&(replica_id, _)) = replicas.iter().find(|(_, n)| *n == node_id) else { continue };
        let (lo, hi) = slot_range(i, partitions);
        let mut st = PartitionState {
            group: group_id(r.id, i),
            ns: r.id,
            index: i,
            slot_lo: lo,
            slot_hi: hi,
            replica_id,
            applied_index: INIT_INDEX,
            applied_term: INIT_INDEX,
            status: ReplicaStatus::Normal as i32,
            peers: replicas.iter().map(|&(replica, node)| kvraft::proto::ReplicaNode { replica, node }).collect(),
            next_replica_id: replicas.len() as u64 + 1,
            ..Default::default()
        };
        st.set_conf_state(&ConfState::from((replicas.iter().map(|(r, _)| *r).collect::<Vec<_>>(), vec![])));
        store.batch_put(&mut batch, Cf::State, &partition_key(st.group), &st.encode_vec());
    }
    store.batch_put(&mut batch, Cf::State, &namespace_key(name), &r.encode_to_vec());
    store.write(batch, true)?;
    Ok(r)
}

/// Creates the `default` namespace and its partitions on a new data
/// directory (one voter each, this node), or loads them; returns their states.
pub fn bootstrap_standalone(
    store: &Store,
    cfg: &NodeConfig,
) -> Result<(NamespaceRecord, Vec<PartitionState>), NodeError> {
    let record = match load_namespace(store, "default", cfg.partitions, "--partitions")? {
        Some(r) => r,
        None => {
            let r = create_namespace(store, "default", cfg.partitions, cfg.node_id, |_| vec![(1, cfg.node_id)])?;
            tracing::info!("created namespace default with {} partition(s)", r.partitions);
            r
        }
    };
    let mut states = Vec::new();
    for i in 0..record.partitions {
        let st = load_state(store, group_id(record.id, i))
            .ok_or_else(|| NodeError::Config(format!("partition {i} of namespace default has no state")))?;
        states.push(st);
    }
    Ok((record, states))
}

/// The namespace and the replicas this node holds, for a node of a cluster.
///
/// A data directory that already holds the namespace is loaded as it is (the
/// description's partition count must match). A new one gets the initial
/// replicas the description places on this node only when `bootstrap` is
/// set and every other node has answered that it never heard from this
/// node (see [`crate::seen`]); otherwise the node creates nothing and holds
/// no replica until one is added to it. Either way the namespace record is written, so
/// that a later start loads the replicas added to the node and never
/// bootstraps over them.
pub async fn bootstrap_cluster(
    store: &Store,
    node_id: u64,
    c: &ClusterConfig,
    fwd: &Forwarder,
) -> Result<(NamespaceRecord, Vec<PartitionState>), NodeError> {
    let ns = &c.spec.namespaces[0];
    let record = match load_namespace(store, &ns.name, ns.partitions, "the cluster description")? {
        Some(r) => r,
        None => {
            // An older build wrote no record on a node started without
            // --bootstrap: replicas added to it later must still load, and
            // never be bootstrapped over.
            let mut holds_replicas = false;
            let prefix = crate::state::partition_prefix();
            store.scan(Cf::State, prefix, &keys::prefix_end(prefix), &mut |_, _| {
                holds_replicas = true;
                false
            });
            let may_bootstrap = c.bootstrap && !holds_replicas;
            let heard_by = if may_bootstrap { peer_that_heard_from(fwd, node_id, c).await } else { None };
            if let Some(peer) = heard_by {
                tracing::error!(
                    "--bootstrap refused: this data directory is new, but node {peer} has had raft messages from \
                     node {node_id}. This node was a member of the cluster and lost its state (what its replicas \
                     voted for and acknowledged); its initial replicas must not come back without it. Holding no \
                     replica: rebuild the node with POST /admin/nodes/{node_id}/rebuild on any node."
                );
            }
            let create = may_bootstrap && heard_by.is_none();
            let r = create_namespace(store, &ns.name, ns.partitions, node_id, |i| {
                if create {
                    c.spec.initial_replicas(i)
                } else {
                    Vec::new()
                }
            })?;
            if create {
                tracing::info!(
                    "bootstrapped namespace {} with {} partition(s), replication {}",
                    ns.name,
                    r.partitions,
                    c.spec.replication
                );
            } else if !holds_replicas {
                tracing::info!("new data directory without a bootstrap: holding no replica until one is added");
            }
            r
        }
    };
    let states = (0..record.partitions)
        .filter_map(|i| load_state(store, group_id(record.id, i)))
        .filter(|st| st.status != ReplicaStatus::Tombstone as i32)
        .collect();
    Ok((record, states))
}

/// How long a bootstrapping node waits for one peer's answer before it asks
/// again, and how often it says whom it is still waiting for.
const HEARD_FROM_ANSWER: Duration = Duration::from_millis(500);
const HEARD_FROM_LOG_EVERY: Duration = Duration::from_secs(5);

/// Asks every other node of the description whether it has had raft
/// messages from `me`, until one says it has (returned) or every one has
/// said it has not (None). A node that is down is waited for, not skipped:
/// when a wiped node starts while the peers that heard from it are down,
/// only they can tell it was a member. So the first start of a cluster
/// bootstraps once every node of the description runs (they answer while
/// they are still opening, so nodes that wait for each other do not block).
async fn peer_that_heard_from(fwd: &Forwarder, me: u64, c: &ClusterConfig) -> Option<u64> {
    let mut unasked: Vec<u64> = c.spec.nodes.iter().map(|n| n.id).filter(|&n| n != me).collect();
    let mut next_log = Instant::now() + HEARD_FROM_LOG_EVERY;
    while !unasked.is_empty() {
        let mut waiting = Vec::new();
        for &peer in &unasked {
            match fwd.request(peer, FwdKind::HeardFrom, 0, 0, Bytes::new()) {
                Ok(asked) => waiting.push((peer, asked)),
                // Down, or its queue is full: asked again next round.
                Err(e) => tracing::debug!("asking node {peer}: {e}"),
            }
        }
        for (peer, (id, rx)) in waiting {
            match tokio::time::timeout(HEARD_FROM_ANSWER, rx).await {
                Ok(Ok(Reply::Int(1))) => return Some(peer),
                Ok(Ok(Reply::Int(0))) => unasked.retain(|&p| p != peer),
                _ => fwd.abandon(id),
            }
        }
        if unasked.is_empty() {
            break;
        }
        if Instant::now() >= next_log {
            tracing::warn!(
                "--bootstrap: waiting for nodes {unasked:?} to answer whether they know node {me} before creating \
                 its replicas (a node whose data directory was wiped must not bootstrap again)"
            );
            next_log = Instant::now() + HEARD_FROM_LOG_EVERY;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Publishes a message to this node's subscribers and, in a cluster, to
/// every other node's over the forward lane (Redis Cluster's PUBLISH).
struct Publisher {
    hub: Arc<crate::pubsub::Hub>,
    fwd: Option<Arc<Forwarder>>,
    peers: Vec<u64>,
}

impl Publisher {
    /// The number of this node's subscribers that got it.
    fn publish(&self, channel: &Bytes, message: &Bytes, shard: bool) -> usize {
        if let Some(fwd) = &self.fwd {
            for n in &self.peers {
                fwd.publish(*n, channel, message, shard);
            }
        }
        self.hub.publish(channel, message, shard)
    }

    /// Publishes what an applied entry's reply carries (scripts' messages,
    /// keyspace notifications) and gives the reply without it.
    fn release(&self, reply: Reply) -> Reply {
        reply.release_messages(&|m| {
            self.publish(&m.channel, &m.message, m.shard);
        })
    }
}
