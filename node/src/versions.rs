//! Apply versions, for rolling upgrades.
//!
//! A command's apply version is the first kvnode version whose state
//! machine applies it. A leader proposes a command only when no node
//! holding a replica of its partition is known to run an older version (each
//! node tells its version in the leader announcements it sends every 200
//! ms); otherwise the command is refused with TRYAGAIN, and the client may
//! retry once the upgrade is done. A node that still meets an entry it
//! cannot apply (a node that was down while the others upgraded) stops
//! rather than skip it: replicas must never diverge.

use parking_lot::Mutex;
use std::collections::HashMap;

/// What this build applies: 1 up to the bit commands, SORT ... STORE and
/// RESTORE; 2 with them; 3 with the HyperLogLog commands and scripts; 4
/// with streams; 5 with the GEO searches and lookups; 6 with FCALL; 7 with
/// ACL checks of the commands a restricted user's script calls; 8 with
/// scripts whose library tables are read-only (Redis 7's) and without
/// setfenv, getfenv and newproxy, run in a kept state (exec::sandbox), and
/// sorted sets that keep bounds of their live index and rank counts
/// (exec::zset, exec::zset_rank: every write keeps them, so a node older
/// than 8 must not apply writes to sorted sets a newer one wrote); 9 with
/// those rank counts keyed by the end of their segments (a node at 8 would
/// keep the old ones: every sorted-set write and every script needs 9); 10
/// with long strings kept in chunks (exec::chunks: SETBIT, SETRANGE,
/// APPEND, BITOP, BITFIELD, RESTORE, scripts, and SET or MSET of a long
/// value need 10); 11 with rank counts whose segment boundaries stay put
/// when members' scores change (every sorted-set write and every script
/// needs 11: a node at 10 would keep the counts by version 9's rules); 12
/// with `~` stream trimming that removes whole nodes of 100 entries, as
/// Redis (XADD and XTRIM with `~`, and every script, need 12: a node at 11
/// trims exactly); 13 with scripts whose redis.log and redis.status_reply
/// check their arguments and whose SORT of a set BY nosort sorts it ALPHA,
/// and ZUNIONSTORE taking its inputs by size, as Redis (every script and
/// ZUNIONSTORE need 13: a node at 12 could stop a script elsewhere, or
/// store another score where inf meets -inf).
pub const APPLY_VERSION: u32 = 13;

/// This node's apply version. `KVNODE_APPLY_VERSION` lowers it, so that a
/// test can run a node that behaves as an older one.
pub fn own() -> u32 {
    static OWN: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *OWN.get_or_init(|| {
        std::env::var("KVNODE_APPLY_VERSION")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|v| *v >= 1 && *v <= APPLY_VERSION)
            .unwrap_or(APPLY_VERSION)
    })
}

/// The apply versions other nodes announced (latest heard).
#[derive(Default)]
pub struct PeerVersions(Mutex<HashMap<u64, u32>>);

impl PeerVersions {
    /// Notes `node`'s announced version (0: a node from before versions
    /// were announced, which applies version 1).
    pub fn note(&self, node: u64, version: u32) {
        self.0.lock().insert(node, version.max(1));
    }

    /// Every node heard from, with its version, by node id.
    pub fn all(&self) -> Vec<(u64, u32)> {
        let mut v: Vec<(u64, u32)> = self.0.lock().iter().map(|(n, v)| (*n, *v)).collect();
        v.sort_unstable();
        v
    }

    /// Whether any node heard from applies less than `needed`.
    pub fn any_older(&self, needed: u32) -> bool {
        self.0.lock().values().any(|v| *v < needed)
    }

    /// A node among `nodes` known to apply less than `needed`, with its version.
    pub fn older_than(&self, nodes: &[u64], needed: u32) -> Option<(u64, u32)> {
        let known = self.0.lock();
        nodes.iter().find_map(|n| known.get(n).filter(|v| **v < needed).map(|v| (*n, *v)))
    }
}
