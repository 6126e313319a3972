//! A cluster of three drivers in one process, for the tests and the bench.
#![allow(dead_code)]

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

pub const NODES: usize = 3;
pub const TIMEOUT: Duration = Duration::from_secs(30);

pub type AppliedLog = Arc<Mutex<BTreeMap<u64, Vec<(u64, Bytes)>>>>;

/// Records what each group applied, in order; answers each proposal with its index.
pub struct RecordingSm {
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

pub struct Node {
    pub id: u64,
    pub wal_dir: PathBuf,
    pub handle: Option<RaftHandle<u64>>,
    pub transport: Option<Arc<Transport>>,
    inbox: Option<kvraft::RaftInbox>,
    pub addr: SocketAddr,
    pub log: AppliedLog,
    pub shared: HashMap<u64, Arc<GroupShared>>,
}

pub struct Cluster {
    pub groups: u64,
    _dir: tempfile::TempDir,
    pub nodes: Vec<Node>,
    /// (from node index, to node index) -> proxy
    pub proxies: HashMap<(usize, usize), Proxy>,
}

pub fn driver_config(node_id: u64) -> DriverConfig {
    DriverConfig {
        node_id,
        tick_interval: Duration::from_millis(100),
        election_tick: 10,
        heartbeat_tick: 3,
        ..DriverConfig::default()
    }
}

pub fn spec(group: u64, node_id: u64) -> GroupSpec {
    GroupSpec {
        group,
        replica_id: node_id,
        applied: AppliedState { index: 5, term: 5, conf_state: ConfState::from((vec![1, 2, 3], vec![])) },
        peers: (1..=NODES as u64).map(|n| (n, n)).collect(),
    }
}

impl Cluster {
    pub async fn start(groups: u64) -> Cluster {
        Self::start_in(groups, tempfile::tempdir().unwrap()).await
    }

    pub async fn start_in(groups: u64, dir: tempfile::TempDir) -> Cluster {
        let mut c = Cluster { groups, nodes: Vec::new(), proxies: HashMap::new(), _dir: dir };
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

    pub async fn boot_transport(&mut self, i: usize) {
        let (inbound, inbox) = raft_channel(16 << 10);
        let (t, addr) =
            Transport::start(self.nodes[i].id, "127.0.0.1:0", TransportConfig::default(), Arc::new(inbound))
                .await
                .unwrap();
        let n = &mut self.nodes[i];
        n.addr = addr;
        n.transport = Some(t);
        n.inbox = Some(inbox);
    }

    pub async fn boot_driver(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        let wal = Arc::new(wal::Wal::open(&n.wal_dir, wal::Options::default()).unwrap());
        let inbox = n.inbox.take().unwrap();
        let sm = RecordingSm { log: n.log.clone() };
        let handle = Driver::spawn(driver_config(n.id), wal, n.transport.clone().unwrap(), sm, inbox);
        for g in 1..=self.groups {
            let shared = handle.add_group(spec(g, n.id), None).await.unwrap();
            n.shared.insert(g, shared);
        }
        n.handle = Some(handle);
    }

    pub fn stop(&mut self, i: usize) {
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
    pub async fn restart(&mut self, i: usize) {
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

    pub fn running(&self) -> impl Iterator<Item = usize> + '_ {
        (0..NODES).filter(|i| self.nodes[*i].handle.is_some())
    }

    pub fn leader_of(&self, group: u64) -> Option<usize> {
        self.running().find(|i| self.nodes[*i].shared[&group].is_leader())
    }

    pub async fn wait_leader(&self, group: u64, excluding: Option<usize>) -> usize {
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

    pub async fn propose(&self, i: usize, group: u64, data: &str) -> Result<u64, ProposeError> {
        let h = self.nodes[i].handle.as_ref().unwrap();
        let r = h.propose(group, Bytes::copy_from_slice(data.as_bytes()), TIMEOUT).await;
        if let Ok(index) = r {
            // Whoever learns of a write sees an applied index that covers it.
            let applied = self.nodes[i].shared[&group].applied();
            assert!(applied >= index, "acknowledged {index} while applied is {applied}");
        }
        r
    }

    /// Proposes through the current leader, following leader changes.
    pub async fn propose_via_leader(&self, group: u64, data: &str) -> u64 {
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

    pub fn applied_data(&self, i: usize, group: u64) -> Vec<(u64, Bytes)> {
        self.nodes[i].log.lock().get(&group).cloned().unwrap_or_default()
    }

    /// Waits until every running node applied `count` proposals of every group,
    /// then checks they applied the same ones in the same order.
    pub async fn wait_converged(&self, count: usize) {
        let deadline = Instant::now() + TIMEOUT;
        for g in 1..=self.groups {
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

    pub fn isolate(&self, i: usize) {
        for ((from, to), p) in &self.proxies {
            if *from == i || *to == i {
                p.cut();
            }
        }
    }

    pub fn heal(&self) {
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
