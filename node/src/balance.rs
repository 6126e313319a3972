//! Preferred leaders: each partition's leadership goes back to the first
//! node of its initial replicas in the cluster description, as Kafka's
//! preferred replica election does. The description starts each partition
//! on a different node so that leaders spread, but elections pick whoever
//! times out first (after `make cluster`, one node may lead none of eight
//! partitions), and after a node restarts the others keep what they took
//! over. Every `leader-balance-secs` each node looks at the partitions it
//! leads and hands one back to its preferred node when that node is a
//! caught-up voter.
//!
//! What keeps this from fighting anything else:
//! - only a leadership held through a whole interval (same term as at the
//!   last look) moves, so an admin operation that just moved it, or a new
//!   leader, is left alone for a while;
//! - only while the voters sit on the nodes the description placed them
//!   on and no configuration change is pending: after add/remove/rebuild,
//!   placement is the operator's;
//! - only to a replica that has everything the leader has committed, so
//!   the transfer completes at once (raft-rs refuses proposals while one
//!   is under way; the connections send those commands again, see
//!   redisapi's `resend`).

use crate::node::Node;
use kvraft::raft::StateRole;
use kvraft::{GroupStatus, Request};
use meta::cluster::ClusterSpec;
use std::collections::HashMap;
use std::sync::Weak;

/// The replica to hand partition `index`'s leadership to, if it should go
/// to its preferred node now. `st` is this node's (the leader's) view.
pub fn preferred_transfer(spec: &ClusterSpec, index: u32, me: u64, st: &GroupStatus) -> Option<u64> {
    let placed = spec.initial_replicas(index);
    let preferred = placed.first()?.1;
    if preferred == me || st.role != StateRole::Leader || st.pending_conf {
        return None;
    }
    let node_of = |replica: u64| st.peers.iter().find(|(r, _)| *r == replica).map(|(_, n)| *n);
    let mut voter_nodes: Vec<u64> = st.voters.iter().filter_map(|r| node_of(*r)).collect();
    let mut placed_nodes: Vec<u64> = placed.iter().map(|(_, n)| *n).collect();
    voter_nodes.sort_unstable();
    placed_nodes.sort_unstable();
    if voter_nodes != placed_nodes || voter_nodes.len() != st.voters.len() {
        return None;
    }
    let to = *st.voters.iter().find(|r| node_of(**r) == Some(preferred))?;
    let matched = st.progress.iter().find(|(r, _)| *r == to)?.1;
    (matched >= st.commit).then_some(to)
}

/// Runs while the node does (cluster mode with a nonzero interval).
pub async fn balance_loop(node: Weak<Node>) {
    // The partitions this node led at the last look, with their terms.
    let mut led: HashMap<u64, u64> = HashMap::new();
    loop {
        let Some(n) = node.upgrade() else { return };
        let Some(c) = n.cfg.cluster.as_ref() else { return };
        let every = c.leader_balance;
        let mut now_led = HashMap::new();
        for p in &n.namespace().partitions {
            let Some(st) = n.raft.status(p.group).await else {
                continue;
            };
            if st.role != StateRole::Leader {
                continue;
            }
            now_led.insert(p.group, st.term);
            if led.get(&p.group) != Some(&st.term) {
                continue;
            }
            if let Some(to) = preferred_transfer(&c.spec, p.index, n.cfg.node_id, &st) {
                tracing::info!("partition {}: handing leadership back to its preferred node (replica {to})", p.index);
                n.raft.send(Request::TransferLeader { group: p.group, to_replica: to }).await;
            }
        }
        led = now_led;
        drop(n);
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ClusterSpec {
        let mut s = "replication = 3\n[[namespace]]\nname = \"default\"\npartitions = 4\n".to_string();
        for i in 1..=4 {
            s += &format!("[[node]]\nid = {i}\nraft-addr = \"a:{i}\"\nredis-addr = \"b:{i}\"\nhttp-addr = \"c:{i}\"\n");
        }
        ClusterSpec::parse(&s).unwrap()
    }

    /// Partition 1 is placed on nodes 2, 3, 4 (preferred 2); node 3 leads it
    /// as replica 2, node 2 holds replica 1 and node 4 replica 3.
    fn led_by_3() -> GroupStatus {
        GroupStatus {
            replica_id: 2,
            term: 4,
            vote: 2,
            commit: 100,
            applied: 100,
            role: StateRole::Leader,
            leader_replica: 2,
            voters: vec![1, 2, 3],
            learners: vec![],
            progress: vec![(1, 100), (2, 100), (3, 90)],
            peers: vec![(1, 2), (2, 3), (3, 4)],
            pending_conf: false,
        }
    }

    #[test]
    fn leadership_goes_back_only_to_a_caught_up_preferred_voter_where_the_description_placed_it() {
        let spec = spec();
        assert_eq!(preferred_transfer(&spec, 1, 3, &led_by_3()), Some(1));
        // The preferred node leads already, or this node does not lead.
        assert_eq!(preferred_transfer(&spec, 1, 2, &led_by_3()), None);
        let follower = GroupStatus { role: StateRole::Follower, ..led_by_3() };
        assert_eq!(preferred_transfer(&spec, 1, 3, &follower), None);
        // Behind: not yet.
        let behind = GroupStatus { progress: vec![(1, 99), (2, 100), (3, 100)], ..led_by_3() };
        assert_eq!(preferred_transfer(&spec, 1, 3, &behind), None);
        // A change pending, or membership no longer as placed (a replica
        // rebuilt under a new id on node 2 is still placed there).
        let pending = GroupStatus { pending_conf: true, ..led_by_3() };
        assert_eq!(preferred_transfer(&spec, 1, 3, &pending), None);
        let moved = GroupStatus { peers: vec![(1, 1), (2, 3), (3, 4)], ..led_by_3() };
        assert_eq!(preferred_transfer(&spec, 1, 3, &moved), None);
        let rebuilt = GroupStatus {
            voters: vec![2, 3, 4],
            progress: vec![(2, 100), (3, 100), (4, 100)],
            peers: vec![(1, 2), (2, 3), (3, 4), (4, 2)],
            ..led_by_3()
        };
        assert_eq!(preferred_transfer(&spec, 1, 3, &rebuilt), Some(4));
        // The preferred node only a learner: no.
        let learner = GroupStatus { voters: vec![2, 3], learners: vec![1], ..led_by_3() };
        assert_eq!(preferred_transfer(&spec, 1, 3, &learner), None);
    }
}
