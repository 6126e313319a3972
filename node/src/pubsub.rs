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

/// What a subscription names: a channel, a pattern of channels, or a shard
/// channel (Redis 7's sharded pub/sub: SSUBSCRIBE, SPUBLISH; a namespace
/// of its own, which patterns do not match).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

/// A message for one subscriber: `pattern` is the subscription it matched
/// (None for a channel subscription); `shard` for SPUBLISH's.
#[derive(Clone, Debug, PartialEq)]
pub struct Delivery {
    pub pattern: Option<Bytes>,
    pub shard: bool,
    pub channel: Bytes,
    pub message: Bytes,
}

type Subscribers = HashMap<u64, UnboundedSender<Delivery>>;

#[derive(Default)]
struct Subscriptions {
    channels: HashMap<Bytes, Subscribers>,
    patterns: HashMap<Bytes, Subscribers>,
    shard: HashMap<Bytes, Subscribers>,
}

impl Subscriptions {
    fn of(&mut self, kind: Kind) -> &mut HashMap<Bytes, Subscribers> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }
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
        let s = Subscriber {
            id,
            tx,
            hub: self.clone(),
            channels: BTreeSet::new(),
            patterns: Vec::new(),
            shard: BTreeSet::new(),
        };
        (s, rx)
    }

    /// Delivers to the subscribers of this node: PUBLISH to those of the
    /// channel, then those of every pattern it matches; SPUBLISH (`shard`)
    /// to those of the shard channel. Returns how many received it.
    pub fn publish(&self, channel: &Bytes, message: &Bytes, shard: bool) -> usize {
        let subs = self.subs.lock();
        let mut n = 0;
        let deliver = |to: &Subscribers, pattern: Option<&Bytes>| {
            let d = Delivery { pattern: pattern.cloned(), shard, channel: channel.clone(), message: message.clone() };
            to.values().filter(|tx| tx.send(d.clone()).is_ok()).count()
        };
        if shard {
            return subs.shard.get(channel).map_or(0, |to| deliver(to, None));
        }
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

    /// PUBSUB CHANNELS / SHARDCHANNELS: the channels with a subscriber here
    /// (matching `pattern`).
    pub fn channels(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let mut subs = self.subs.lock();
        subs.of(kind).keys().filter(|c| pattern.is_none_or(|p| glob::matches(p, c))).cloned().collect()
    }

    /// PUBSUB NUMSUB / SHARDNUMSUB: the subscribers of `channel` here.
    pub fn numsub(&self, kind: Kind, channel: &[u8]) -> usize {
        self.subs.lock().of(kind).get(channel).map_or(0, HashMap::len)
    }

    /// PUBSUB NUMPAT: the distinct patterns subscribed to here.
    pub fn numpat(&self) -> usize {
        self.subs.lock().patterns.len()
    }

    fn add(&self, kind: Kind, name: &Bytes, id: u64, tx: &UnboundedSender<Delivery>) {
        self.subs.lock().of(kind).entry(name.clone()).or_default().insert(id, tx.clone());
    }

    fn remove(&self, kind: Kind, name: &Bytes, id: u64) {
        let mut subs = self.subs.lock();
        let map = subs.of(kind);
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
    shard: BTreeSet<Bytes>,
}

impl Subscriber {
    /// Subscribes; false if it already was.
    pub fn add(&mut self, kind: Kind, name: &Bytes) -> bool {
        let new = match kind {
            Kind::Pattern => {
                !self.patterns.contains(name) && {
                    self.patterns.push(name.clone());
                    true
                }
            }
            Kind::Channel => self.channels.insert(name.clone()),
            Kind::Shard => self.shard.insert(name.clone()),
        };
        if new {
            self.hub.add(kind, name, self.id, &self.tx);
        }
        new
    }

    /// Unsubscribes; false if it was not subscribed.
    pub fn remove(&mut self, kind: Kind, name: &Bytes) -> bool {
        let was = match kind {
            Kind::Pattern => {
                let before = self.patterns.len();
                self.patterns.retain(|p| p != name);
                self.patterns.len() < before
            }
            Kind::Channel => self.channels.remove(name),
            Kind::Shard => self.shard.remove(name),
        };
        if was {
            self.hub.remove(kind, name, self.id);
        }
        was
    }

    /// The names subscribed to, of one kind.
    pub fn names(&self, kind: Kind) -> Vec<Bytes> {
        match kind {
            Kind::Pattern => self.patterns.clone(),
            Kind::Channel => self.channels.iter().cloned().collect(),
            Kind::Shard => self.shard.iter().cloned().collect(),
        }
    }

    /// The count a (un)subscription answers: channels and patterns for
    /// those, shard channels for theirs (as Redis 7.0 counts them).
    pub fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }

    /// Every subscription (a RESP2 connection with any is in subscribed mode).
    pub fn total(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shard.len()
    }

    /// (channels, patterns, shard channels), for CLIENT LIST.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.channels.len(), self.patterns.len(), self.shard.len())
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        for c in std::mem::take(&mut self.channels) {
            self.hub.remove(Kind::Channel, &c, self.id);
        }
        for p in std::mem::take(&mut self.patterns) {
            self.hub.remove(Kind::Pattern, &p, self.id);
        }
        for c in std::mem::take(&mut self.shard) {
            self.hub.remove(Kind::Shard, &c, self.id);
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
        assert!(a.add(Kind::Channel, &b("news")));
        assert!(!a.add(Kind::Channel, &b("news")));
        assert!(p.add(Kind::Pattern, &b("n*")));
        assert!(p.add(Kind::Shard, &b("news")));
        assert_eq!(hub.publish(&b("news"), &b("hi"), false), 2);
        let want = Delivery { pattern: None, shard: false, channel: b("news"), message: b("hi") };
        assert_eq!(ra.try_recv().unwrap(), want);
        assert_eq!(rp.try_recv().unwrap().pattern, Some(b("n*")));
        // SPUBLISH reaches shard subscriptions only; patterns do not match them.
        assert_eq!(hub.publish(&b("news"), &b("s"), true), 1);
        assert!(rp.try_recv().unwrap().shard);
        assert_eq!(hub.publish(&b("other"), &b("x"), false), 0);
        let seen = (hub.numsub(Kind::Channel, b"news"), hub.numpat(), hub.channels(Kind::Channel, Some(b"ne*")));
        assert_eq!(seen, (1, 1, vec![b("news")]));
        drop(a);
        assert_eq!(hub.numsub(Kind::Channel, b"news"), 0);
        assert!(p.remove(Kind::Pattern, &b("n*")));
        assert_eq!(hub.publish(&b("news"), &b("hi"), false), 0);
        drop(p);
        assert_eq!(hub.numsub(Kind::Shard, b"news"), 0);
    }
}
