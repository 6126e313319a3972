//! The typed commands of the data node and the raft entry that carries them
//! (prost-encoded; the tags are part of the log format).
//!
//! redisapi parses and validates client arguments into these; by the time a
//! command exists, its arguments are well-formed, so apply only meets errors
//! that depend on the data (WRONGTYPE, not an integer, ...).

use crate::coll_cmds as cc;
use crate::geo_cmds as gc;
use crate::meta::DataType;
use crate::rdb;
use crate::stream_cmds as sc;
use bytes::Bytes;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Key {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Keys {
    #[prost(bytes = "bytes", repeated, tag = "1")]
    pub keys: Vec<Bytes>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetRange {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(int64, tag = "2")]
    pub start: i64,
    #[prost(int64, tag = "3")]
    pub end: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Ttl {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    /// PTTL / PEXPIRETIME: milliseconds; else seconds.
    #[prost(bool, tag = "2")]
    pub millis: bool,
    /// EXPIRETIME / PEXPIRETIME: the absolute time; else what remains.
    #[prost(bool, tag = "3")]
    pub absolute: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Scan {
    #[prost(uint64, tag = "1")]
    pub cursor: u64,
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub pattern: Option<Bytes>,
    #[prost(uint64, tag = "3")]
    pub count: u64,
    #[prost(string, optional, tag = "4")]
    pub type_name: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Pattern {
    #[prost(bytes = "bytes", tag = "1")]
    pub pattern: Bytes,
}

/// An expiry as the client gave it, resolved at apply against the entry's
/// time stamp (so every replica computes the same instant).
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Expiry {
    /// Milliseconds: relative to the entry's stamp, or absolute Unix time.
    #[prost(int64, tag = "1")]
    pub ms: i64,
    #[prost(bool, tag = "2")]
    pub absolute: bool,
}

impl Expiry {
    /// The absolute time in ms at stamp `now` (may be in the past or <= 0).
    pub fn at(&self, now: u64) -> i64 {
        if self.absolute {
            self.ms
        } else {
            (now as i64).saturating_add(self.ms)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum SetCond {
    Always = 0,
    Nx = 1,
    Xx = 2,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Set {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
    #[prost(enumeration = "SetCond", tag = "3")]
    pub cond: i32,
    /// Reply with the old value (SET ... GET, GETSET).
    #[prost(bool, tag = "4")]
    pub get: bool,
    #[prost(message, optional, tag = "5")]
    pub expiry: Option<Expiry>,
    #[prost(bool, tag = "6")]
    pub keep_ttl: bool,
    /// SETNX answers 1/0 rather than OK/nil.
    #[prost(bool, tag = "7")]
    pub int_reply: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct MSet {
    #[prost(message, repeated, tag = "1")]
    pub pairs: Vec<KeyValue>,
    /// MSETNX: all or nothing, answering 1/0.
    #[prost(bool, tag = "2")]
    pub nx: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SetRange {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(uint64, tag = "2")]
    pub offset: u64,
    #[prost(bytes = "bytes", tag = "3")]
    pub value: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct IncrBy {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(int64, tag = "2")]
    pub delta: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct IncrByFloat {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    /// The increment as the client wrote it (parsed as a long double).
    #[prost(bytes = "bytes", tag = "2")]
    pub delta: Bytes,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetEx {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(message, optional, tag = "2")]
    pub expiry: Option<Expiry>,
    #[prost(bool, tag = "3")]
    pub persist: bool,
    /// Redis validates GETEX's time only after finding the key: an invalid
    /// one travels as its error, answered if the key exists.
    #[prost(string, optional, tag = "4")]
    pub invalid_expiry: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum ExpireCond {
    Always = 0,
    Nx = 1,
    Xx = 2,
    Gt = 3,
    Lt = 4,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Expire {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(message, optional, tag = "2")]
    pub expiry: Option<Expiry>,
    #[prost(enumeration = "ExpireCond", tag = "3")]
    pub cond: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Rename {
    #[prost(bytes = "bytes", tag = "1")]
    pub src: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub dst: Bytes,
    #[prost(bool, tag = "3")]
    pub nx: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Copy {
    #[prost(bytes = "bytes", tag = "1")]
    pub src: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub dst: Bytes,
    #[prost(bool, tag = "3")]
    pub replace: bool,
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL]: the payload decoded by the
/// node that received it, so that apply only writes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Restore {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    /// None for a TTL of 0 (no expiry).
    #[prost(message, optional, tag = "2")]
    pub expiry: Option<Expiry>,
    #[prost(bool, tag = "3")]
    pub replace: bool,
    #[prost(message, optional, tag = "4")]
    pub value: Option<RestoredValue>,
    /// A TTL or payload that did not parse. Redis answers BUSYKEY before it
    /// looks at either, so without REPLACE such a RESTORE still runs (as a
    /// read) to check the key, then answers this error.
    #[prost(string, optional, tag = "5")]
    pub refused: Option<String>,
    /// IDLETIME: how long the key counts as unused (OBJECT IDLETIME). A node
    /// from before this field ignores it.
    #[prost(uint64, optional, tag = "6")]
    pub idle_secs: Option<u64>,
}

/// A decoded DUMP payload: the type (as [`DataType`]) and its items (the
/// string; list elements head first; set members; hash fields and values
/// alternating; zset members, with `scores` beside them).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RestoredValue {
    #[prost(uint32, tag = "1")]
    pub ty: u32,
    #[prost(bytes = "bytes", repeated, tag = "2")]
    pub items: Vec<Bytes>,
    #[prost(double, repeated, tag = "3")]
    pub scores: Vec<f64>,
}

impl From<rdb::Value> for RestoredValue {
    fn from(v: rdb::Value) -> RestoredValue {
        let (ty, items, scores) = match v {
            rdb::Value::String(s) => (DataType::String, vec![s], vec![]),
            rdb::Value::List(items) => (DataType::List, items, vec![]),
            rdb::Value::Set(items) => (DataType::Set, items, vec![]),
            rdb::Value::Hash(pairs) => (DataType::Hash, pairs.into_iter().flat_map(|(f, v)| [f, v]).collect(), vec![]),
            rdb::Value::ZSet(pairs) => {
                let (members, scores) = pairs.into_iter().unzip();
                (DataType::ZSet, members, scores)
            }
            rdb::Value::Stream(s) => (DataType::Stream, vec![rdb::stream::to_body(&s)], vec![]),
        };
        RestoredValue { ty: ty as u32, items, scores }
    }
}

impl RestoredValue {
    /// The value again (None if the record is malformed, which a node
    /// never proposes).
    pub fn value(&self) -> Option<rdb::Value> {
        let items = self.items.clone();
        Some(match DataType::from_u8(u8::try_from(self.ty).ok()?)? {
            DataType::String => rdb::Value::String(items.into_iter().next()?),
            DataType::List => rdb::Value::List(items),
            DataType::Set => rdb::Value::Set(items),
            DataType::Hash => rdb::Value::Hash(rdb::paired(items).ok()?),
            DataType::ZSet => rdb::Value::ZSet(items.into_iter().zip(self.scores.iter().copied()).collect()),
            DataType::Stream => rdb::Value::Stream(Box::new(rdb::stream::from_body(items.first()?)?)),
        })
    }
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]. The options
/// are read once both keys were looked up, as Redis does.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Lcs {
    #[prost(bytes = "bytes", tag = "1")]
    pub a: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub b: Bytes,
    #[prost(bytes = "bytes", repeated, tag = "3")]
    pub args: Vec<Bytes>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum ObjectField {
    Freq = 0,
    RefCount = 1,
    IdleTime = 2,
}

/// OBJECT FREQ|REFCOUNT|IDLETIME key.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ObjectInfo {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(enumeration = "ObjectField", tag = "2")]
    pub field: i32,
}

/// MEMORY USAGE key [SAMPLES count].
#[derive(Clone, PartialEq, prost::Message)]
pub struct MemoryUsage {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    /// Elements measured to estimate the rest (0: all).
    #[prost(uint64, tag = "2")]
    pub samples: u64,
}

/// SORT / SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...]
/// [ASC|DESC] [ALPHA] [STORE destination].
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sort {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub by: Option<Bytes>,
    #[prost(int64, optional, tag = "3")]
    pub offset: Option<i64>,
    #[prost(int64, optional, tag = "4")]
    pub count: Option<i64>,
    #[prost(bytes = "bytes", repeated, tag = "5")]
    pub get: Vec<Bytes>,
    #[prost(bool, tag = "6")]
    pub desc: bool,
    #[prost(bool, tag = "7")]
    pub alpha: bool,
    #[prost(bytes = "bytes", optional, tag = "8")]
    pub store: Option<Bytes>,
    /// Some BY had no `*`: nothing is sorted, even if a later BY has one
    /// (Redis never clears its flag).
    #[prost(bool, tag = "9")]
    pub no_sort: bool,
    /// Called from a script: a set that BY says not to sort is sorted
    /// ALPHA, as Redis does so that a script sees one order everywhere.
    #[prost(bool, tag = "10")]
    pub in_script: bool,
}

/// GETBIT key offset.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BitOffset {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(uint64, tag = "2")]
    pub offset: u64,
}

/// SETBIT key offset 0|1.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SetBit {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(uint64, tag = "2")]
    pub offset: u64,
    #[prost(bool, tag = "3")]
    pub on: bool,
}

/// BITCOUNT key [start end [BYTE|BIT]] and BITPOS key bit [start [end
/// [BYTE|BIT]]]. The range arguments are read only once the key is found,
/// as Redis 7.0 does: a missing key answers 0 (BITPOS: -1 or 0) whatever
/// they are.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BitRange {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    /// BITPOS: the bit looked for.
    #[prost(bool, tag = "2")]
    pub bit: bool,
    /// The arguments after the key (BITPOS: after the bit), unparsed.
    #[prost(bytes = "bytes", repeated, tag = "3")]
    pub args: Vec<Bytes>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum BitOpKind {
    And = 0,
    Or = 1,
    Xor = 2,
    Not = 3,
}

/// BITOP op destination key [key ...].
#[derive(Clone, PartialEq, prost::Message)]
pub struct BitOp {
    #[prost(enumeration = "BitOpKind", tag = "1")]
    pub op: i32,
    #[prost(bytes = "bytes", tag = "2")]
    pub dst: Bytes,
    #[prost(bytes = "bytes", repeated, tag = "3")]
    pub keys: Vec<Bytes>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum BitFieldKind {
    Get = 0,
    Set = 1,
    IncrBy = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum Overflow {
    Wrap = 0,
    Sat = 1,
    Fail = 2,
}

/// One GET, SET or INCRBY of BITFIELD, with the OVERFLOW in force for it.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct BitFieldOp {
    #[prost(enumeration = "BitFieldKind", tag = "1")]
    pub kind: i32,
    #[prost(bool, tag = "2")]
    pub signed: bool,
    /// 1..=64 signed, 1..=63 unsigned.
    #[prost(uint32, tag = "3")]
    pub bits: u32,
    #[prost(uint64, tag = "4")]
    pub offset: u64,
    /// SET's value or INCRBY's increment.
    #[prost(int64, tag = "5")]
    pub value: i64,
    #[prost(enumeration = "Overflow", tag = "6")]
    pub overflow: i32,
}

/// BITFIELD / BITFIELD_RO key [GET|SET|INCRBY|OVERFLOW ...].
#[derive(Clone, PartialEq, prost::Message)]
pub struct BitField {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(message, repeated, tag = "2")]
    pub ops: Vec<BitFieldOp>,
}

/// Active expiry: delete `key` if it is still the version that was seen
/// expired (same expire-at) and is expired at the entry's stamp.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExpireIfStale {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(uint64, tag = "2")]
    pub expire_at: u64,
}

/// PFMERGE: the registers of every source, and of the destination itself,
/// merged into the destination.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PfMerge {
    #[prost(bytes = "bytes", tag = "1")]
    pub dst: Bytes,
    #[prost(bytes = "bytes", repeated, tag = "2")]
    pub srcs: Vec<Bytes>,
}

/// EVAL and its kin: a Lua script, run where the entry is applied (on every
/// replica alike), with its declared keys and its arguments. FCALL too: then
/// `function` names the function and `body` is its library's code.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Eval {
    #[prost(bytes = "bytes", tag = "1")]
    pub body: Bytes,
    /// EVALSHA's digest, until the connection finds the body in its cache.
    #[prost(string, tag = "2")]
    pub sha: String,
    #[prost(bytes = "bytes", repeated, tag = "3")]
    pub keys: Vec<Bytes>,
    #[prost(bytes = "bytes", repeated, tag = "4")]
    pub args: Vec<Bytes>,
    /// EVAL_RO / EVALSHA_RO, FCALL_RO or a `no-writes` function: the
    /// script may not write.
    #[prost(bool, tag = "5")]
    pub read_only: bool,
    /// FCALL: the function of the library in `body` to call (empty for a
    /// script). Until the connection resolves it, `args` holds FCALL's
    /// arguments from numkeys on and `body` is empty.
    #[prost(string, tag = "6")]
    pub function: String,
    /// The user running it, when ACL rules restrict that user: its name
    /// and rules (as ACL LIST writes them), which every command the script
    /// calls is checked against on each replica. Empty for a user no rule
    /// restricts.
    #[prost(string, tag = "7")]
    pub user: String,
    #[prost(string, tag = "8")]
    pub acl: String,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Cmd {
    // reads
    #[prost(message, tag = "1")]
    Get(Key),
    #[prost(message, tag = "2")]
    MGet(Keys),
    #[prost(message, tag = "3")]
    StrLen(Key),
    #[prost(message, tag = "4")]
    GetRange(GetRange),
    #[prost(message, tag = "5")]
    Exists(Keys),
    #[prost(message, tag = "6")]
    Touch(Keys),
    #[prost(message, tag = "7")]
    Type(Key),
    #[prost(message, tag = "8")]
    Ttl(Ttl),
    #[prost(message, tag = "9")]
    ObjectEncoding(Key),
    #[prost(message, tag = "10")]
    Scan(Scan),
    #[prost(message, tag = "11")]
    Keys(Pattern),
    #[prost(message, tag = "12")]
    RandomKey(Empty),
    #[prost(message, tag = "13")]
    DbSize(Empty),
    #[prost(message, tag = "14")]
    Dump(Key),
    #[prost(message, tag = "15")]
    GetBit(BitOffset),
    #[prost(message, tag = "16")]
    BitCount(BitRange),
    #[prost(message, tag = "17")]
    BitPos(BitRange),
    #[prost(message, tag = "18")]
    Lcs(Lcs),
    #[prost(message, tag = "19")]
    ObjectInfo(ObjectInfo),
    // writes
    #[prost(message, tag = "20")]
    Set(Set),
    #[prost(message, tag = "21")]
    MSet(MSet),
    #[prost(message, tag = "22")]
    Append(KeyValue),
    #[prost(message, tag = "23")]
    SetRange(SetRange),
    #[prost(message, tag = "24")]
    IncrBy(IncrBy),
    #[prost(message, tag = "25")]
    IncrByFloat(IncrByFloat),
    #[prost(message, tag = "26")]
    GetDel(Key),
    #[prost(message, tag = "27")]
    GetEx(GetEx),
    #[prost(message, tag = "28")]
    Del(Keys),
    #[prost(message, tag = "29")]
    Expire(Expire),
    #[prost(message, tag = "30")]
    Persist(Key),
    #[prost(message, tag = "31")]
    Rename(Rename),
    #[prost(message, tag = "32")]
    Copy(Copy),
    #[prost(message, tag = "33")]
    FlushAll(Empty),
    #[prost(message, tag = "34")]
    ExpireIfStale(ExpireIfStale),
    /// A write, unless it only carries a refusal (see [`Restore::refused`]).
    #[prost(message, tag = "35")]
    Restore(Restore),
    #[prost(message, tag = "36")]
    SetBit(SetBit),
    #[prost(message, tag = "37")]
    BitOp(BitOp),
    /// A write when it has a SET or INCRBY, else a read.
    #[prost(message, tag = "38")]
    BitField(BitField),
    /// A write with STORE, else a read.
    #[prost(message, tag = "39")]
    Sort(Sort),
    // hashes, lists, sets, sorted sets
    #[prost(message, tag = "40")]
    HSet(cc::HSet),
    #[prost(message, tag = "41")]
    HGet(cc::KeyField),
    #[prost(message, tag = "42")]
    HMGet(cc::KeyFields),
    #[prost(message, tag = "43")]
    HGetAll(Key),
    #[prost(message, tag = "44")]
    HDel(cc::KeyFields),
    #[prost(message, tag = "45")]
    HLen(Key),
    #[prost(message, tag = "46")]
    HStrLen(cc::KeyField),
    #[prost(message, tag = "47")]
    HExists(cc::KeyField),
    #[prost(message, tag = "48")]
    HKeys(Key),
    #[prost(message, tag = "49")]
    HVals(Key),
    #[prost(message, tag = "50")]
    HIncrBy(cc::HIncrBy),
    #[prost(message, tag = "51")]
    HIncrByFloat(cc::HIncrByFloat),
    #[prost(message, tag = "52")]
    HRandField(cc::RandMembers),
    #[prost(message, tag = "53")]
    HScan(cc::ElemScan),
    #[prost(message, tag = "60")]
    Push(cc::Push),
    #[prost(message, tag = "61")]
    Pop(cc::Pop),
    #[prost(message, tag = "62")]
    LLen(Key),
    #[prost(message, tag = "63")]
    LIndex(cc::KeyIndex),
    #[prost(message, tag = "64")]
    LSet(cc::LSet),
    #[prost(message, tag = "65")]
    LRange(cc::KeyRange),
    #[prost(message, tag = "66")]
    LTrim(cc::KeyRange),
    #[prost(message, tag = "67")]
    LRem(cc::LRem),
    #[prost(message, tag = "68")]
    LInsert(cc::LInsert),
    #[prost(message, tag = "69")]
    LPos(cc::LPos),
    #[prost(message, tag = "70")]
    LMove(cc::LMove),
    #[prost(message, tag = "71")]
    LMPop(cc::MPop),
    #[prost(message, tag = "80")]
    SAdd(cc::KeyMembers),
    #[prost(message, tag = "81")]
    SRem(cc::KeyMembers),
    #[prost(message, tag = "82")]
    SCard(Key),
    #[prost(message, tag = "83")]
    SIsMember(cc::KeyField),
    #[prost(message, tag = "84")]
    SMIsMember(cc::KeyMembers),
    #[prost(message, tag = "85")]
    SMembers(Key),
    #[prost(message, tag = "86")]
    SRandMember(cc::RandMembers),
    #[prost(message, tag = "87")]
    SPop(cc::SPop),
    #[prost(message, tag = "88")]
    SMove(cc::SMove),
    #[prost(message, tag = "89")]
    SetOp(cc::SetOp),
    #[prost(message, tag = "90")]
    SScan(cc::ElemScan),
    #[prost(message, tag = "100")]
    ZAdd(cc::ZAdd),
    #[prost(message, tag = "101")]
    ZRem(cc::KeyMembers),
    #[prost(message, tag = "102")]
    ZCard(Key),
    #[prost(message, tag = "103")]
    ZScore(cc::KeyField),
    #[prost(message, tag = "104")]
    ZMScore(cc::KeyMembers),
    #[prost(message, tag = "105")]
    ZRank(cc::ZRank),
    #[prost(message, tag = "106")]
    ZRange(cc::ZRange),
    #[prost(message, tag = "107")]
    ZPop(cc::ZPop),
    #[prost(message, tag = "108")]
    ZMPop(cc::MPop),
    #[prost(message, tag = "109")]
    ZSetOp(cc::ZSetOp),
    #[prost(message, tag = "110")]
    ZRandMember(cc::RandMembers),
    #[prost(message, tag = "111")]
    ZScan(cc::ElemScan),
    // HyperLogLog
    #[prost(message, tag = "120")]
    PfAdd(cc::KeyMembers),
    /// A write with one key (it may store the count it computes in the
    /// sketch, as Redis does); with several, a read of their union.
    #[prost(message, tag = "121")]
    PfCount(Keys),
    #[prost(message, tag = "122")]
    PfMerge(PfMerge),
    /// Always a write: the script may write (and runs on every replica).
    #[prost(message, tag = "123")]
    Eval(Eval),
    // Streams
    #[prost(message, tag = "130")]
    XAdd(sc::XAdd),
    #[prost(message, tag = "131")]
    XTrim(sc::XTrim),
    #[prost(message, tag = "132")]
    XDel(sc::KeyIds),
    #[prost(message, tag = "133")]
    XLen(Key),
    #[prost(message, tag = "134")]
    XRange(sc::XRange),
    /// XREAD (a read), or XREADGROUP (a write) when it names a group.
    #[prost(message, tag = "135")]
    XRead(sc::XRead),
    #[prost(message, tag = "136")]
    XSetId(sc::XSetId),
    #[prost(message, tag = "137")]
    XGroup(sc::XGroup),
    #[prost(message, tag = "138")]
    XAck(sc::KeyIds),
    #[prost(message, tag = "139")]
    XPending(sc::XPending),
    /// XCLAIM and XAUTOCLAIM (boxed: the largest command by far).
    #[prost(message, boxed, tag = "140")]
    XClaim(Box<sc::XClaim>),
    #[prost(message, tag = "141")]
    XInfo(sc::XInfo),
    // GEO (GEOADD is a ZADD)
    /// GEOPOS, GEOHASH, GEODIST.
    #[prost(message, tag = "150")]
    GeoMembers(gc::GeoMembers),
    /// GEORADIUS, GEORADIUSBYMEMBER, GEOSEARCH (reads), or with a store key
    /// (STORE, STOREDIST, GEOSEARCHSTORE) a write.
    #[prost(message, tag = "151")]
    GeoSearch(gc::GeoSearch),
    #[prost(message, tag = "152")]
    MemoryUsage(MemoryUsage),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Command {
    #[prost(
        oneof = "Cmd",
        tags = "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,60,61,62,63,64,65,66,67,68,69,70,71,80,81,82,83,84,85,86,87,88,89,90,100,101,102,103,104,105,106,107,108,109,110,111,120,121,122,123,130,131,132,133,134,135,136,137,138,139,140,141,150,151,152"
    )]
    pub cmd: Option<Cmd>,
}

impl From<Cmd> for Command {
    fn from(c: Cmd) -> Command {
        Command { cmd: Some(c) }
    }
}

impl Cmd {
    /// Whether the command changes data (and so goes through raft).
    pub fn is_write(&self) -> bool {
        match self {
            Cmd::SetOp(c) => c.store.is_some(),
            Cmd::ZSetOp(c) => c.store.is_some(),
            Cmd::ZRange(c) => c.store.is_some() || c.remove,
            Cmd::Restore(c) => c.refused.is_none(),
            Cmd::BitField(c) => c.ops.iter().any(|o| o.kind != BitFieldKind::Get as i32),
            Cmd::Sort(c) => c.store.is_some(),
            Cmd::PfCount(k) => k.keys.len() == 1,
            Cmd::XRead(c) => !c.group.is_empty() && !c.peek,
            Cmd::GeoSearch(c) => c.store.is_some(),
            _ => !matches!(
                self,
                Cmd::Get(_)
                    | Cmd::MGet(_)
                    | Cmd::StrLen(_)
                    | Cmd::GetRange(_)
                    | Cmd::Exists(_)
                    | Cmd::Touch(_)
                    | Cmd::Type(_)
                    | Cmd::Ttl(_)
                    | Cmd::ObjectEncoding(_)
                    | Cmd::Scan(_)
                    | Cmd::Keys(_)
                    | Cmd::RandomKey(_)
                    | Cmd::DbSize(_)
                    | Cmd::Dump(_)
                    | Cmd::GetBit(_)
                    | Cmd::BitCount(_)
                    | Cmd::BitPos(_)
                    | Cmd::Lcs(_)
                    | Cmd::ObjectInfo(_)
                    | Cmd::HGet(_)
                    | Cmd::HMGet(_)
                    | Cmd::HGetAll(_)
                    | Cmd::HLen(_)
                    | Cmd::HStrLen(_)
                    | Cmd::HExists(_)
                    | Cmd::HKeys(_)
                    | Cmd::HVals(_)
                    | Cmd::HRandField(_)
                    | Cmd::HScan(_)
                    | Cmd::LLen(_)
                    | Cmd::LIndex(_)
                    | Cmd::LRange(_)
                    | Cmd::LPos(_)
                    | Cmd::SCard(_)
                    | Cmd::SIsMember(_)
                    | Cmd::SMIsMember(_)
                    | Cmd::SMembers(_)
                    | Cmd::SRandMember(_)
                    | Cmd::SScan(_)
                    | Cmd::ZCard(_)
                    | Cmd::ZScore(_)
                    | Cmd::ZMScore(_)
                    | Cmd::ZRank(_)
                    | Cmd::ZRandMember(_)
                    | Cmd::ZScan(_)
                    | Cmd::XLen(_)
                    | Cmd::XRange(_)
                    | Cmd::XPending(_)
                    | Cmd::XInfo(_)
                    | Cmd::GeoMembers(_)
                    | Cmd::MemoryUsage(_)
            ),
        }
    }

    /// The first apply version that applies this command (see
    /// [`crate::versions`]).
    pub fn apply_version(&self) -> u32 {
        let long = |v: &Bytes| crate::exec::chunks::is_long(v.len());
        match self {
            // What writes long strings (or grows strings into long ones):
            // their entries keep long values in chunks (exec::chunks), which
            // an older node could not read.
            Cmd::SetBit(_) | Cmd::SetRange(_) | Cmd::Append(_) | Cmd::BitOp(_) | Cmd::BitField(_) => 10,
            Cmd::Set(c) if long(&c.value) => 10,
            Cmd::MSet(c) if c.pairs.iter().any(|p| long(&p.value)) => 10,
            // Every script and function: an older node would run it with
            // writable library tables and setfenv (and, before 7, a
            // restricted user's commands unchecked; before 6, a function's
            // library as a script; before 9, a script's sorted-set writes
            // with version 8's rank counts; before 10, its long strings
            // inline; before 11, its sorted-set writes with version 9's;
            // before 12, its `~` stream trims exact; before 13, redis.log
            // and redis.status_reply unchecked, and SORT of a set BY nosort
            // in its hash order).
            Cmd::Eval(_) => 13,
            // RESTORE may make a sorted set (see below) or a long string.
            Cmd::Restore(_) => 11,
            Cmd::Dump(_)
            | Cmd::GetBit(_)
            | Cmd::BitCount(_)
            | Cmd::BitPos(_)
            | Cmd::Lcs(_)
            | Cmd::ObjectInfo(_)
            | Cmd::Sort(_) => 2,
            // Every write to a sorted set keeps the bounds of its live index
            // and its rank counts (zset_rank.rs), which an older node would
            // leave stale or keep otherwise: 8 kept counts keyed by segment
            // start, 9 keys them by segment end with boundaries at members,
            // 11 with boundaries that stay put.
            Cmd::ZAdd(_) | Cmd::ZPop(_) | Cmd::ZMPop(_) | Cmd::ZRem(_) => 11,
            Cmd::ZRange(r) if r.remove || r.store.is_some() => 11,
            // ZUNIONSTORE takes its inputs by size since 13 (where inf
            // meets -inf, the order decides the score).
            Cmd::ZSetOp(c) if c.store.is_some() && c.op == crate::coll_cmds::SetOpKind::Union as i32 => 13,
            Cmd::ZSetOp(c) if c.store.is_some() => 11,
            Cmd::GeoSearch(c) if c.store.is_some() => 11,
            Cmd::PfAdd(_) | Cmd::PfCount(_) | Cmd::PfMerge(_) => 3,
            // `~` trims whole nodes of entries since 12 (exactly before).
            Cmd::XAdd(c) if c.trim.as_ref().is_some_and(|t| t.approx) => 12,
            Cmd::XTrim(c) if c.trim.as_ref().is_some_and(|t| t.approx) => 12,
            Cmd::XAdd(_)
            | Cmd::XTrim(_)
            | Cmd::XDel(_)
            | Cmd::XLen(_)
            | Cmd::XRange(_)
            | Cmd::XRead(_)
            | Cmd::XSetId(_)
            | Cmd::XGroup(_)
            | Cmd::XAck(_)
            | Cmd::XPending(_)
            | Cmd::XClaim(_)
            | Cmd::XInfo(_) => 4,
            Cmd::GeoMembers(_) | Cmd::GeoSearch(_) | Cmd::MemoryUsage(_) => 5,
            _ => 1,
        }
    }

    /// Keyless commands act on every partition.
    pub fn is_keyless(&self) -> bool {
        matches!(self, Cmd::Scan(_) | Cmd::Keys(_) | Cmd::RandomKey(_) | Cmd::DbSize(_) | Cmd::FlushAll(_))
    }

    /// Keys to which the command may add list or sorted-set elements: the
    /// ones that can wake clients blocked in BLPOP, BZPOPMIN and the like.
    /// (Pops are writes too, but must not wake anyone: a blocked client's own
    /// retry would otherwise wake it again and again.)
    pub fn feeds(&self) -> Vec<&Bytes> {
        match self {
            Cmd::Push(c) => vec![&c.key],
            Cmd::LInsert(c) => vec![&c.key],
            Cmd::LMove(c) => vec![&c.dst],
            Cmd::ZAdd(c) => vec![&c.key],
            Cmd::ZRange(c) => c.store.iter().collect(),
            Cmd::ZSetOp(c) => c.store.iter().collect(),
            Cmd::Rename(c) => vec![&c.dst],
            Cmd::Copy(c) => vec![&c.dst],
            Cmd::Restore(c) => vec![&c.key],
            Cmd::Sort(c) => c.store.iter().collect(),
            Cmd::GeoSearch(c) => c.store.iter().collect(),
            // New entries wake XREAD; a group's creation, reset or removal
            // lets a blocked XREADGROUP see it.
            Cmd::XAdd(c) => vec![&c.key],
            Cmd::XGroup(c) => vec![&c.key],
            // A script may push to any key it declared.
            Cmd::Eval(c) => c.keys.iter().collect(),
            _ => vec![],
        }
    }

    /// The keys the command touches, for routing.
    pub fn keys(&self) -> Vec<&Bytes> {
        match self {
            Cmd::Get(k)
            | Cmd::StrLen(k)
            | Cmd::Type(k)
            | Cmd::ObjectEncoding(k)
            | Cmd::GetDel(k)
            | Cmd::Persist(k)
            | Cmd::Dump(k) => vec![&k.key],
            Cmd::Restore(c) => vec![&c.key],
            Cmd::GetBit(c) => vec![&c.key],
            Cmd::BitCount(c) | Cmd::BitPos(c) => vec![&c.key],
            Cmd::Lcs(c) => vec![&c.a, &c.b],
            Cmd::ObjectInfo(c) => vec![&c.key],
            Cmd::SetBit(c) => vec![&c.key],
            Cmd::BitOp(c) => std::iter::once(&c.dst).chain(c.keys.iter()).collect(),
            Cmd::BitField(c) => vec![&c.key],
            Cmd::Sort(c) => std::iter::once(&c.key).chain(c.store.iter()).collect(),
            Cmd::MGet(k) | Cmd::Exists(k) | Cmd::Touch(k) | Cmd::Del(k) => k.keys.iter().collect(),
            Cmd::GetRange(c) => vec![&c.key],
            Cmd::Ttl(c) => vec![&c.key],
            Cmd::Set(c) => vec![&c.key],
            Cmd::MSet(c) => c.pairs.iter().map(|p| &p.key).collect(),
            Cmd::Append(c) => vec![&c.key],
            Cmd::SetRange(c) => vec![&c.key],
            Cmd::IncrBy(c) => vec![&c.key],
            Cmd::IncrByFloat(c) => vec![&c.key],
            Cmd::GetEx(c) => vec![&c.key],
            Cmd::Expire(c) => vec![&c.key],
            Cmd::Rename(c) => vec![&c.src, &c.dst],
            Cmd::Copy(c) => vec![&c.src, &c.dst],
            Cmd::ExpireIfStale(c) => vec![&c.key],
            Cmd::Scan(_) | Cmd::Keys(_) | Cmd::RandomKey(_) | Cmd::DbSize(_) | Cmd::FlushAll(_) => {
                vec![]
            }
            Cmd::HGetAll(k)
            | Cmd::HLen(k)
            | Cmd::HKeys(k)
            | Cmd::HVals(k)
            | Cmd::LLen(k)
            | Cmd::SCard(k)
            | Cmd::SMembers(k)
            | Cmd::ZCard(k) => vec![&k.key],
            Cmd::HGet(c) | Cmd::HStrLen(c) | Cmd::HExists(c) | Cmd::SIsMember(c) | Cmd::ZScore(c) => vec![&c.key],
            Cmd::HMGet(c) | Cmd::HDel(c) => vec![&c.key],
            Cmd::HSet(c) => vec![&c.key],
            Cmd::HIncrBy(c) => vec![&c.key],
            Cmd::HIncrByFloat(c) => vec![&c.key],
            Cmd::HRandField(c) | Cmd::SRandMember(c) | Cmd::ZRandMember(c) => vec![&c.key],
            Cmd::HScan(c) | Cmd::SScan(c) | Cmd::ZScan(c) => vec![&c.key],
            Cmd::Push(c) => vec![&c.key],
            Cmd::Pop(c) => vec![&c.key],
            Cmd::LIndex(c) => vec![&c.key],
            Cmd::LSet(c) => vec![&c.key],
            Cmd::LRange(c) | Cmd::LTrim(c) => vec![&c.key],
            Cmd::LRem(c) => vec![&c.key],
            Cmd::LInsert(c) => vec![&c.key],
            Cmd::LPos(c) => vec![&c.key],
            Cmd::LMove(c) => vec![&c.src, &c.dst],
            Cmd::LMPop(c) | Cmd::ZMPop(c) => c.keys.iter().collect(),
            Cmd::SAdd(c) | Cmd::SRem(c) | Cmd::SMIsMember(c) | Cmd::ZRem(c) | Cmd::ZMScore(c) => {
                vec![&c.key]
            }
            Cmd::SPop(c) => vec![&c.key],
            Cmd::SMove(c) => vec![&c.src, &c.dst],
            Cmd::SetOp(c) => c.keys.iter().chain(c.store.iter()).collect(),
            Cmd::ZAdd(c) => vec![&c.key],
            Cmd::ZRank(c) => vec![&c.key],
            Cmd::ZRange(c) => std::iter::once(&c.key).chain(c.store.iter()).collect(),
            Cmd::ZPop(c) => vec![&c.key],
            Cmd::ZSetOp(c) => c.keys.iter().chain(c.store.iter()).collect(),
            Cmd::PfAdd(c) => vec![&c.key],
            Cmd::PfCount(k) => k.keys.iter().collect(),
            Cmd::PfMerge(c) => std::iter::once(&c.dst).chain(c.srcs.iter()).collect(),
            Cmd::Eval(c) => c.keys.iter().collect(),
            Cmd::XAdd(c) => vec![&c.key],
            Cmd::XTrim(c) => vec![&c.key],
            Cmd::XDel(c) | Cmd::XAck(c) => vec![&c.key],
            Cmd::XLen(k) => vec![&k.key],
            Cmd::XRange(c) => vec![&c.key],
            Cmd::XRead(c) => c.streams.iter().map(|s| &s.key).collect(),
            Cmd::XSetId(c) => vec![&c.key],
            Cmd::XGroup(c) => vec![&c.key],
            Cmd::XPending(c) => vec![&c.key],
            Cmd::XClaim(c) => vec![&c.key],
            Cmd::XInfo(c) => vec![&c.key],
            Cmd::GeoMembers(c) => vec![&c.key],
            Cmd::MemoryUsage(c) => vec![&c.key],
            Cmd::GeoSearch(c) => std::iter::once(&c.key).chain(c.store.iter()).collect(),
        }
    }
}

/// A WATCHed key: what EXEC checks against.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Watch {
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    /// The applied index at or before the state WATCH looked at.
    #[prost(uint64, tag = "2")]
    pub read_index: u64,
    /// Whether the key existed (and was not expired) then.
    #[prost(bool, tag = "3")]
    pub existed: bool,
}

/// What one raft entry of a partition carries.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Entry {
    /// The proposer's clock (ms); apply uses max(stamp, last applied stamp).
    #[prost(uint64, tag = "1")]
    pub stamp: u64,
    /// Seed for the random choices of this entry's commands.
    #[prost(uint64, tag = "2")]
    pub seed: u64,
    #[prost(message, repeated, tag = "3")]
    pub cmds: Vec<Command>,
    #[prost(message, repeated, tag = "4")]
    pub watches: Vec<Watch>,
    /// MULTI/EXEC: reply with an array (or nil when a watch fired).
    #[prost(bool, tag = "5")]
    pub txn: bool,
    /// The keyspace notifications the proposer publishes ([`crate::notify`]
    /// flags; 0: none, and nothing is collected).
    #[prost(uint32, tag = "6")]
    pub notify: u32,
    /// The node and the client connection (its CLIENT ID there) that sent
    /// the commands; 0 for the node's own (expiries). A tracking client
    /// with NOLOOP hears nothing of its own changes. (Older nodes skip the
    /// fields: nothing they apply depends on them.)
    #[prost(uint64, tag = "7")]
    pub origin_node: u64,
    #[prost(uint64, tag = "8")]
    pub origin_client: u64,
}
