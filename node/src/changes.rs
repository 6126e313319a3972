//! The keys applied entries changed, for client-side caching (CLIENT
//! TRACKING): every write that counts as a change of a key for WATCH (its
//! mod index moves, or it goes away) names the key, after its batch is
//! committed to RocksDB, so that a client told of the change and reading
//! again reads the new value. Flushes, installed snapshots and replicas
//! leaving this node change everything at once.
//!
//! Keys are gathered always and handed over only while someone listens:
//! deciding at commit time (not when the entry is applied) leaves no gap in
//! which a client that just began tracking a key misses its change.

use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// A change, in the order the batch made them.
pub enum Changed {
    /// The changes up to the next `Origin` come from a command of this
    /// client connection of node `node` (CLIENT TRACKING NOLOOP); `node` 0:
    /// from the node itself (expiries). `script`: through a script it ran
    /// (Redis counts those as the caller's own in its tracking table, but
    /// not for BCAST, where a script's fake client made them).
    Origin {
        node: u64,
        client: u64,
        script: bool,
    },
    Key(Bytes),
    /// Any key may have changed (FLUSHALL, an installed snapshot, a replica
    /// gone from this node).
    All,
}

pub type Sink = Box<dyn Fn(Vec<Changed>) + Send + Sync>;

#[derive(Default)]
pub struct Changes {
    listening: AtomicBool,
    sink: OnceLock<Sink>,
}

impl Changes {
    /// Where changes go (the front end's tracking table); set once.
    pub fn set_sink(&self, sink: Sink) {
        let _ = self.sink.set(sink);
    }

    /// Whether changes are handed over (some client tracks keys).
    pub fn listen(&self, on: bool) {
        self.listening.store(on, Ordering::SeqCst);
    }

    pub(crate) fn deliver(&self, changed: Vec<Changed>) {
        if self.listening.load(Ordering::SeqCst) {
            if let Some(sink) = self.sink.get() {
                sink(changed);
            }
        }
    }
}
