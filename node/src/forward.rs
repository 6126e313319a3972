//! Node-to-node forwarding of typed commands.
//!
//! A node that does not lead a key's partition sends the command to the
//! leader on the transport's forward lane and relays the reply. Writes travel
//! as an [`Entry`](crate::command::Entry) without stamp and seed (the leader
//! stamps it with its own clock, as for its own clients), reads as a
//! [`Command`](crate::command::Command). Each request names the origin's
//! session, so the leader keeps one session per client connection and
//! pipelined commands keep their order. Replies, leader announcements and
//! session closes travel on the same lane.

use crate::reply::Reply;
use bytes::Bytes;
use kvraft::{SendError, Transport};
use parking_lot::Mutex;
use prost::Message;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum FwdKind {
    Write = 0,
    Read = 1,
    Reply = 2,
    Leaders = 3,
    CloseSession = 4,
    /// A membership request (`membership::AdminOp`), answered like a command.
    Admin = 5,
    /// A [`PartitionRead`] for a node that holds no replica of the partition.
    PartitionRead = 6,
    /// Has the receiver had raft messages from the sender? Answered 1 or 0
    /// (see [`crate::seen`]).
    HeardFrom = 7,
    /// A PUBLISH for the receiver's subscribers (a [`PublishMsg`]); no reply.
    Publish = 8,
    /// A script or function the sender lacks (a
    /// [`LookupMsg`](crate::peer_lookup::LookupMsg)); answered with it, or nil.
    Lookup = 9,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PublishMsg {
    #[prost(bytes = "bytes", tag = "1")]
    pub channel: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub message: Bytes,
    /// SPUBLISH's (sharded pub/sub).
    #[prost(bool, tag = "3")]
    pub shard: bool,
}

/// The reads of one partition's state that SCAN, RANDOMKEY and WATCH make
/// at a linearizable point, on a replica: here, or at the leader for a node
/// without one.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum PartitionRead {
    /// One step of SCAN within the partition; answered
    /// `[next cursor or -1, keys visited, [keys]]`.
    #[prost(message, tag = "1")]
    Scan(crate::command::Scan),
    /// RANDOMKEY from this cursor on; a key or nil.
    #[prost(uint64, tag = "2")]
    RandomKey(u64),
    /// WATCH of a key; answered `[read index, existed 0/1]`.
    #[prost(bytes = "bytes", tag = "3")]
    Watch(Bytes),
    /// WAIT: how many other replicas hold the log up to the leader's commit
    /// index; answered by the leader only.
    #[prost(bool, tag = "4")]
    Acks(bool),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PartitionReadMsg {
    #[prost(oneof = "PartitionRead", tags = "1, 2, 3, 4")]
    pub read: Option<PartitionRead>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FwdMsg {
    #[prost(enumeration = "FwdKind", tag = "1")]
    pub kind: i32,
    /// The origin's request id (echoed in the reply).
    #[prost(uint64, tag = "2")]
    pub id: u64,
    #[prost(uint64, tag = "3")]
    pub session: u64,
    #[prost(uint64, tag = "4")]
    pub group: u64,
    #[prost(bytes = "bytes", tag = "5")]
    pub data: Bytes,
    #[prost(message, optional, tag = "6")]
    pub reply: Option<WireReply>,
    #[prost(message, repeated, tag = "7")]
    pub leaders: Vec<LeaderInfo>,
    /// Leader announcements: the sender's apply version (0 from nodes that
    /// predate it: version 1).
    #[prost(uint32, tag = "8")]
    pub version: u32,
}

/// What a leader tells every node about a group it leads (so that nodes
/// without a replica of it know where to send, and followers how far they
/// may compact their logs).
#[derive(Clone, PartialEq, prost::Message)]
pub struct LeaderInfo {
    #[prost(uint64, tag = "1")]
    pub group: u64,
    #[prost(uint64, tag = "2")]
    pub term: u64,
    #[prost(uint64, tag = "3")]
    pub leader: u64,
    /// Nodes of every replica (the leader's included).
    #[prost(uint64, repeated, tag = "4")]
    pub nodes: Vec<u64>,
    /// Every replica holds the log up to here: followers may compact to it.
    #[prost(uint64, tag = "5")]
    pub compact_to: u64,
    /// The leader's applied membership (replica -> node) and replica id
    /// counter: a node whose replica is older than the counter and not a
    /// member was removed (it may have missed the change) and destroys it.
    #[prost(message, repeated, tag = "6")]
    pub replicas: Vec<kvraft::proto::ReplicaNode>,
    #[prost(uint64, tag = "7")]
    pub next_replica_id: u64,
}

/// A [`Reply`] on the wire. Maps and pairs are flattened (key, value, ...).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireReply {
    #[prost(int32, tag = "1")]
    pub kind: i32,
    #[prost(string, tag = "2")]
    pub text: String,
    #[prost(int64, tag = "3")]
    pub int: i64,
    #[prost(bytes = "bytes", tag = "4")]
    pub data: Bytes,
    /// Optional so that -0 travels (proto3 leaves out a plain double equal
    /// to 0, which decodes as +0).
    #[prost(double, optional, tag = "5")]
    pub double: Option<f64>,
    #[prost(message, repeated, tag = "6")]
    pub items: Vec<WireReply>,
}

const K_OK: i32 = 0;
const K_STATUS: i32 = 1;
const K_ERROR: i32 = 2;
const K_INT: i32 = 3;
const K_BULK: i32 = 4;
const K_NIL: i32 = 5;
const K_ARRAY: i32 = 6;
const K_NIL_ARRAY: i32 = 7;
const K_DOUBLE: i32 = 8;
const K_MAP: i32 = 9;
const K_SET: i32 = 10;
const K_PAIRS: i32 = 11;
const K_PAIR_MAP: i32 = 13;
const K_VERBATIM: i32 = 12;
const K_HUMAN_DOUBLE: i32 = 14;

impl WireReply {
    fn of_kind(kind: i32) -> WireReply {
        WireReply { kind, ..Default::default() }
    }

    pub fn from_reply(r: &Reply) -> WireReply {
        let flat = |pairs: &[(Reply, Reply)]| {
            pairs.iter().flat_map(|(k, v)| [WireReply::from_reply(k), WireReply::from_reply(v)]).collect()
        };
        match r {
            Reply::Ok => WireReply::of_kind(K_OK),
            Reply::Status(s) => WireReply { kind: K_STATUS, text: s.clone(), ..Default::default() },
            Reply::Error(s) => WireReply { kind: K_ERROR, text: s.clone(), ..Default::default() },
            Reply::Int(i) => WireReply { kind: K_INT, int: *i, ..Default::default() },
            Reply::Bulk(b) => WireReply { kind: K_BULK, data: b.clone(), ..Default::default() },
            Reply::Nil => WireReply::of_kind(K_NIL),
            Reply::Array(items) => WireReply {
                kind: K_ARRAY,
                items: items.iter().map(WireReply::from_reply).collect(),
                ..Default::default()
            },
            Reply::NilArray => WireReply::of_kind(K_NIL_ARRAY),
            Reply::Double(d) => WireReply { kind: K_DOUBLE, double: Some(*d), ..Default::default() },
            Reply::HumanDouble(d) => WireReply { kind: K_HUMAN_DOUBLE, double: Some(*d), ..Default::default() },
            Reply::Map(pairs) => WireReply { kind: K_MAP, items: flat(pairs), ..Default::default() },
            Reply::Set(items) => WireReply {
                kind: K_SET,
                items: items.iter().map(WireReply::from_reply).collect(),
                ..Default::default()
            },
            Reply::Pairs(pairs) => WireReply { kind: K_PAIRS, items: flat(pairs), ..Default::default() },
            Reply::PairMap(pairs) => WireReply { kind: K_PAIR_MAP, items: flat(pairs), ..Default::default() },
            Reply::Verbatim(s) => WireReply { kind: K_VERBATIM, text: s.clone(), ..Default::default() },
            // Connection-level replies, never forwarded; kept as arrays.
            // Released by the proposer before any reply leaves it.
            Reply::Publishing(r, _) => WireReply::from_reply(r),
            Reply::Push(items) | Reply::Several(items) => WireReply {
                kind: K_ARRAY,
                items: items.iter().map(WireReply::from_reply).collect(),
                ..Default::default()
            },
        }
    }

    pub fn into_reply(self) -> Reply {
        fn pairs(items: Vec<WireReply>) -> Vec<(Reply, Reply)> {
            let mut it = items.into_iter().map(WireReply::into_reply);
            let mut out = Vec::new();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                out.push((k, v));
            }
            out
        }
        match self.kind {
            K_OK => Reply::Ok,
            K_STATUS => Reply::Status(self.text),
            K_ERROR => Reply::Error(self.text),
            K_INT => Reply::Int(self.int),
            K_BULK => Reply::Bulk(self.data),
            K_NIL => Reply::Nil,
            K_ARRAY => Reply::Array(self.items.into_iter().map(WireReply::into_reply).collect()),
            K_NIL_ARRAY => Reply::NilArray,
            K_DOUBLE => Reply::Double(self.double()),
            K_HUMAN_DOUBLE => Reply::HumanDouble(self.double()),
            K_MAP => Reply::Map(pairs(self.items)),
            K_SET => Reply::Set(self.items.into_iter().map(WireReply::into_reply).collect()),
            K_PAIRS => Reply::Pairs(pairs(self.items)),
            K_PAIR_MAP => Reply::PairMap(pairs(self.items)),
            K_VERBATIM => Reply::Verbatim(self.text),
            k => Reply::error(format!("ERR internal: unknown forwarded reply kind {k}")),
        }
    }
}

/// The origin side: sends requests and matches replies to their callers.
pub struct Forwarder {
    transport: Arc<Transport>,
    next_id: AtomicU64,
    pending: Mutex<HashMap<u64, oneshot::Sender<Reply>>>,
    /// Requests this node forwarded / served for others.
    pub sent: AtomicU64,
    pub served: AtomicU64,
}

impl Forwarder {
    pub fn new(transport: Arc<Transport>) -> Forwarder {
        Forwarder {
            transport,
            next_id: AtomicU64::new(1),
            pending: Mutex::new(HashMap::new()),
            sent: AtomicU64::new(0),
            served: AtomicU64::new(0),
        }
    }

    fn send_msg(&self, node: u64, m: &FwdMsg) -> Result<(), SendError> {
        self.transport.send_forward(node, Bytes::from(m.encode_to_vec()))
    }

    /// Sends a request; the receiver gets the leader's reply. `Err` when it
    /// could not even be queued (then it certainly had no effect).
    pub fn request(
        &self,
        node: u64,
        kind: FwdKind,
        session: u64,
        group: u64,
        data: Bytes,
    ) -> Result<(u64, oneshot::Receiver<Reply>), SendError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().insert(id, tx);
        let m = FwdMsg { kind: kind as i32, id, session, group, data, ..Default::default() };
        if let Err(e) = self.send_msg(node, &m) {
            self.pending.lock().remove(&id);
            return Err(e);
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
        Ok((id, rx))
    }

    /// Forgets a request whose caller stopped waiting.
    pub fn abandon(&self, id: u64) {
        self.pending.lock().remove(&id);
    }

    pub fn on_reply(&self, id: u64, reply: Reply) {
        if let Some(tx) = self.pending.lock().remove(&id) {
            let _ = tx.send(reply);
        }
    }

    /// Sends a served request's reply back to its origin.
    pub fn reply(&self, node: u64, id: u64, reply: &Reply) {
        let m =
            FwdMsg { kind: FwdKind::Reply as i32, id, reply: Some(WireReply::from_reply(reply)), ..Default::default() };
        if let Err(e) = self.send_msg(node, &m) {
            // The origin answers UNCERTAIN (write) or TRYAGAIN (read) at its deadline.
            tracing::debug!("reply to node {node} for request {id} not sent: {e}");
        }
    }

    pub fn close_session(&self, node: u64, session: u64) {
        let _ = self.send_msg(node, &FwdMsg { kind: FwdKind::CloseSession as i32, session, ..Default::default() });
    }

    /// Passes a PUBLISH on to `node`'s subscribers (at most once: a message
    /// the transport cannot take now is not delivered there, as pub/sub
    /// promises no more).
    pub fn publish(&self, node: u64, channel: &Bytes, message: &Bytes, shard: bool) {
        let data =
            Bytes::from(PublishMsg { channel: channel.clone(), message: message.clone(), shard }.encode_to_vec());
        let _ = self.send_msg(node, &FwdMsg { kind: FwdKind::Publish as i32, data, ..Default::default() });
    }

    pub fn announce(&self, node: u64, leaders: Vec<LeaderInfo>) {
        let m =
            FwdMsg { kind: FwdKind::Leaders as i32, leaders, version: crate::versions::own(), ..Default::default() };
        let _ = self.send_msg(node, &m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_survive_the_wire() {
        let r = Reply::Array(vec![
            Reply::Ok,
            Reply::status("QUEUED"),
            Reply::error("ERR x"),
            Reply::Int(-7),
            Reply::bulk("v"),
            Reply::Nil,
            Reply::NilArray,
            Reply::Double(1.5),
            Reply::Map(vec![(Reply::bulk("k"), Reply::Int(1))]),
            Reply::Set(vec![Reply::bulk("m")]),
            Reply::Pairs(vec![(Reply::bulk("m"), Reply::Double(2.0))]),
            Reply::Verbatim("info".into()),
            Reply::HumanDouble(13.361389338970184),
        ]);
        let wire = WireReply::from_reply(&r).encode_to_vec();
        assert_eq!(WireReply::decode(wire.as_slice()).unwrap().into_reply(), r);
        // -0 == 0 for the comparison above; Redis prints them apart.
        for d in [0.0, -0.0] {
            let wire = WireReply::from_reply(&Reply::Double(d)).encode_to_vec();
            match WireReply::decode(wire.as_slice()).unwrap().into_reply() {
                Reply::Double(back) => assert_eq!(back.to_bits(), d.to_bits()),
                other => panic!("{other:?}"),
            }
        }
    }
}
