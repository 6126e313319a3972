//! Clients blocked in BLPOP, BZPOPMIN and the like wait here, per key, in
//! arrival order. The state machine signals the keys that applied writes
//! touched, after they are committed; the first waiter of a key then retries
//! its pop (an ordinary write through raft). If it got something it passes
//! the turn to the next waiter, who may find more; if not, it keeps its place.
//! Signals come from applies on this node, whichever node proposed the push.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

type WaitKey = (u32, Bytes);
/// A blocked client: its id and what wakes it.
type Waiter = (u64, Arc<Notify>);

#[derive(Default)]
pub struct KeyWaiters {
    /// Per key, its waiters (id, wake-up) in arrival order.
    queues: Mutex<HashMap<WaitKey, VecDeque<Waiter>>>,
    next_id: AtomicUsize,
    /// How many waiters there are (apply skips all of this when 0).
    active: AtomicUsize,
}

/// One blocked client's place in the queues of its keys.
pub struct Registration {
    owner: Arc<KeyWaiters>,
    id: u64,
    keys: Vec<WaitKey>,
    pub notify: Arc<Notify>,
}

impl KeyWaiters {
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Acquire) > 0
    }

    /// Clients blocked right now.
    pub fn count(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Queues a waiter on `keys`.
    pub fn register(self: &Arc<Self>, ns: u32, keys: &[Bytes]) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) as u64;
        let notify = Arc::new(Notify::new());
        let keys: Vec<WaitKey> = keys.iter().map(|k| (ns, k.clone())).collect();
        let mut q = self.queues.lock();
        for k in &keys {
            q.entry(k.clone()).or_default().push_back((id, notify.clone()));
        }
        self.active.fetch_add(1, Ordering::AcqRel);
        Registration { owner: self.clone(), id, keys, notify }
    }

    /// Wakes the first waiter of each key (called after the writes are visible).
    pub fn signal(&self, keys: impl IntoIterator<Item = WaitKey>) {
        let q = self.queues.lock();
        for k in keys {
            if let Some((_, n)) = q.get(&k).and_then(|w| w.front()) {
                n.notify_one();
            }
        }
    }
}

impl Registration {
    /// Gives the turn to the next waiter of each key (after a successful pop,
    /// or when leaving).
    pub fn pass_turn(&self) {
        let q = self.owner.queues.lock();
        for k in &self.keys {
            if let Some(w) = q.get(k) {
                if let Some((_, n)) = w.iter().find(|(id, _)| *id != self.id) {
                    n.notify_one();
                }
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut q = self.owner.queues.lock();
        for k in &self.keys {
            if let Some(w) = q.get_mut(k) {
                w.retain(|(id, _)| *id != self.id);
                if w.is_empty() {
                    q.remove(k);
                }
            }
        }
        self.owner.active.fetch_sub(1, Ordering::AcqRel);
    }
}
