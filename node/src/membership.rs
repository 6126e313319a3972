//! Membership of partitions: adding a learner replica of a partition on a
//! node, promoting it to voter, removing a replica, moving leadership; and
//! creating and destroying this node's own replicas.
//!
//! Raft peer ids name replica incarnations, never nodes: each new replica
//! gets the next id of its partition's counter (kept in the partition state,
//! raised by every applied configuration change) and an id is never used
//! twice. A replica is created on its node *before* the leader proposes to
//! add it, and only on that request: a node never creates a replica because
//! a message names one, so a node whose data directory was wiped cannot come
//! back under an old id (it forgot its votes).
//!
//! Every change is decided on the partition's leader, one at a time per
//! partition (raft-rs refuses a second one while one is pending; a lock per
//! partition keeps two admin requests from picking the same replica id). Each
//! operation is idempotent, so the coordinator (the node that took the
//! request) simply retries it at the current leader until it succeeds or its
//! deadline passes: after an unknown outcome, after a leader change, while
//! a learner catches up, while leadership moves away from a replica that is
//! to be removed.

use crate::node::{load_state, Node};
use crate::partition::Partition;
use crate::reply::Reply;
use crate::state::{partition_key, PartitionState, ReplicaStatus};
use crate::store::Cf;
use bytes::Bytes;
use kvraft::proto::{ReplicaNode, ReplicaNodes};
use kvraft::raft::eraftpb::{ConfChangeSingle, ConfChangeType, ConfChangeV2, ConfState};
use kvraft::raft::StateRole;
use kvraft::{AppliedState, GroupSpec, ProposeError, Request};
use prost::Message;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What an admin request asks of a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum AdminKind {
    AddLearner = 0,
    Promote = 1,
    Remove = 2,
    TransferLeader = 3,
    /// To the node that is to hold a new replica (sent by the leader).
    CreateReplica = 4,
}

/// An admin request on the wire (forward lane, kind `Admin`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AdminOp {
    #[prost(enumeration = "AdminKind", tag = "1")]
    pub kind: i32,
    #[prost(uint64, tag = "2")]
    pub group: u64,
    /// The node whose replica the operation is about.
    #[prost(uint64, tag = "3")]
    pub node: u64,
    /// CreateReplica: the new replica's id, and every member's location.
    #[prost(uint64, tag = "4")]
    pub replica: u64,
    #[prost(message, repeated, tag = "5")]
    pub peers: Vec<ReplicaNode>,
}

/// A membership change of one partition, as users ask for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberChange {
    AddLearner,
    Promote,
    Remove,
    TransferLeader,
}

impl MemberChange {
    fn kind(self) -> AdminKind {
        match self {
            MemberChange::AddLearner => AdminKind::AddLearner,
            MemberChange::Promote => AdminKind::Promote,
            MemberChange::Remove => AdminKind::Remove,
            MemberChange::TransferLeader => AdminKind::TransferLeader,
        }
    }
}

/// Why a membership change failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The request itself is wrong (unknown partition or node, ...).
    #[error("{0}")]
    Invalid(String),
    /// Still not done at the deadline (no leader, another change pending,
    /// learner behind, outcome unknown): it may be retried.
    #[error("{0}")]
    Unavailable(String),
}

/// A learner counts as caught up when it holds the log up to this many
/// entries before the leader's commit index.
const CAUGHT_UP_LAG: u64 = 64;

/// Reply texts the coordinator retries on.
fn retryable(e: &str) -> bool {
    ["TRYAGAIN", "NOTLEADER", "BUSY", "BEHIND"].iter().any(|p| e.starts_with(p))
}

impl Node {
    /// Applies `change` to partition `index` for `node`'s replica, deciding
    /// it on the partition's leader wherever that is; retries until done or
    /// `timeout` passes. Returns what was done, in words.
    pub async fn change_membership(
        &self,
        index: u32,
        change: MemberChange,
        node: u64,
        timeout: Duration,
    ) -> Result<String, AdminError> {
        let c = self.cluster().ok_or_else(|| AdminError::Invalid("not a cluster node".into()))?;
        if c.spec.node(node).is_none() {
            return Err(AdminError::Invalid(format!("node {node} is not in the cluster description")));
        }
        let p = self
            .namespace()
            .partitions
            .get(index as usize)
            .cloned()
            .ok_or_else(|| AdminError::Invalid(format!("no partition {index}")))?;
        let op = AdminOp { kind: change.kind() as i32, group: p.group, node, ..Default::default() };
        let deadline = Instant::now() + timeout;
        loop {
            let reply = match p.leader_node() {
                Some(l) if l == self.node_id() => self.admin_as_leader(&p, &op).await,
                Some(l) => self.admin_at(l, &op, deadline).await,
                None => Reply::error("TRYAGAIN the partition has no leader"),
            };
            match reply {
                Reply::Status(s) => return Ok(s),
                Reply::Error(e) if retryable(&e) => {
                    if Instant::now() >= deadline {
                        return Err(AdminError::Unavailable(e));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Reply::Error(e) => return Err(AdminError::Invalid(e)),
                r => return Err(AdminError::Invalid(format!("unexpected reply {r:?}"))),
            }
        }
    }

    /// Replaces every replica `node` holds (per this node's view) by a new
    /// one: removes the old replica, adds a learner on `node`, waits until
    /// it caught up (by snapshot) and promotes it. For a node whose data
    /// directory was lost. Returns one line per partition.
    pub async fn rebuild_node(&self, node: u64, per_partition: Duration) -> Result<Vec<String>, AdminError> {
        let mut done = Vec::new();
        for v in self.partition_views().await {
            if !v.nodes.contains(&node) {
                continue;
            }
            let mut lines = Vec::new();
            for change in [MemberChange::Remove, MemberChange::AddLearner, MemberChange::Promote] {
                lines.push(self.change_membership(v.index, change, node, per_partition).await?);
            }
            done.push(format!("partition {}: {}", v.index, lines.join("; ")));
        }
        Ok(done)
    }

    /// Sends `op` to node `to` and waits for its answer (at most until
    /// `deadline`, and at least a little: a conf change takes a round trip).
    async fn admin_at(&self, to: u64, op: &AdminOp, deadline: Instant) -> Reply {
        let Some(fwd) = &self.fwd else { return Reply::error("ERR not a cluster node") };
        let data = Bytes::from(op.encode_to_vec());
        let (id, rx) = match fwd.request(to, crate::forward::FwdKind::Admin, 0, op.group, data) {
            Ok(r) => r,
            Err(e) => return Reply::error(format!("TRYAGAIN node {to} unreachable: {e}")),
        };
        let wait = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(2));
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(r)) => r,
            _ => {
                fwd.abandon(id);
                Reply::error(format!("TRYAGAIN no answer from node {to}"))
            }
        }
    }

    /// Serves an admin request from another node.
    pub(crate) async fn serve_admin(&self, data: Bytes) -> Reply {
        let op = match AdminOp::decode(data) {
            Ok(op) => op,
            Err(e) => return Reply::error(format!("ERR undecodable admin request: {e}")),
        };
        let Some(p) = self.by_group.get(&op.group).cloned() else {
            return Reply::error(format!("ERR unknown group {}", op.group));
        };
        if op.kind == AdminKind::CreateReplica as i32 {
            let peers = op.peers.iter().map(|r| (r.replica, r.node)).collect();
            return match self.create_replica(&p, op.replica, peers).await {
                Ok(()) => Reply::Status(format!("created replica {}", op.replica)),
                Err(e) => Reply::error(format!("ERR {e}")),
            };
        }
        self.admin_as_leader(&p, &op).await
    }

    /// Decides `op` as the partition's leader (or says NOTLEADER).
    async fn admin_as_leader(&self, p: &Arc<Partition>, op: &AdminOp) -> Reply {
        let _one_at_a_time = p.admin.lock().await;
        let Some(st) = self.raft.status(p.group).await else {
            return Reply::error("NOTLEADER this node holds no replica of the partition");
        };
        if st.role != StateRole::Leader {
            return Reply::error("NOTLEADER this replica does not lead the partition");
        }
        let is_member = |r: &u64| st.voters.contains(r) || st.learners.contains(r);
        let members: Vec<(u64, u64)> = st.peers.iter().copied().filter(|(r, _)| is_member(r)).collect();
        let node = op.node;
        let on_node = members.iter().find(|(_, n)| *n == node).map(|(r, _)| *r);
        let single = |change_type: ConfChangeType, replica: u64, context: Vec<ReplicaNode>| {
            let mut cc = ConfChangeV2::default();
            let mut s = ConfChangeSingle::default();
            s.set_change_type(change_type);
            s.node_id = replica;
            cc.mut_changes().push(s);
            cc.context = ReplicaNodes { replicas: context }.encode_to_vec().into();
            cc
        };
        let busy = || Reply::error("BUSY another configuration change of the partition is in progress");
        let cc = match AdminKind::try_from(op.kind) {
            Ok(AdminKind::AddLearner) => {
                if let Some(r) = on_node {
                    return Reply::Status(format!("node {node} holds replica {r}"));
                }
                if st.pending_conf {
                    return busy();
                }
                let next = load_state(&*self.store, p.group).map_or(0, |s| s.next_replica_id);
                let replica = next.max(st.peers.iter().map(|(r, _)| r + 1).max().unwrap_or(1));
                let mut peers: Vec<ReplicaNode> =
                    members.iter().map(|&(replica, node)| ReplicaNode { replica, node }).collect();
                peers.push(ReplicaNode { replica, node });
                let create = AdminOp { kind: AdminKind::CreateReplica as i32, group: p.group, node, replica, peers };
                let deadline = Instant::now() + self.cfg.write_timeout;
                match self.admin_at(node, &create, deadline).await {
                    Reply::Status(_) => {}
                    Reply::Error(e) => {
                        return Reply::error(format!("TRYAGAIN creating the replica on node {node}: {e}"))
                    }
                    r => return Reply::error(format!("ERR creating the replica: {r:?}")),
                }
                single(ConfChangeType::AddLearnerNode, replica, vec![ReplicaNode { replica, node }])
            }
            Ok(AdminKind::Promote) => {
                let Some(r) = on_node else {
                    return Reply::error(format!("ERR node {node} holds no replica of the partition"));
                };
                if st.voters.contains(&r) {
                    return Reply::Status(format!("replica {r} on node {node} is a voter"));
                }
                if st.pending_conf {
                    return busy();
                }
                let matched = st.progress.iter().find(|(id, _)| *id == r).map_or(0, |(_, m)| *m);
                if matched == 0 || matched + CAUGHT_UP_LAG < st.commit {
                    return Reply::error(format!(
                        "BEHIND learner {r} on node {node} holds the log to {matched}, the commit index is {}",
                        st.commit
                    ));
                }
                single(ConfChangeType::AddNode, r, vec![ReplicaNode { replica: r, node }])
            }
            Ok(AdminKind::Remove) => {
                let Some(r) = on_node else {
                    return Reply::Status(format!("node {node} holds no replica of the partition"));
                };
                if r == st.replica_id {
                    // Leadership moves away first: a leader removing itself
                    // would leave the group leaderless for an election.
                    let best = st
                        .progress
                        .iter()
                        .filter(|(id, _)| *id != r && st.voters.contains(id))
                        .max_by_key(|(_, m)| *m)
                        .map(|(id, _)| *id);
                    let Some(to) = best else {
                        return Reply::error("ERR the partition's only voter cannot be removed");
                    };
                    self.raft.send(Request::TransferLeader { group: p.group, to_replica: to }).await;
                    return Reply::error(format!("TRYAGAIN moving leadership to replica {to} before the removal"));
                }
                if st.pending_conf {
                    return busy();
                }
                single(ConfChangeType::RemoveNode, r, vec![])
            }
            Ok(AdminKind::TransferLeader) => {
                let Some(r) = on_node.filter(|r| st.voters.contains(r)) else {
                    return Reply::error(format!("ERR node {node} holds no voter of the partition"));
                };
                if r == st.replica_id {
                    return Reply::Status(format!("node {node} leads the partition"));
                }
                self.raft.send(Request::TransferLeader { group: p.group, to_replica: r }).await;
                // Done once the new leader says so (the coordinator asks again).
                return Reply::error(format!("TRYAGAIN leadership is moving to node {node}"));
            }
            _ => return Reply::error(format!("ERR unknown admin request kind {}", op.kind)),
        };
        let what = format!("{:?} of replica {} on node {node}", cc.changes[0].get_change_type(), cc.changes[0].node_id);
        match self.propose_conf_change(p.group, cc).await {
            Ok(_) => Reply::Status(format!("applied {what}")),
            Err(ProposeError::Refused) => busy(),
            Err(ProposeError::NotLeader { .. }) => Reply::error("NOTLEADER leadership changed"),
            Err(e) => Reply::error(format!("TRYAGAIN {what}: {e}")),
        }
    }

    /// Creates this node's replica `replica` of partition `p`: an empty
    /// replica (applied index 0, no membership) that the leader fills by
    /// snapshot. Idempotent for the same id.
    pub(crate) async fn create_replica(
        &self,
        p: &Arc<Partition>,
        replica: u64,
        peers: Vec<(u64, u64)>,
    ) -> Result<(), String> {
        let _one_at_a_time = p.admin.lock().await;
        if let Some(g) = p.replica() {
            return if g.replica_id == replica {
                Ok(())
            } else {
                Err(format!("this node holds replica {} of the partition", g.replica_id))
            };
        }
        let store = &self.store;
        if let Some(old) = load_state(&**store, p.group) {
            if old.status != ReplicaStatus::Tombstone as i32 || old.replica_id >= replica {
                return Err(format!(
                    "this node had replica {} of the partition; {replica} is not newer",
                    old.replica_id
                ));
            }
        }
        let st = PartitionState {
            group: p.group,
            ns: p.ns,
            index: p.index,
            slot_lo: p.slots.0,
            slot_hi: p.slots.1,
            replica_id: replica,
            status: ReplicaStatus::Normal as i32,
            peers: peers.iter().map(|&(replica, node)| ReplicaNode { replica, node }).collect(),
            ..Default::default()
        };
        // Whatever an earlier replica left goes with the same synced write.
        let mut b = store.new_batch();
        crate::snapshot::delete_partition_data(store, &mut b, p.ns, p.slots);
        store.batch_put(&mut b, Cf::State, &partition_key(p.group), &st.encode_to_vec());
        store.write(b, true).map_err(|e| e.to_string())?;
        let spec = GroupSpec {
            group: p.group,
            replica_id: replica,
            applied: AppliedState { index: 0, term: 0, conf_state: ConfState::default() },
            peers,
        };
        let source = self.snapshots.clone().map(|s| s as Arc<dyn kvraft::SnapshotSource>);
        let g = self.raft.add_group(spec, source).await?;
        p.set_replica(Some(g));
        tracing::info!("partition {}: created replica {replica}", p.index);
        Ok(())
    }

    /// Destroys this node's replica `replica` of the group (removed from its
    /// group): it stops serving here, the driver drops it (its state becomes
    /// a tombstone, durably, before its log goes), then its data is deleted.
    pub(crate) async fn destroy_replica(&self, group: u64, replica: u64) {
        let Some(p) = self.by_group.get(&group).cloned() else { return };
        let _one_at_a_time = p.admin.lock().await;
        let Some(g) = p.replica().filter(|g| g.replica_id == replica) else {
            return; // gone already, or a newer replica
        };
        p.set_replica(None);
        if let Err(e) = self.raft.remove_group(group).await {
            tracing::error!("partition {}: removing replica {replica}: {e}", p.index);
            p.set_replica(Some(g));
            return;
        }
        // Left behind by a crash here, the data is deleted again when a new
        // replica of the partition is created on this node.
        let mut b = self.store.new_batch();
        crate::snapshot::delete_partition_data(&self.store, &mut b, p.ns, p.slots);
        if let Err(e) = self.store.write(b, true) {
            tracing::error!("partition {}: deleting the data of removed replica {replica}: {e}", p.index);
            return;
        }
        tracing::info!("partition {}: replica {replica} removed from its group and destroyed", p.index);
    }

    async fn propose_conf_change(&self, group: u64, cc: ConfChangeV2) -> Result<Reply, ProposeError> {
        self.raft.propose_conf_change(group, cc, self.cfg.write_timeout).await
    }
}
