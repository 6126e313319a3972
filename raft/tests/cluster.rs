//! Three drivers in one process, ten groups each, over real TCP on loopback.
//! Every node-to-node link goes through a proxy the test can cut.

use bytes::Bytes;
use kvraft::raft::eraftpb::ConfState;
use kvraft::{
    raft_channel, AppliedState, Committed, CommittedKind, Driver, DriverConfig, GroupShared, GroupSpec, ProposeError,
    RaftHandle, StateMachine, Transport, TransportConfig,
};
use kvtests::proxy::Proxy;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const GROUPS: u64 = 10;
const NODES: usize = 3;
const TIMEOUT: Duration = Duration::from_secs(30);

type AppliedLog = Arc<Mutex<BTreeMap<u64, Vec<(u64, Bytes)>>>>;

/// Records what each group applied, in order; answers each proposal with its index.
struct RecordingSm {
    log: AppliedLog,
}

impl StateMachine for RecordingSm {
    type Output = u64;
    fn apply(&mut self, group: u64, entries: &[Committed<'_>]) -> Vec<Option<u64>> {
        let mut log = self.log.lock();
        let v = log.entry(group).or_default();
        entries
            .iter()
            .map(|c| match c.kind {
                CommittedKind::Normal(d) => {
                    v.push((c.index, d.clone()));
                    Some(c.index)
                }
                _ => None,
            })
            .collect()
    }
    fn flush(&mut self) {}
}

struct Node {
    id: u64,
    wal_dir: PathBuf,
    handle: Option<RaftHandle<u64>>,
    transport: Option<Arc<Transport>>,
    inbox: Option<kvraft::RaftInbox>,
    addr: SocketAddr,
    log: AppliedLog,
    shared: HashMap<u64, Arc<GroupShared>>,
}

struct Cluster {
    _dir: tempfile::TempDir,
    nodes: Vec<Node>,
    /// (from node index, to node index) -> proxy
    proxies: HashMap<(usize, usize), Proxy>,
}

fn driver_config(node_id: u64) -> DriverConfig {
    DriverConfig {
        node_id,
        tick_interval: Duration::from_millis(100),
        election_tick: 10,
        heartbeat_tick: 3,
        ..DriverConfig::default()
    }
}

fn spec(group: u64, node_id: u64) -> GroupSpec {
    GroupSpec {
        group,
        replica_id: node_id,
        applied: AppliedState { index: 5, term: 5, conf_state: ConfState::from((vec![1, 2, 3], vec![])) },
        peers: (1..=NODES as u64).map(|n| (n, n)).collect(),
    }
}

impl Cluster {
    async fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Cluster { nodes: Vec::new(), proxies: HashMap::new(), _dir: dir };
        for i in 0..NODES {
            let wal_dir = c._dir.path().join(format!("node{}", i + 1));
            c.nodes.push(Node {
                id: i as u64 + 1,
                wal_dir,
                handle: None,
                transport: None,
                inbox: None,
                addr: "127.0.0.1:1".parse().unwrap(),
                log: Arc::default(),
                shared: HashMap::new(),
            });
            c.boot_transport(i).await;
        }
        for from in 0..NODES {
            for to in 0..NODES {
                if from != to {
                    let p = Proxy::start(c.nodes[to].addr).await.unwrap();
                    c.nodes[from].transport.as_ref().unwrap().set_peer_addr(to as u64 + 1, p.addr().to_string());
                    c.proxies.insert((from, to), p);
                }
            }
        }
        for i in 0..NODES {
            c.boot_driver(i).await;
        }
        c
    }

    async fn boot_transport(&mut self, i: usize) {
        let (inbound, inbox) = raft_channel(16 << 10);
        let (t, addr) = Transport::start(self.nodes[i].id, "127.0.0.1:0", TransportConfig::default(), Arc::new(inbound))
            .await
            .unwrap();
        let n = &mut self.nodes[i];
        n.addr = addr;
        n.transport = Some(t);
        n.inbox = Some(inbox);
    }

    async fn boot_driver(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        let wal = Arc::new(wal::Wal::open(&n.wal_dir, wal::Options::default()).unwrap());
        let inbox = n.inbox.take().unwrap();
        let sm = RecordingSm { log: n.log.clone() };
        let handle = Driver::spawn(driver_config(n.id), wal, n.transport.clone().unwrap(), sm, inbox);
        for g in 1..=GROUPS {
            let shared = handle.add_group(spec(g, n.id), None).await.unwrap();
            n.shared.insert(g, shared);
        }
        n.handle = Some(handle);
    }

    fn stop(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        if let Some(h) = n.handle.take() {
            h.stop();
        }
        if let Some(t) = n.transport.take() {
            t.shutdown();
        }
        n.shared.clear();
    }

    /// Restarts a stopped node from its WAL with an empty state machine
    /// (applied index 5), so it re-applies the whole log.
    async fn restart(&mut self, i: usize) {
        self.nodes[i].log = Arc::default();
        self.boot_transport(i).await;
        for from in 0..NODES {
            if from != i {
                self.proxies[&(from, i)].set_target(self.nodes[i].addr);
                self.nodes[i]
                    .transport
                    .as_ref()
                    .unwrap()
                    .set_peer_addr(from as u64 + 1, self.proxies[&(i, from)].addr().to_string());
            }
        }
        self.boot_driver(i).await;
    }

    fn running(&self) -> impl Iterator<Item = usize> + '_ {
        (0..NODES).filter(|i| self.nodes[*i].handle.is_some())
    }

    fn leader_of(&self, group: u64) -> Option<usize> {
        self.running().find(|i| self.nodes[*i].shared[&group].is_leader())
    }

    async fn wait_leader(&self, group: u64, excluding: Option<usize>) -> usize {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(l) = self.leader_of(group) {
                if Some(l) != excluding {
                    return l;
                }
            }
            assert!(Instant::now() < deadline, "no leader for group {group} within {TIMEOUT:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn propose(&self, i: usize, group: u64, data: &str) -> Result<u64, ProposeError> {
        let h = self.nodes[i].handle.as_ref().unwrap();
        h.propose(group, Bytes::copy_from_slice(data.as_bytes()), TIMEOUT).await
    }

    /// Proposes through the current leader, following leader changes.
    async fn propose_via_leader(&self, group: u64, data: &str) -> u64 {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let l = self.wait_leader(group, None).await;
            match self.propose(l, group, data).await {
                Ok(i) => return i,
                Err(e) if e.certainly_not_applied() && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => panic!("proposal {data} to group {group}: {e}"),
            }
        }
    }

    fn applied_data(&self, i: usize, group: u64) -> Vec<(u64, Bytes)> {
        self.nodes[i].log.lock().get(&group).cloned().unwrap_or_default()
    }

    /// Waits until every running node applied `count` proposals of every group,
    /// then checks they applied the same ones in the same order.
    async fn wait_converged(&self, count: usize) {
        let deadline = Instant::now() + TIMEOUT;
        for g in 1..=GROUPS {
            loop {
                let done = self.running().all(|i| self.applied_data(i, g).len() >= count);
                if done {
                    break;
                }
                assert!(Instant::now() < deadline, "group {g} did not converge to {count} entries");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let reference = self.applied_data(self.running().next().unwrap(), g);
            for i in self.running() {
                assert_eq!(self.applied_data(i, g), reference, "node {} group {g} diverges", i + 1);
            }
        }
    }

    fn isolate(&self, i: usize) {
        for ((from, to), p) in &self.proxies {
            if *from == i || *to == i {
                p.cut();
            }
        }
    }

    fn heal(&self) {
        for p in self.proxies.values() {
            p.heal();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..NODES {
            self.stop(i);
        }
    }
}

async fn write_round(c: &Cluster, round: usize, per_group: usize) {
    let mut tasks = Vec::new();
    for g in 1..=GROUPS {
        for k in 0..per_group {
            let data = format!("r{round}-g{g}-k{k}");
            tasks.push(async move { c.propose_via_leader(g, &data).await });
        }
    }
    futures::future::join_all(tasks).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_replicate_in_the_same_order_everywhere() {
    let c = Cluster::start().await;
    for g in 1..=GROUPS {
        c.wait_leader(g, None).await;
    }
    write_round(&c, 0, 20).await;
    c.wait_converged(20).await;
    // Each group's entries are the ones proposed to it, each exactly once.
    for g in 1..=GROUPS {
        let mut got: Vec<String> =
            c.applied_data(0, g).iter().map(|(_, d)| String::from_utf8(d.to_vec()).unwrap()).collect();
        got.sort();
        let mut want: Vec<String> = (0..20).map(|k| format!("r0-g{g}-k{k}")).collect();
        want.sort();
        assert_eq!(got, want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_node_restarts_from_its_wal_and_catches_up() {
    let mut c = Cluster::start().await;
    write_round(&c, 0, 5).await;
    c.wait_converged(5).await;
    c.stop(2);
    // Groups that node 3 led elect a new leader; writing goes on.
    write_round(&c, 1, 10).await;
    c.wait_converged(15).await;
    c.restart(2).await;
    c.wait_converged(15).await;
    let reference = c.applied_data(0, 1);
    assert_eq!(c.applied_data(2, 1), reference);
    // And it takes part again.
    write_round(&c, 2, 5).await;
    c.wait_converged(20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_elects_a_new_one() {
    let mut c = Cluster::start().await;
    let old = c.wait_leader(1, None).await;
    c.propose(old, 1, "before").await.unwrap();
    c.stop(old);
    let new = c.wait_leader(1, Some(old)).await;
    assert_ne!(new, old);
    let idx = c.propose(new, 1, "after").await.unwrap();
    assert!(idx > 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposal_on_a_follower_names_the_leader() {
    let c = Cluster::start().await;
    let leader = c.wait_leader(3, None).await;
    // Wait until the followers know the leader too.
    let follower = (0..NODES).find(|i| *i != leader).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while c.nodes[follower].shared[&3].leader_node() != Some(leader as u64 + 1) {
        assert!(Instant::now() < deadline, "follower never learned the leader");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let err = c.propose(follower, 3, "x").await.unwrap_err();
    assert_eq!(err, ProposeError::NotLeader { leader: Some(leader as u64 + 1) });
    assert!(err.certainly_not_applied());
    // Nothing of it was applied anywhere.
    c.propose(leader, 3, "y").await.unwrap();
    for i in 0..NODES {
        assert!(c.applied_data(i, 3).iter().all(|(_, d)| d.as_ref() != b"x"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposal_overwritten_after_a_leader_change_is_reported_as_such() {
    let c = Cluster::start().await;
    let group = 5;
    let old = c.wait_leader(group, None).await;
    c.propose(old, group, "committed").await.unwrap();
    // Cut the leader off, then propose to it while it still believes it leads.
    c.isolate(old);
    let h = c.nodes[old].handle.as_ref().unwrap();
    let doomed = h.propose(group, Bytes::from_static(b"doomed"), TIMEOUT);
    // Meanwhile the others elect a new leader, which commits at the same index.
    let elsewhere = async {
        let new = c.wait_leader(group, Some(old)).await;
        c.propose(new, group, "replacement").await.unwrap();
        c.heal();
        new
    };
    let (result, new) = tokio::join!(doomed, elsewhere);
    assert_eq!(result, Err(ProposeError::Overwritten));
    assert!(result.unwrap_err().certainly_not_applied());
    c.propose_via_leader(group, "later").await;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let done = (0..NODES).all(|i| c.applied_data(i, group).len() >= 3);
        if done {
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..NODES {
        let data = c.applied_data(i, group);
        assert!(data.iter().all(|(_, d)| d.as_ref() != b"doomed"), "node {} applied the overwritten entry", i + 1);
        assert_eq!(data, c.applied_data(new, group));
    }
}
