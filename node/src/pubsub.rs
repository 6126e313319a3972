//! Publish/subscribe: the channels and patterns the connections of this
//! node listen to, and delivery to them.
//!
//! Messages are not stored: a PUBLISH reaches the subscribers connected at
//! that moment, on this node and (sent over the node-to-node transport) on
//! every other node of the cluster, as Redis Cluster broadcasts it. Its count
//! is the receivers on the node that took it, as in Redis Cluster.

use crate::glob;
use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// A message for one subscriber: `pattern` is the subscription it matched
/// (None for a channel subscription).
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub pattern: Option<Bytes>,
    pub channel: Bytes,
    pub message: Bytes,
}

type Subscribers = HashMap<u64, UnboundedSender<Delivery>>;

#[derive(Default)]
struct Subscriptions {
    channels: HashMap<Bytes, Subscribers>,
    patterns: HashMap<Bytes, Subscribers>,
}

#[derive(Default)]
pub struct Hub {
    subs: Mutex<Subscriptions>,
    next_id: AtomicU64,
}

impl Hub {
    /// A new subscriber and the receiving end of its deliveries.
    pub fn subscriber(self: &Arc<Self>) -> (Subscriber, UnboundedReceiver<Delivery>) {
        let (tx, rx) = unbounded_channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let s = Subscriber { id, tx, hub: self.clone(), channels: BTreeSet::new(), patterns: Vec::new() };
        (s, rx)
    }

    /// Delivers to the subscribers of this node: those of the channel, then
    /// those of every pattern it matches. Returns how many received it.
    pub fn publish(&self, channel: &Bytes, message: &Bytes) -> usize {
        let subs = self.subs.lock();
        let mut n = 0;
        let deliver = |to: &Subscribers, pattern: Option<&Bytes>| {
            let d = Delivery { pattern: pattern.cloned(), channel: channel.clone(), message: message.clone() };
            to.values().filter(|tx| tx.send(d.clone()).is_ok()).count()
        };
        if let Some(to) = subs.channels.get(channel) {
            n += deliver(to, None);
        }
        for (p, to) in &subs.patterns {
            if glob::matches(p, channel) {
                n += deliver(to, Some(p));
            }
        }
        n
    }

    /// PUBSUB CHANNELS: the channels with a subscriber here (matching `pattern`).
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let subs = self.subs.lock();
        subs.channels.keys().filter(|c| pattern.is_none_or(|p| glob::matches(p, c))).cloned().collect()
    }

    /// PUBSUB NUMSUB: the subscribers of `channel` here.
    pub fn numsub(&self, channel: &[u8]) -> usize {
        self.subs.lock().channels.get(channel).map_or(0, HashMap::len)
    }

    /// PUBSUB NUMPAT: the distinct patterns subscribed to here.
    pub fn numpat(&self) -> usize {
        self.subs.lock().patterns.len()
    }

    fn add(&self, patterns: bool, name: &Bytes, id: u64, tx: &UnboundedSender<Delivery>) {
        let mut subs = self.subs.lock();
        let map = if patterns { &mut subs.patterns } else { &mut subs.channels };
        map.entry(name.clone()).or_default().insert(id, tx.clone());
    }

    fn remove(&self, patterns: bool, name: &Bytes, id: u64) {
        let mut subs = self.subs.lock();
        let map = if patterns { &mut subs.patterns } else { &mut subs.channels };
        if let Some(s) = map.get_mut(name) {
            s.remove(&id);
            if s.is_empty() {
                map.remove(name);
            }
        }
    }
}

/// One connection's subscriptions; dropping it unsubscribes from all.
pub struct Subscriber {
    id: u64,
    tx: UnboundedSender<Delivery>,
    hub: Arc<Hub>,
    channels: BTreeSet<Bytes>,
    /// In the order subscribed: PUNSUBSCRIBE without names leaves them in
    /// that order, as Redis (a list there; its channels are a hash table).
    patterns: Vec<Bytes>,
}

impl Subscriber {
    /// Subscribes to a channel (`pattern` false) or a pattern; false if it
    /// already was.
    pub fn add(&mut self, pattern: bool, name: &Bytes) -> bool {
        let new = if pattern {
            !self.patterns.contains(name) && {
                self.patterns.push(name.clone());
                true
            }
        } else {
            self.channels.insert(name.clone())
        };
        if new {
            self.hub.add(pattern, name, self.id, &self.tx);
        }
        new
    }

    /// Unsubscribes; false if it was not subscribed.
    pub fn remove(&mut self, pattern: bool, name: &Bytes) -> bool {
        let was = if pattern {
            let before = self.patterns.len();
            self.patterns.retain(|p| p != name);
            self.patterns.len() < before
        } else {
            self.channels.remove(name)
        };
        if was {
            self.hub.remove(pattern, name, self.id);
        }
        was
    }

    /// The channels (or patterns) subscribed to.
    pub fn names(&self, pattern: bool) -> Vec<Bytes> {
        if pattern {
            self.patterns.clone()
        } else {
            self.channels.iter().cloned().collect()
        }
    }

    /// Channels and patterns: the count SUBSCRIBE and UNSUBSCRIBE answer.
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    pub fn counts(&self) -> (usize, usize) {
        (self.channels.len(), self.patterns.len())
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        for c in std::mem::take(&mut self.channels) {
            self.hub.remove(false, &c, self.id);
        }
        for p in std::mem::take(&mut self.patterns) {
            self.hub.remove(true, &p, self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn channels_and_patterns_receive_and_leave() {
        let hub = Arc::new(Hub::default());
        let (mut a, mut ra) = hub.subscriber();
        let (mut p, mut rp) = hub.subscriber();
        assert!(a.add(false, &b("news")));
        assert!(!a.add(false, &b("news")));
        assert!(p.add(true, &b("n*")));
        assert_eq!(hub.publish(&b("news"), &b("hi")), 2);
        assert_eq!(ra.try_recv().unwrap(), Delivery { pattern: None, channel: b("news"), message: b("hi") });
        assert_eq!(rp.try_recv().unwrap().pattern, Some(b("n*")));
        assert_eq!(hub.publish(&b("other"), &b("x")), 0);
        assert_eq!((hub.numsub(b"news"), hub.numpat(), hub.channels(Some(b"ne*"))), (1, 1, vec![b("news")]));
        drop(a);
        assert_eq!(hub.numsub(b"news"), 0);
        assert!(p.remove(true, &b("n*")));
        assert_eq!(hub.publish(&b("news"), &b("hi")), 0);
    }
}
