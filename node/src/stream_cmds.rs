//! Typed commands of the stream family (prost; the tags are part of the log
//! format). Arguments are parsed and checked by the front end, in Redis'
//! order, so that what reaches a replica can only fail on the data.

use crate::stream::StreamId;
use bytes::Bytes;

/// MAXLEN or MINID trimming (XADD's options, XTRIM).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Trim {
    /// MAXLEN: keep at most this many entries.
    #[prost(uint64, optional, tag = "1")]
    pub maxlen: Option<u64>,
    /// MINID: remove the entries below this ID.
    #[prost(message, optional, tag = "2")]
    pub minid: Option<StreamId>,
    /// `~`: only whole nodes of 100 entries go (Redis' stream-node-max-entries:
    /// Redis removes a radix-tree node only when all of it can go), so at
    /// least `maxlen` entries stay, up to 99 more; bounded by `limit`.
    #[prost(bool, tag = "3")]
    pub approx: bool,
    /// LIMIT (with `~`): remove at most this many entries (0: no bound).
    #[prost(uint64, tag = "4")]
    pub limit: u64,
}

/// XADD.
#[derive(Clone, PartialEq, prost::Message)]
pub struct XAdd {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bool, tag = "2")]
    pub nomkstream: bool,
    #[prost(message, optional, tag = "3")]
    pub trim: Option<Trim>,
    /// The ID given (None: `*`).
    #[prost(message, optional, tag = "4")]
    pub id: Option<StreamId>,
    /// `<ms>-*`: the sequence is picked.
    #[prost(bool, tag = "5")]
    pub auto_seq: bool,
    /// Field, value, field, value...
    #[prost(bytes = "bytes", repeated, tag = "6")]
    pub fields: Vec<Bytes>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct XTrim {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(message, optional, tag = "2")]
    pub trim: Option<Trim>,
}

/// XDEL, XACK (with `group`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyIds {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(message, repeated, tag = "2")]
    pub ids: Vec<StreamId>,
    #[prost(bytes = "bytes", tag = "3")]
    pub group: Bytes,
    /// An argument was no ID: XDEL says so only once it found the stream.
    #[prost(bool, tag = "4")]
    pub invalid: bool,
}

/// XRANGE and XREVRANGE, with the bounds made inclusive.
#[derive(Clone, PartialEq, prost::Message)]
pub struct XRange {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(message, optional, tag = "2")]
    pub start: Option<StreamId>,
    #[prost(message, optional, tag = "3")]
    pub end: Option<StreamId>,
    /// COUNT (None: all).
    #[prost(uint64, optional, tag = "4")]
    pub count: Option<u64>,
    #[prost(bool, tag = "5")]
    pub rev: bool,
}

/// What an XREAD / XREADGROUP ID argument was (checked at apply, stream by
/// stream, as Redis checks them together with each key's type and group).
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum ReadKind {
    /// An ID: the entries after it (XREADGROUP: the consumer's history).
    After = 0,
    /// `$`: after the stream's last ID (a blocking XREAD resolves it first).
    Last = 1,
    /// `>`: entries never delivered to the group.
    New = 2,
    /// Not an ID.
    Invalid = 3,
}

/// One stream of XREAD / XREADGROUP and where to read it from.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadFrom {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(enumeration = "ReadKind", tag = "2")]
    pub kind: i32,
    #[prost(message, optional, tag = "3")]
    pub after: Option<StreamId>,
}

/// XREAD, and XREADGROUP when `group` is set.
#[derive(Clone, PartialEq, prost::Message)]
pub struct XRead {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<ReadFrom>,
    /// COUNT (None: all).
    #[prost(uint64, optional, tag = "2")]
    pub count: Option<u64>,
    /// Answer the streams' last IDs instead (how a blocking XREAD learns
    /// what its `$` stands for before it waits).
    #[prost(bool, tag = "3")]
    pub last_ids: bool,
    #[prost(bytes = "bytes", tag = "4")]
    pub group: Bytes,
    #[prost(bytes = "bytes", tag = "5")]
    pub consumer: Bytes,
    #[prost(bool, tag = "6")]
    pub noack: bool,
    /// XREADGROUP as a read that only tells whether it would deliver
    /// anything (how a node without a replica of the key waits: it asks
    /// the leader, rather than proposing the group read again and again).
    #[prost(bool, tag = "7")]
    pub peek: bool,
}

/// XSETID.
#[derive(Clone, PartialEq, prost::Message)]
pub struct XSetId {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(message, optional, tag = "2")]
    pub last_id: Option<StreamId>,
    #[prost(uint64, optional, tag = "3")]
    pub entries_added: Option<u64>,
    #[prost(message, optional, tag = "4")]
    pub max_deleted: Option<StreamId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum XGroupOp {
    Create = 0,
    SetId = 1,
    Destroy = 2,
    CreateConsumer = 3,
    DelConsumer = 4,
}

/// XGROUP CREATE | SETID | DESTROY | CREATECONSUMER | DELCONSUMER.
#[derive(Clone, PartialEq, prost::Message)]
pub struct XGroup {
    #[prost(enumeration = "XGroupOp", tag = "1")]
    pub op: i32,
    #[prost(bytes = "bytes", tag = "2")]
    pub key: Bytes,
    #[prost(bytes = "bytes", tag = "3")]
    pub group: Bytes,
    #[prost(bytes = "bytes", tag = "4")]
    pub consumer: Bytes,
    /// The ID given (None with `$`, or when it was no ID: `invalid_id`).
    #[prost(message, optional, tag = "5")]
    pub id: Option<StreamId>,
    #[prost(bool, tag = "6")]
    pub invalid_id: bool,
    #[prost(bool, tag = "7")]
    pub mkstream: bool,
    /// ENTRIESREAD (-1: unknown, what Redis assumes without it).
    #[prost(int64, tag = "8")]
    pub entries_read: i64,
}

/// XPENDING; `start` set for the extended form.
#[derive(Clone, PartialEq, prost::Message)]
pub struct XPending {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub group: Bytes,
    #[prost(message, optional, tag = "3")]
    pub start: Option<StreamId>,
    #[prost(message, optional, tag = "4")]
    pub end: Option<StreamId>,
    #[prost(uint64, tag = "5")]
    pub count: u64,
    #[prost(int64, tag = "6")]
    pub min_idle: i64,
    #[prost(bytes = "bytes", optional, tag = "7")]
    pub consumer: Option<Bytes>,
}

/// XCLAIM, and XAUTOCLAIM when `auto` is set.
#[derive(Clone, PartialEq, prost::Message)]
pub struct XClaim {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub group: Bytes,
    #[prost(bytes = "bytes", tag = "3")]
    pub consumer: Bytes,
    #[prost(int64, tag = "4")]
    pub min_idle: i64,
    #[prost(message, repeated, tag = "5")]
    pub ids: Vec<StreamId>,
    /// IDLE: the delivery time is this long before now.
    #[prost(int64, optional, tag = "6")]
    pub idle: Option<i64>,
    /// TIME: the delivery time.
    #[prost(int64, optional, tag = "7")]
    pub time: Option<i64>,
    #[prost(int64, optional, tag = "8")]
    pub retry_count: Option<i64>,
    #[prost(bool, tag = "9")]
    pub force: bool,
    #[prost(bool, tag = "10")]
    pub justid: bool,
    #[prost(message, optional, tag = "11")]
    pub last_id: Option<StreamId>,
    /// An argument error Redis reports only once it found the group.
    #[prost(string, tag = "12")]
    pub error: String,
    /// XAUTOCLAIM: claim from `start` on, at most `count`.
    #[prost(bool, tag = "13")]
    pub auto: bool,
    #[prost(message, optional, tag = "14")]
    pub start: Option<StreamId>,
    #[prost(uint64, tag = "15")]
    pub count: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum XInfoKind {
    Stream = 0,
    Groups = 1,
    Consumers = 2,
}

/// XINFO STREAM [FULL [COUNT n]] | GROUPS | CONSUMERS.
#[derive(Clone, PartialEq, prost::Message)]
pub struct XInfo {
    #[prost(enumeration = "XInfoKind", tag = "1")]
    pub kind: i32,
    #[prost(bytes = "bytes", tag = "2")]
    pub key: Bytes,
    #[prost(bytes = "bytes", tag = "3")]
    pub group: Bytes,
    #[prost(bool, tag = "4")]
    pub full: bool,
    /// FULL's COUNT (0: every entry).
    #[prost(uint64, tag = "5")]
    pub count: u64,
    /// An option error, reported once the key was found (as Redis does).
    #[prost(string, tag = "6")]
    pub error: String,
}
