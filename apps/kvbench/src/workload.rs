//! Workloads: what each request does, independent of the wire protocol.
//! A `Generator` (one per client) plans requests; with --verify it also
//! remembers what its client wrote, so each planned read carries the reply
//! it must get.

use std::collections::HashMap;

use clap::ValueEnum;
use rand::Rng;
use serde::Serialize;

use crate::keys::KeyChooser;
use crate::value::{ValId, ValueSize};

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadKind {
    /// SET key:N value
    Set,
    /// GET key:N
    Get,
    /// GET or SET of key:N, --read-ratio of them reads
    Mixed,
    /// INCR counter:N
    Incr,
    /// HSET hash:N f value
    Hset,
    /// HGET hash:N f
    Hget,
    /// LPUSH list:N value
    Lpush,
    /// LPOP list:N
    Lpop,
    /// SADD set:N member
    Sadd,
    /// ZADD zset:N score member
    Zadd,
    /// ZRANGE zset:N 0 9 WITHSCORES
    Zrange,
    /// MSET of --batch-keys keys {batch:N}:0..
    Mset,
    /// MGET of --batch-keys keys {batch:N}:0..
    Mget,
    /// MULTI, SET {tx:N}:v value, INCR {tx:N}:n, EXEC
    Multi,
    /// XADD stream:N MAXLEN ~ 1000 * f value (a capped stream, as queues
    /// and event logs use them)
    Xadd,
}

impl WorkloadKind {
    pub fn etcd_supported(self) -> bool {
        matches!(self, WorkloadKind::Set | WorkloadKind::Get | WorkloadKind::Mixed)
    }
}

/// The key families; a key is its family's prefix and a zero-padded index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    String,
    Counter,
    Hash,
    List,
    Set,
    Zset,
    Batch,
    Tx,
    Stream,
}

impl Family {
    fn prefix(self) -> &'static str {
        match self {
            Family::String => "key",
            Family::Counter => "counter",
            Family::Hash => "hash",
            Family::List => "list",
            Family::Set => "set",
            Family::Zset => "zset",
            Family::Batch => "batch",
            Family::Tx => "tx",
            Family::Stream => "stream",
        }
    }
}

/// One key: family and index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub family: Family,
    pub index: u64,
}

impl Key {
    /// `key:000000000042`; `sub` appends `:<sub>` under a hash tag
    /// (`{batch:000000000042}:3`) so the keys of one MSET share a slot.
    pub fn name(&self, sub: Option<&str>) -> Vec<u8> {
        match sub {
            None => format!("{}:{:012}", self.family.prefix(), self.index).into_bytes(),
            Some(s) => format!("{{{}:{:012}}}:{}", self.family.prefix(), self.index, s).into_bytes(),
        }
    }
}

/// One request.
#[derive(Clone, Debug)]
pub enum Op {
    Set {
        key: Key,
        val: ValId,
    },
    Get {
        key: Key,
    },
    Incr {
        key: Key,
    },
    HSet {
        key: Key,
        val: ValId,
    },
    HGet {
        key: Key,
    },
    LPush {
        key: Key,
        val: ValId,
    },
    LPop {
        key: Key,
    },
    SAdd {
        key: Key,
        member: u64,
    },
    ZAdd {
        key: Key,
        score: u64,
        member: u64,
    },
    ZRange {
        key: Key,
    },
    XAdd {
        key: Key,
        val: ValId,
    },
    /// `n` keys, value `sub` of key `sub` is `val` with `sub` set.
    MSet {
        key: Key,
        val: ValId,
        n: u16,
    },
    MGet {
        key: Key,
        n: u16,
    },
    /// SET {tx:N}:v val and INCR {tx:N}:n in one transaction.
    Multi {
        key: Key,
        val: ValId,
    },
}

impl Op {
    pub fn key(&self) -> Key {
        match self {
            Op::Set { key, .. }
            | Op::Get { key }
            | Op::Incr { key }
            | Op::HSet { key, .. }
            | Op::HGet { key }
            | Op::LPush { key, .. }
            | Op::LPop { key }
            | Op::SAdd { key, .. }
            | Op::ZAdd { key, .. }
            | Op::ZRange { key }
            | Op::XAdd { key, .. }
            | Op::MSet { key, .. }
            | Op::MGet { key, .. }
            | Op::Multi { key, .. } => *key,
        }
    }

    /// The name that decides the slot (every key of a multi-key op shares its tag).
    pub fn routing_key(&self) -> Vec<u8> {
        match self {
            Op::MSet { .. } | Op::MGet { .. } => self.key().name(Some("0")),
            Op::Multi { .. } => self.key().name(Some("v")),
            _ => self.key().name(None),
        }
    }

    /// Whether the op changes data (its outcome is unknown if its reply is lost).
    pub fn writes(&self) -> bool {
        !matches!(self, Op::Get { .. } | Op::HGet { .. } | Op::ZRange { .. } | Op::MGet { .. })
    }
}

/// What a reply must be, when this run knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Nothing checkable (not verifying, or a key this run never wrote).
    Unchecked,
    /// Exactly this value.
    Value(ValId),
    /// MGET: value `sub` of `val` for every sub-key.
    Values(ValId, u16),
    /// INCR: the `nth` (0-based) increment of `key` by this client in this
    /// run; its reply is the first one's reply plus `nth`.
    Counter { key: Key, nth: u64 },
}

/// An op and the reply it must get.
#[derive(Clone, Debug)]
pub struct Planned {
    pub op: Op,
    pub expect: Expect,
}

/// What this client has sent, per key, in send order (so also in the order
/// a server applies one connection's requests).
#[derive(Default)]
struct Model {
    last_write: HashMap<Key, ValId>,
    increments: HashMap<Key, u64>,
}

/// Plans one client's requests.
pub struct Generator {
    kind: WorkloadKind,
    read_ratio: f64,
    keys: KeyChooser,
    size: ValueSize,
    batch: u16,
    client: u32,
    seq: u64,
    model: Option<Model>,
}

impl Generator {
    pub fn new(
        kind: WorkloadKind,
        read_ratio: f64,
        keys: KeyChooser,
        size: ValueSize,
        batch: u16,
        client: u32,
        verify: bool,
    ) -> Generator {
        Generator { kind, read_ratio, keys, size, batch, client, seq: 0, model: verify.then(Model::default) }
    }

    fn value(&mut self) -> ValId {
        self.seq += 1;
        let len = self.size.pick(self.keys.rng());
        ValId { client: self.client, seq: self.seq, sub: 0, len }
    }

    #[allow(clippy::should_implement_trait)] // endless: an Iterator's Option would only get in the way
    pub fn next(&mut self) -> Planned {
        let index = self.keys.next();
        let key = |family| Key { family, index };
        let op = match self.kind {
            WorkloadKind::Set => Op::Set { key: key(Family::String), val: self.value() },
            WorkloadKind::Get => Op::Get { key: key(Family::String) },
            WorkloadKind::Mixed => {
                if self.keys.rng().gen_bool(self.read_ratio) {
                    Op::Get { key: key(Family::String) }
                } else {
                    Op::Set { key: key(Family::String), val: self.value() }
                }
            }
            WorkloadKind::Incr => Op::Incr { key: key(Family::Counter) },
            WorkloadKind::Hset => Op::HSet { key: key(Family::Hash), val: self.value() },
            WorkloadKind::Hget => Op::HGet { key: key(Family::Hash) },
            WorkloadKind::Lpush => Op::LPush { key: key(Family::List), val: self.value() },
            WorkloadKind::Lpop => Op::LPop { key: key(Family::List) },
            WorkloadKind::Sadd => Op::SAdd { key: key(Family::Set), member: self.keys.rng().gen_range(0..1_000_000) },
            WorkloadKind::Zadd => {
                let (score, member) =
                    (self.keys.rng().gen_range(0..1_000_000), self.keys.rng().gen_range(0..1_000_000));
                Op::ZAdd { key: key(Family::Zset), score, member }
            }
            WorkloadKind::Zrange => Op::ZRange { key: key(Family::Zset) },
            WorkloadKind::Mset => Op::MSet { key: key(Family::Batch), val: self.value(), n: self.batch },
            WorkloadKind::Mget => Op::MGet { key: key(Family::Batch), n: self.batch },
            WorkloadKind::Multi => Op::Multi { key: key(Family::Tx), val: self.value() },
            WorkloadKind::Xadd => Op::XAdd { key: key(Family::Stream), val: self.value() },
        };
        let expect = self.model.as_mut().map_or(Expect::Unchecked, |m| m.plan(&op));
        Planned { op, expect }
    }

    /// The reply to this write was lost: its key's state is unknown from now on.
    pub fn forget(&mut self, op: &Op) {
        if let Some(m) = &mut self.model {
            m.last_write.remove(&op.key());
            m.increments.remove(&op.key());
        }
    }
}

impl Model {
    fn plan(&mut self, op: &Op) -> Expect {
        let counter = |m: &mut Model, key: Key| {
            let n = m.increments.entry(key).or_insert(0);
            *n += 1;
            Expect::Counter { key, nth: *n - 1 }
        };
        match op {
            Op::Set { key, val } | Op::HSet { key, val } | Op::MSet { key, val, .. } => {
                self.last_write.insert(*key, *val);
                Expect::Unchecked
            }
            Op::Get { key } | Op::HGet { key } => match self.last_write.get(key) {
                Some(v) => Expect::Value(*v),
                None => Expect::Unchecked,
            },
            Op::MGet { key, n } => match self.last_write.get(key) {
                Some(v) => Expect::Values(*v, *n),
                None => Expect::Unchecked,
            },
            Op::Incr { key } => counter(self, *key),
            Op::Multi { key, .. } => counter(self, *key),
            Op::LPush { .. }
            | Op::LPop { .. }
            | Op::SAdd { .. }
            | Op::ZAdd { .. }
            | Op::ZRange { .. }
            | Op::XAdd { .. } => Expect::Unchecked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::DistKind;

    fn generator(kind: WorkloadKind, verify: bool) -> Generator {
        let keys = KeyChooser::new(DistKind::Uniform, 0.99, 4, Some((1, 2)), 9);
        Generator::new(kind, 0.5, keys, ValueSize { min: 32, max: 32 }, 3, 1, verify)
    }

    #[test]
    fn reads_expect_the_last_write_sent() {
        let mut g = generator(WorkloadKind::Mixed, true);
        let mut last: HashMap<u64, ValId> = HashMap::new();
        let mut checked = 0;
        for _ in 0..200 {
            let p = g.next();
            match (&p.op, &p.expect) {
                (Op::Set { key, val }, Expect::Unchecked) => {
                    last.insert(key.index, *val);
                }
                (Op::Get { key }, Expect::Value(v)) => {
                    assert_eq!(last.get(&key.index), Some(v));
                    checked += 1;
                }
                (Op::Get { key }, Expect::Unchecked) => assert!(!last.contains_key(&key.index)),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(checked > 50);
    }

    #[test]
    fn counters_number_their_increments() {
        let mut g = generator(WorkloadKind::Incr, true);
        let mut seen: HashMap<u64, u64> = HashMap::new();
        for _ in 0..50 {
            let p = g.next();
            let Expect::Counter { key, nth } = p.expect else { panic!("{p:?}") };
            let n = seen.entry(key.index).or_insert(0);
            assert_eq!(nth, *n);
            *n += 1;
        }
        g.forget(&Op::Incr { key: Key { family: Family::Counter, index: 1 } });
        g.forget(&Op::Incr { key: Key { family: Family::Counter, index: 3 } });
        let p = g.next();
        assert!(matches!(p.expect, Expect::Counter { nth: 0, .. }), "{p:?}");
    }

    #[test]
    fn without_verify_nothing_is_expected() {
        let mut g = generator(WorkloadKind::Mixed, false);
        assert!((0..100).all(|_| g.next().expect == Expect::Unchecked));
    }

    #[test]
    fn multi_key_ops_share_one_slot() {
        let key = Key { family: Family::Batch, index: 42 };
        assert_eq!(key.name(Some("3")), b"{batch:000000000042}:3");
        assert_eq!(meta::slot::slot(&key.name(Some("0"))), meta::slot::slot(&key.name(Some("9"))));
        assert_eq!(key.name(None), b"batch:000000000042");
    }
}
