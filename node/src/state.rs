//! Per-partition state kept in the `state` column family, written in the same
//! batch as the data of the entries it covers.

use bytes::Bytes;
use prost::Message;

/// Key counters of a partition (DBSIZE, INFO keyspace).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PartitionCounters {
    pub keys: u64,
    pub expires: u64,
}

/// Replica states (DESIGN: Normal, Applying a snapshot, Tombstone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum ReplicaStatus {
    Normal = 0,
    Applying = 1,
    Tombstone = 2,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PartitionState {
    #[prost(uint64, tag = "1")]
    pub group: u64,
    #[prost(uint32, tag = "2")]
    pub ns: u32,
    #[prost(uint32, tag = "3")]
    pub index: u32,
    #[prost(uint32, tag = "4")]
    pub slot_lo: u32,
    #[prost(uint32, tag = "5")]
    pub slot_hi: u32,
    #[prost(uint64, tag = "6")]
    pub replica_id: u64,
    #[prost(uint64, tag = "7")]
    pub applied_index: u64,
    #[prost(uint64, tag = "8")]
    pub applied_term: u64,
    /// rust-protobuf encoded `eraftpb::ConfState` (joint state included).
    #[prost(bytes = "bytes", tag = "9")]
    pub conf_state: Bytes,
    /// The largest time stamp applied (ms); stamps never go backwards.
    #[prost(uint64, tag = "10")]
    pub last_stamp: u64,
    #[prost(uint64, tag = "11")]
    pub key_count: u64,
    #[prost(uint64, tag = "12")]
    pub expire_count: u64,
    /// The raft index of the last FLUSHDB/FLUSHALL of this partition.
    #[prost(uint64, tag = "13")]
    pub flush_index: u64,
    #[prost(enumeration = "ReplicaStatus", tag = "14")]
    pub status: i32,
    /// Where each replica of the group lives (replica id -> node id), as of
    /// the applied configuration: from bootstrap, then from the context of
    /// each applied configuration change.
    #[prost(message, repeated, tag = "15")]
    pub peers: Vec<kvraft::proto::ReplicaNode>,
    /// The next replica id to hand out (replica ids name incarnations, not
    /// nodes, and are never reused).
    #[prost(uint64, tag = "16")]
    pub next_replica_id: u64,
}

impl PartitionState {
    pub fn encode_vec(&self) -> Vec<u8> {
        self.encode_to_vec()
    }

    pub fn counters(&self) -> PartitionCounters {
        PartitionCounters { keys: self.key_count, expires: self.expire_count }
    }

    pub fn conf_state(&self) -> kvraft::raft::eraftpb::ConfState {
        use protobuf::Message as _;
        kvraft::raft::eraftpb::ConfState::parse_from_bytes(&self.conf_state).unwrap_or_default()
    }

    pub fn set_conf_state(&mut self, cs: &kvraft::raft::eraftpb::ConfState) {
        use protobuf::Message as _;
        self.conf_state = Bytes::from(cs.write_to_bytes().expect("encode conf state"));
    }

    /// (replica id, node id) of every replica, sorted.
    pub fn peer_list(&self) -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = self.peers.iter().map(|p| (p.replica, p.node)).collect();
        v.sort_unstable();
        v
    }

    /// True when `replica` is a voter or learner of the applied configuration
    /// (joint configurations included).
    pub fn is_member(&self, replica: u64) -> bool {
        let cs = self.conf_state();
        cs.voters.iter().chain(&cs.learners).chain(&cs.voters_outgoing).chain(&cs.learners_next).any(|r| *r == replica)
    }

    /// Applies a configuration change: learns the nodes of new replicas from
    /// its context and forgets replicas that are no longer members.
    pub fn apply_conf_change(&mut self, context: &[u8], cs: &kvraft::raft::eraftpb::ConfState) {
        if let Ok(nodes) = <kvraft::proto::ReplicaNodes as Message>::decode(context) {
            for rn in nodes.replicas {
                self.next_replica_id = self.next_replica_id.max(rn.replica + 1);
                self.peers.retain(|p| p.replica != rn.replica);
                self.peers.push(rn);
            }
        }
        let members: Vec<u64> = cs.voters.iter().chain(&cs.learners).chain(&cs.voters_outgoing).copied().collect();
        self.peers.retain(|p| members.contains(&p.replica));
        self.set_conf_state(cs);
    }
}

/// A rust-protobuf encoded ConfState (empty on garbage).
pub fn decode_conf_state(b: &[u8]) -> kvraft::raft::eraftpb::ConfState {
    use protobuf::Message as _;
    kvraft::raft::eraftpb::ConfState::parse_from_bytes(b).unwrap_or_default()
}

/// `p/<group>`: a partition's state.
pub fn partition_key(group: u64) -> Vec<u8> {
    let mut k = partition_prefix().to_vec();
    k.extend_from_slice(&group.to_be_bytes());
    k
}

pub fn partition_prefix() -> &'static [u8] {
    b"p/"
}

/// `r/<ns><slot>`: the raft index of the last removal of a key in the slot.
pub fn removal_key(ns: u32, slot: u16) -> Vec<u8> {
    let mut k = b"r/".to_vec();
    k.extend_from_slice(&ns.to_be_bytes());
    k.extend_from_slice(&slot.to_be_bytes());
    k
}

/// `s/<node>`: node `node` has sent this data directory raft messages
/// (see [`crate::seen`]).
pub fn seen_node_key(node: u64) -> Vec<u8> {
    let mut k = seen_node_prefix().to_vec();
    k.extend_from_slice(&node.to_be_bytes());
    k
}

pub fn seen_node_prefix() -> &'static [u8] {
    b"s/"
}

/// `n/<name>`: a namespace of this node's local (standalone) metadata.
pub fn namespace_key(name: &str) -> Vec<u8> {
    let mut k = b"n/".to_vec();
    k.extend_from_slice(name.as_bytes());
    k
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct NamespaceRecord {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(uint32, tag = "3")]
    pub partitions: u32,
}
