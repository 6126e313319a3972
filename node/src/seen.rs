//! Which nodes have sent this data directory raft messages, kept durably.
//!
//! A replica's votes and acknowledgements live in its node's data directory.
//! A node whose directory was wiped and that starts again with `--bootstrap`
//! would recreate its initial replicas under their old ids, having forgotten
//! what they voted for and acknowledged: a second vote in a term, or an
//! acknowledged entry that a quorum no longer holds. Its peers can tell it
//! apart from a node that never ran: every vote or acknowledgement it ever
//! gave went to a peer, and a peer records the sender here (synced) before
//! stepping the first raft message it got from it. A bootstrapping node asks
//! every other node first, waiting for those that are down
//! ([`crate::node::Node::open`]), and creates
//! nothing if one of them has heard from it.

use crate::state::{seen_node_key, seen_node_prefix};
use crate::store::{Cf, KvRead, Store, StoreError};
use parking_lot::Mutex;
use std::collections::HashSet;
use std::sync::Arc;

pub struct SeenNodes {
    store: Arc<Store>,
    /// Held across a recording write: the first message of a peer waits for
    /// it, later ones only take the uncontended lock.
    seen: Mutex<HashSet<u64>>,
}

impl SeenNodes {
    pub fn load(store: Arc<Store>) -> SeenNodes {
        let mut seen = HashSet::new();
        let prefix = seen_node_prefix();
        store.scan(Cf::State, prefix, &crate::keys::prefix_end(prefix), &mut |k, _| {
            if let Ok(id) = <[u8; 8]>::try_from(&k[prefix.len()..]) {
                seen.insert(u64::from_be_bytes(id));
            }
            true
        });
        SeenNodes { store, seen: Mutex::new(seen) }
    }

    /// True when `node` has sent this data directory raft messages.
    pub fn contains(&self, node: u64) -> bool {
        self.seen.lock().contains(&node)
    }

    /// Records durably that `node` sent raft messages; call before stepping
    /// them. Once recorded, a lookup under a lock.
    pub fn note(&self, node: u64) -> Result<(), StoreError> {
        let mut seen = self.seen.lock();
        if seen.contains(&node) {
            return Ok(());
        }
        let mut b = self.store.new_batch();
        self.store.batch_put(&mut b, Cf::State, &seen_node_key(node), b"");
        self.store.write(b, true)?;
        seen.insert(node);
        Ok(())
    }
}
