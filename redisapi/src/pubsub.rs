//! The pub/sub commands of a connection: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE,
//! PUNSUBSCRIBE, PUBLISH, the sharded SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH,
//! PUBSUB, and how a delivered message is written.
//! The subscriptions themselves live in the node ([`node::pubsub`]), which
//! also carries a PUBLISH to the other nodes of a cluster.

use crate::conn::Conn;
use bytes::Bytes;
use node::pubsub::{Delivery, Kind};
use node::Reply;
use std::sync::atomic::Ordering;

fn bulk(s: &'static str) -> Reply {
    Reply::bulk(Bytes::from_static(s.as_bytes()))
}

/// The message a subscriber gets: `message` for a channel it subscribed
/// to, `pmessage` (with the pattern) for a pattern.
pub fn message(d: Delivery) -> Reply {
    match d.pattern {
        None if d.shard => Reply::Push(vec![bulk("smessage"), Reply::Bulk(d.channel), Reply::Bulk(d.message)]),
        None => Reply::Push(vec![bulk("message"), Reply::Bulk(d.channel), Reply::Bulk(d.message)]),
        Some(p) => Reply::Push(vec![bulk("pmessage"), Reply::Bulk(p), Reply::Bulk(d.channel), Reply::Bulk(d.message)]),
    }
}

/// The reply words of a kind of subscription.
fn words(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Channel => ("subscribe", "unsubscribe"),
        Kind::Pattern => ("psubscribe", "punsubscribe"),
        Kind::Shard => ("ssubscribe", "sunsubscribe"),
    }
}

impl Conn {
    /// Every subscription of this connection (channels, patterns, shard
    /// channels): with any, a RESP2 connection is in subscribed mode.
    pub fn subscriptions(&self) -> usize {
        self.sub.as_ref().map_or(0, |s| s.total())
    }

    fn count(&self, kind: Kind) -> i64 {
        self.sub.as_ref().map_or(0, |s| s.count(kind)) as i64
    }

    fn publish_counts(&self) {
        let (ch, pat, shard) = self.sub.as_ref().map_or((0, 0, 0), |s| s.counts());
        self.client.sub.store(ch, Ordering::Relaxed);
        self.client.psub.store(pat, Ordering::Relaxed);
        self.client.ssub.store(shard, Ordering::Relaxed);
    }

    /// Drops every subscription (RESET; the connection's end does it too).
    pub fn unsubscribe_all(&mut self) {
        self.sub = None;
        self.sub_rx = None;
        self.publish_counts();
    }
}

/// SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE: one confirmation per name, with the
/// count after it.
pub fn subscribe(c: &mut Conn, kind: Kind, names: &[Bytes]) -> Reply {
    if kind == Kind::Shard {
        if let Some(e) = crossslot(c, names) {
            return e;
        }
    }
    if c.sub.is_none() {
        let (s, rx) = c.server.node.pubsub.subscriber();
        c.sub = Some(s);
        c.sub_rx = Some(rx);
    }
    let sub = c.sub.as_mut().expect("created above");
    let replies = names
        .iter()
        .map(|n| {
            sub.add(kind, n);
            Reply::Push(vec![bulk(words(kind).0), Reply::Bulk(n.clone()), Reply::Int(sub.count(kind) as i64)])
        })
        .collect();
    c.publish_counts();
    Reply::Several(replies)
}

/// UNSUBSCRIBE / PUNSUBSCRIBE / SUNSUBSCRIBE: the names given, or all; with
/// none to leave, one confirmation with a nil name.
pub fn unsubscribe(c: &mut Conn, kind: Kind, names: &[Bytes]) -> Reply {
    let word = words(kind).1;
    let names = if names.is_empty() { c.sub.as_ref().map_or(vec![], |s| s.names(kind)) } else { names.to_vec() };
    if names.is_empty() {
        return Reply::Push(vec![bulk(word), Reply::Nil, Reply::Int(c.count(kind))]);
    }
    let replies = names
        .into_iter()
        .map(|n| {
            if let Some(s) = c.sub.as_mut() {
                s.remove(kind, &n);
            }
            Reply::Push(vec![bulk(word), Reply::Bulk(n), Reply::Int(c.count(kind))])
        })
        .collect();
    c.publish_counts();
    Reply::Several(replies)
}

/// In a cluster, the shard channels of one SSUBSCRIBE must share a slot, as
/// keys of one command do (Redis Cluster's rule; a standalone node has none).
fn crossslot(c: &Conn, names: &[Bytes]) -> Option<Reply> {
    c.server.node.cluster()?;
    let first = node::keys::slot(names.first()?);
    names.iter().any(|n| node::keys::slot(n) != first).then(|| Reply::error(node::reply::err::CROSSSLOT))
}

/// PUBLISH, and SPUBLISH (`shard`).
pub fn publish(c: &Conn, argv: &[Bytes], shard: bool) -> Reply {
    Reply::Int(c.server.node.publish(&argv[1], &argv[2], shard) as i64)
}

/// PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT, for this node
/// (as Redis Cluster answers them); no shard channels here.
pub fn pubsub(c: &Conn, argv: &[Bytes]) -> Reply {
    let hub = &c.server.node.pubsub;
    match argv[1].to_ascii_lowercase().as_slice() {
        sub @ (b"channels" | b"shardchannels") => {
            let kind = if sub == b"channels" { Kind::Channel } else { Kind::Shard };
            Reply::Array(hub.channels(kind, argv.get(2).map(|p| p.as_ref())).into_iter().map(Reply::Bulk).collect())
        }
        sub @ (b"numsub" | b"shardnumsub") => {
            let kind = if sub == b"numsub" { Kind::Channel } else { Kind::Shard };
            let counts =
                argv[2..].iter().flat_map(|ch| [Reply::Bulk(ch.clone()), Reply::Int(hub.numsub(kind, ch) as i64)]);
            Reply::Array(counts.collect())
        }
        b"numpat" => Reply::Int(hub.numpat() as i64),
        _ => Reply::Array(
            [
                "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
                "SHARDCHANNELS [<pattern>]",
                "    Return the currently active shard level channels matching a <pattern> (default: '*').",
                "SHARDNUMSUB [<shardchannel> ...]",
                "    Return the number of subscribers for the specified shard level channel(s)",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|s| Reply::status(s))
            .collect(),
        ),
    }
}
