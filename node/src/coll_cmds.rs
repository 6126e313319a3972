//! Typed commands of the hash, list, set and sorted-set families (prost; the
//! tags are part of the log format).

use crate::command::KeyValue;
use bytes::Bytes;

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyField {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub field: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyFields {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bytes = "bytes", repeated, tag = "2")]
    pub fields: Vec<Bytes>,
}

/// HSET / HMSET / HSETNX.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HSet {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    /// (field, value) pairs.
    #[prost(message, repeated, tag = "2")]
    pub pairs: Vec<KeyValue>,
    /// HSETNX: only if the field is new; answers 1/0.
    #[prost(bool, tag = "3")]
    pub nx: bool,
    /// HMSET answers OK.
    #[prost(bool, tag = "4")]
    pub ok_reply: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HIncrBy {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub field: Bytes,
    #[prost(int64, tag = "3")]
    pub delta: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HIncrByFloat {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub field: Bytes,
    #[prost(bytes = "bytes", tag = "3")]
    pub delta: Bytes,
}

/// HRANDFIELD / SRANDMEMBER / ZRANDMEMBER (reads; a write path never needs them).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RandMembers {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(int64, optional, tag = "2")]
    pub count: Option<i64>,
    #[prost(bool, tag = "3")]
    pub with_values: bool,
}

/// HSCAN / SSCAN / ZSCAN.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ElemScan {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(uint64, tag = "2")]
    pub cursor: u64,
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub pattern: Option<Bytes>,
    #[prost(uint64, tag = "4")]
    pub count: u64,
}

/// LPUSH / RPUSH / LPUSHX / RPUSHX.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Push {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bytes = "bytes", repeated, tag = "2")]
    pub values: Vec<Bytes>,
    #[prost(bool, tag = "3")]
    pub left: bool,
    /// Only if the list exists.
    #[prost(bool, tag = "4")]
    pub xx: bool,
}

/// LPOP / RPOP [count].
#[derive(Clone, PartialEq, prost::Message)]
pub struct Pop {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bool, tag = "2")]
    pub left: bool,
    #[prost(uint64, optional, tag = "3")]
    pub count: Option<u64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyIndex {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(int64, tag = "2")]
    pub index: i64,
    /// The index argument is not an integer. Redis looks the key up first
    /// (a missing key answers nil, a wrong type WRONGTYPE), so the error
    /// waits for execution.
    #[prost(bool, tag = "3")]
    pub not_integer: bool,
    /// This is LSET with a non-integer index, which can only fail: it runs
    /// as this read (never a raft entry), where a missing key answers "no
    /// such key".
    #[prost(bool, tag = "4")]
    pub lset: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LSet {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(int64, tag = "2")]
    pub index: i64,
    #[prost(bytes = "bytes", tag = "3")]
    pub value: Bytes,
}

/// LRANGE / LTRIM.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyRange {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(int64, tag = "2")]
    pub start: i64,
    #[prost(int64, tag = "3")]
    pub stop: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LRem {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(int64, tag = "2")]
    pub count: i64,
    #[prost(bytes = "bytes", tag = "3")]
    pub value: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LInsert {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bool, tag = "2")]
    pub before: bool,
    #[prost(bytes = "bytes", tag = "3")]
    pub pivot: Bytes,
    #[prost(bytes = "bytes", tag = "4")]
    pub value: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LPos {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub element: Bytes,
    #[prost(int64, tag = "3")]
    pub rank: i64,
    #[prost(uint64, optional, tag = "4")]
    pub count: Option<u64>,
    #[prost(uint64, tag = "5")]
    pub maxlen: u64,
}

/// LMOVE / RPOPLPUSH (and their blocking forms).
#[derive(Clone, PartialEq, prost::Message)]
pub struct LMove {
    #[prost(bytes = "bytes", tag = "1")]
    pub src: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub dst: Bytes,
    #[prost(bool, tag = "3")]
    pub from_left: bool,
    #[prost(bool, tag = "4")]
    pub to_left: bool,
}

/// LMPOP / ZMPOP and BLPOP/BRPOP/BZPOPMIN/BZPOPMAX: pop from the first
/// non-empty key.
#[derive(Clone, PartialEq, prost::Message)]
pub struct MPop {
    #[prost(bytes = "bytes", repeated, tag = "1")]
    pub keys: Vec<Bytes>,
    /// LEFT / MIN.
    #[prost(bool, tag = "2")]
    pub left: bool,
    #[prost(uint64, tag = "3")]
    pub count: u64,
    /// The reply shape: 0 LMPOP/ZMPOP, 1 BLPOP/BRPOP ([key, value]),
    /// 2 BZPOPMIN/BZPOPMAX ([key, member, score]).
    #[prost(uint32, tag = "4")]
    pub shape: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyMembers {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bytes = "bytes", repeated, tag = "2")]
    pub members: Vec<Bytes>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SPop {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(uint64, optional, tag = "2")]
    pub count: Option<u64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SMove {
    #[prost(bytes = "bytes", tag = "1")]
    pub src: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub dst: Bytes,
    #[prost(bytes = "bytes", tag = "3")]
    pub member: Bytes,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum SetOpKind {
    Inter = 0,
    Union = 1,
    Diff = 2,
}

/// SINTER/SUNION/SDIFF[STORE], SINTERCARD.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SetOp {
    #[prost(enumeration = "SetOpKind", tag = "1")]
    pub op: i32,
    #[prost(bytes = "bytes", repeated, tag = "2")]
    pub keys: Vec<Bytes>,
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub store: Option<Bytes>,
    /// SINTERCARD: answer the cardinality, counting up to `limit` (0: all).
    #[prost(bool, tag = "4")]
    pub card: bool,
    #[prost(uint64, tag = "5")]
    pub limit: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScoreMember {
    /// Optional on the wire only so that -0 survives encoding (proto3 drops
    /// a plain double equal to 0, and decodes it as +0): ZINCRBY of a new
    /// member by -0 answers "-0" in Redis. Read it with `score()`; records
    /// written before this was optional decode as None, which is 0.
    #[prost(double, optional, tag = "1")]
    pub score: Option<f64>,
    #[prost(bytes = "bytes", tag = "2")]
    pub member: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ZAdd {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(message, repeated, tag = "2")]
    pub pairs: Vec<ScoreMember>,
    #[prost(bool, tag = "3")]
    pub nx: bool,
    #[prost(bool, tag = "4")]
    pub xx: bool,
    #[prost(bool, tag = "5")]
    pub gt: bool,
    #[prost(bool, tag = "6")]
    pub lt: bool,
    #[prost(bool, tag = "7")]
    pub ch: bool,
    /// ZADD INCR and ZINCRBY: answer the new score.
    #[prost(bool, tag = "8")]
    pub incr: bool,
}

/// A score or lex bound of ZRANGE and friends.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Bound {
    /// Score bounds: the value (may be +-inf).
    #[prost(double, tag = "1")]
    pub score: f64,
    /// Lex bounds: the member.
    #[prost(bytes = "bytes", tag = "2")]
    pub lex: Bytes,
    #[prost(bool, tag = "3")]
    pub exclusive: bool,
    /// Lex only: `-` (0) / `+` (1) / a member (2).
    #[prost(uint32, tag = "4")]
    pub lex_kind: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum RangeBy {
    Rank = 0,
    Score = 1,
    Lex = 2,
}

/// ZRANGE in all its forms, ZRANGESTORE, ZCOUNT/ZLEXCOUNT (count), and
/// ZREMRANGEBY* (remove).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ZRange {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(enumeration = "RangeBy", tag = "2")]
    pub by: i32,
    /// Rank bounds (BY RANK).
    #[prost(int64, tag = "3")]
    pub start: i64,
    #[prost(int64, tag = "4")]
    pub stop: i64,
    #[prost(message, optional, tag = "5")]
    pub min: Option<Bound>,
    #[prost(message, optional, tag = "6")]
    pub max: Option<Bound>,
    #[prost(bool, tag = "7")]
    pub rev: bool,
    #[prost(int64, optional, tag = "8")]
    pub offset: Option<i64>,
    #[prost(int64, optional, tag = "9")]
    pub limit: Option<i64>,
    #[prost(bool, tag = "10")]
    pub with_scores: bool,
    #[prost(bytes = "bytes", optional, tag = "11")]
    pub store: Option<Bytes>,
    #[prost(bool, tag = "12")]
    pub count_only: bool,
    #[prost(bool, tag = "13")]
    pub remove: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ZRank {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub member: Bytes,
    #[prost(bool, tag = "3")]
    pub rev: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ZPop {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bool, tag = "2")]
    pub min: bool,
    #[prost(uint64, optional, tag = "3")]
    pub count: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum Aggregate {
    Sum = 0,
    Min = 1,
    Max = 2,
}

/// ZUNION/ZINTER/ZDIFF[STORE], ZINTERCARD.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ZSetOp {
    #[prost(enumeration = "SetOpKind", tag = "1")]
    pub op: i32,
    #[prost(bytes = "bytes", repeated, tag = "2")]
    pub keys: Vec<Bytes>,
    #[prost(double, repeated, tag = "3")]
    pub weights: Vec<f64>,
    #[prost(enumeration = "Aggregate", tag = "4")]
    pub aggregate: i32,
    #[prost(bool, tag = "5")]
    pub with_scores: bool,
    #[prost(bytes = "bytes", optional, tag = "6")]
    pub store: Option<Bytes>,
    #[prost(bool, tag = "7")]
    pub card: bool,
    #[prost(uint64, tag = "8")]
    pub limit: u64,
    /// Redis reads the inputs (WRONGTYPE) before the options: an option
    /// error travels here and is answered after the inputs are checked.
    #[prost(string, optional, tag = "9")]
    pub option_error: Option<String>,
}
