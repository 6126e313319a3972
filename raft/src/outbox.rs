//! The raft messages of one step of a driver turn, gathered per destination
//! node and handed to the transport as one batch per node.
//!
//! Sent one by one, each group's messages would wake the peer's writer on
//! their own and leave in a frame of their own: with several groups per node
//! that is a write, a read and a driver wake-up on the peer per group and
//! turn. A batch leaves in one frame.

use crate::proto::GroupMessage;
use crate::transport::Transport;
use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use std::collections::HashMap;

/// Marks an unreachable report as "the snapshot to this replica failed".
pub(crate) const SNAPSHOT_FAILED_FLAG: u64 = 1 << 63;

#[derive(Default)]
pub(crate) struct Outbox {
    per_node: HashMap<u64, NodeBatch>,
}

/// The encoded messages for one node, and beside each where it goes, for
/// reporting a refusal.
#[derive(Default)]
struct NodeBatch {
    messages: Vec<GroupMessage>,
    sent: Vec<Sent>,
}

struct Sent {
    group: u64,
    to: u64,
    snapshot: bool,
}

impl Outbox {
    /// Queues `msgs` of `group`. A message to a replica whose node is not
    /// known is reported in `unreachable` at once.
    pub fn push(
        &mut self,
        group: u64,
        peers: &HashMap<u64, u64>,
        msgs: Vec<Message>,
        unreachable: &mut Vec<(u64, u64)>,
    ) {
        for m in msgs {
            let to = m.to;
            let Some(&node) = peers.get(&to) else {
                tracing::debug!("group {group}: no node known for replica {to}");
                unreachable.push((group, to));
                continue;
            };
            let snapshot = m.get_msg_type() == MessageType::MsgSnapshot;
            let message = m.write_to_bytes().expect("encoding a raft message").into();
            let batch = self.per_node.entry(node).or_default();
            batch.messages.push(GroupMessage { group, message });
            batch.sent.push(Sent { group, to, snapshot });
        }
    }

    /// Hands each node's batch to the transport. Every message of a refused
    /// batch (full queue, unknown or stopped peer) is reported unreachable,
    /// and a snapshot among them as failed.
    pub fn flush(&mut self, transport: &Transport, unreachable: &mut Vec<(u64, u64)>) {
        for (node, batch) in self.per_node.drain() {
            if transport.send_raft(node, batch.messages).is_err() {
                for Sent { group, to, snapshot } in batch.sent {
                    unreachable.push((group, to));
                    if snapshot {
                        unreachable.push((group, to | SNAPSHOT_FAILED_FLAG));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(to: u64, ty: MessageType) -> Message {
        let mut m = Message { to, ..Default::default() };
        m.set_msg_type(ty);
        m
    }

    #[test]
    fn messages_for_one_node_make_one_batch_whatever_their_group() {
        let mut outbox = Outbox::default();
        let mut unreachable = Vec::new();
        // Group 1's replicas 2 and 3 live on nodes 20 and 30; group 2's
        // replica 7 on node 20; replica 9 of group 2 is on no known node.
        let peers1 = HashMap::from([(2, 20), (3, 30)]);
        let peers2 = HashMap::from([(7, 20)]);
        outbox.push(1, &peers1, vec![msg(2, MessageType::MsgAppend), msg(3, MessageType::MsgAppend)], &mut unreachable);
        outbox.push(2, &peers2, vec![msg(7, MessageType::MsgAppend), msg(9, MessageType::MsgAppend)], &mut unreachable);
        assert_eq!(unreachable, vec![(2, 9)]);
        let groups = |node: u64| outbox.per_node[&node].messages.iter().map(|m| m.group).collect::<Vec<_>>();
        assert_eq!(groups(20), vec![1, 2]);
        assert_eq!(groups(30), vec![1]);
        assert_eq!(outbox.per_node.len(), 2);
    }

    #[tokio::test]
    async fn a_refused_batch_reports_each_message_and_a_failed_snapshot() {
        let transport = Transport::local_only(1); // knows no peer: refuses all
        let mut outbox = Outbox::default();
        let mut unreachable = Vec::new();
        let peers = HashMap::from([(2, 20)]);
        outbox.push(
            5,
            &peers,
            vec![msg(2, MessageType::MsgAppend), msg(2, MessageType::MsgSnapshot)],
            &mut unreachable,
        );
        assert!(unreachable.is_empty());
        outbox.flush(&transport, &mut unreachable);
        assert_eq!(unreachable, vec![(5, 2), (5, 2), (5, 2 | SNAPSHOT_FAILED_FLAG)]);
        assert!(outbox.per_node.is_empty());
    }
}
