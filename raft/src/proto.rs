//! The node-to-node wire format (prost). Raft messages themselves are
//! `eraftpb::Message`s encoded by rust-protobuf (raft-rs' codec) and carried
//! as bytes inside these envelopes.

use bytes::Bytes;

/// One length-delimited frame on a node-to-node connection.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Frame {
    /// The sending node.
    #[prost(uint64, tag = "1")]
    pub from_node: u64,
    #[prost(message, repeated, tag = "2")]
    pub raft: Vec<GroupMessage>,
    /// Forwarded client requests and their replies (opaque to this crate).
    #[prost(bytes = "bytes", repeated, tag = "3")]
    pub forward: Vec<Bytes>,
    /// Snapshot transfer requests and chunks (opaque to this crate).
    #[prost(bytes = "bytes", repeated, tag = "4")]
    pub snapshot: Vec<Bytes>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GroupMessage {
    #[prost(uint64, tag = "1")]
    pub group: u64,
    /// A rust-protobuf encoded `eraftpb::Message`.
    #[prost(bytes = "bytes", tag = "2")]
    pub message: Bytes,
}

/// The replica-to-node mapping carried in a configuration change's context,
/// so every replica learns where a new peer lives when it applies the change.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReplicaNodes {
    #[prost(message, repeated, tag = "1")]
    pub replicas: Vec<ReplicaNode>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ReplicaNode {
    #[prost(uint64, tag = "1")]
    pub replica: u64,
    #[prost(uint64, tag = "2")]
    pub node: u64,
}
