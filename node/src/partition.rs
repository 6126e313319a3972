//! Namespaces and their partitions as the node serves them.
//!
//! A namespace with P partitions gives partition i the slots
//! `[i*16384/P, (i+1)*16384/P)`; each partition is one raft group.

use crate::keys::SLOTS;
use kvraft::GroupShared;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// What the state machine publishes about a partition for readers.
#[derive(Default)]
pub struct PartitionShared {
    /// The largest stamp applied: reads judge expiry against
    /// max(local clock, this), the same clock apply uses.
    pub last_stamp: AtomicU64,
    /// The group's leader as last announced by it (for partitions without
    /// a replica on this node), and how far followers may compact.
    pub announced: Mutex<Option<Announced>>,
}

#[derive(Clone, Debug, Default)]
pub struct Announced {
    pub term: u64,
    pub leader: u64,
    pub nodes: Vec<u64>,
    pub compact_to: u64,
}

pub struct Partition {
    pub ns: u32,
    pub index: u32,
    pub group: u64,
    /// Slots `[lo, hi)`.
    pub slots: (u32, u32),
    /// This node's replica of the group; `None` when it holds none. It
    /// changes when a replica is added to this node or removed from it.
    replica: RwLock<Option<Arc<GroupShared>>>,
    pub shared: Arc<PartitionShared>,
    /// Serializes this node's membership work on the partition: changes it
    /// decides as leader, creating and destroying its replica here.
    pub admin: tokio::sync::Mutex<()>,
}

impl Partition {
    pub fn new(ns: u32, index: u32, n: u32, replica: Option<Arc<GroupShared>>, shared: Arc<PartitionShared>) -> Self {
        Partition {
            ns,
            index,
            group: group_id(ns, index),
            slots: slot_range(index, n),
            replica: RwLock::new(replica),
            shared,
            admin: tokio::sync::Mutex::new(()),
        }
    }

    /// This node's replica of the partition, if it holds one.
    pub fn replica(&self) -> Option<Arc<GroupShared>> {
        self.replica.read().clone()
    }

    pub fn has_replica(&self) -> bool {
        self.replica.read().is_some()
    }

    pub fn set_replica(&self, g: Option<Arc<GroupShared>>) {
        *self.replica.write() = g;
    }

    /// True when this node leads the partition.
    pub fn led_here(&self) -> bool {
        self.replica.read().as_ref().is_some_and(|g| g.is_leader())
    }

    /// See [`GroupShared::sole_voter_ready`].
    pub fn sole_voter_ready(&self) -> bool {
        self.replica.read().as_ref().is_some_and(|g| g.sole_voter_ready())
    }

    /// The leader's node id as this node knows it (its replica's view, or
    /// the leader's last announcement).
    pub fn leader_node(&self) -> Option<u64> {
        match self.replica() {
            Some(g) => g.leader_node(),
            None => self.shared.announced.lock().as_ref().map(|a| a.leader),
        }
    }

    pub fn contains_slot(&self, slot: u16) -> bool {
        (slot as u32) >= self.slots.0 && (slot as u32) < self.slots.1
    }
}

pub struct Namespace {
    pub id: u32,
    pub name: String,
    pub partitions: Vec<Arc<Partition>>,
}

impl Namespace {
    /// The partition serving `slot`.
    pub fn partition_of_slot(&self, slot: u16) -> &Arc<Partition> {
        let n = self.partitions.len() as u32;
        // The inverse of lo(i) = i*SLOTS/n, corrected for rounding.
        let mut i = ((slot as u32 * n) / SLOTS as u32).min(n - 1) as usize;
        while !self.partitions[i].contains_slot(slot) {
            if (slot as u32) < self.partitions[i].slots.0 {
                i -= 1;
            } else {
                i += 1;
            }
        }
        &self.partitions[i]
    }

    pub fn partition_of_key(&self, key: &[u8]) -> &Arc<Partition> {
        self.partition_of_slot(crate::keys::slot(key))
    }
}

/// The slot range of partition `i` of `n`.
pub fn slot_range(i: u32, n: u32) -> (u32, u32) {
    (i * SLOTS as u32 / n, (i + 1) * SLOTS as u32 / n)
}

/// Group id of partition `index` of namespace `ns`.
pub fn group_id(ns: u32, index: u32) -> u64 {
    (ns as u64) << 32 | index as u64
}

/// Partition shared state by group id, for the state machine.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<RwLock<HashMap<u64, Arc<PartitionShared>>>>,
}

impl Registry {
    pub fn insert(&self, group: u64, p: Arc<PartitionShared>) {
        self.inner.write().insert(group, p);
    }
    pub fn get(&self, group: u64) -> Option<Arc<PartitionShared>> {
        self.inner.read().get(&group).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_ranges_cover_everything_once() {
        for n in [1u32, 3, 7, 8, 100] {
            let mut next = 0;
            for i in 0..n {
                let (lo, hi) = slot_range(i, n);
                assert_eq!(lo, next);
                next = hi;
            }
            assert_eq!(next, SLOTS as u32);
        }
    }
}
