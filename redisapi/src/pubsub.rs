//! The pub/sub commands of a connection: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE,
//! PUNSUBSCRIBE, PUBLISH, PUBSUB, and how a delivered message is written.
//! The subscriptions themselves live in the node ([`node::pubsub`]), which
//! also carries a PUBLISH to the other nodes of a cluster.

use crate::conn::Conn;
use bytes::Bytes;
use node::pubsub::Delivery;
use node::Reply;
use std::sync::atomic::Ordering;

fn bulk(s: &'static str) -> Reply {
    Reply::bulk(Bytes::from_static(s.as_bytes()))
}

/// The message a subscriber gets: `message` for a channel it subscribed
/// to, `pmessage` (with the pattern) for a pattern.
pub fn message(d: Delivery) -> Reply {
    match d.pattern {
        None => Reply::Push(vec![bulk("message"), Reply::Bulk(d.channel), Reply::Bulk(d.message)]),
        Some(p) => Reply::Push(vec![bulk("pmessage"), Reply::Bulk(p), Reply::Bulk(d.channel), Reply::Bulk(d.message)]),
    }
}

impl Conn {
    /// The number of channels and patterns this connection listens to.
    pub fn subscriptions(&self) -> usize {
        self.sub.as_ref().map_or(0, |s| s.count())
    }

    fn publish_counts(&self) {
        let (ch, pat) = self.sub.as_ref().map_or((0, 0), |s| s.counts());
        self.client.sub.store(ch, Ordering::Relaxed);
        self.client.psub.store(pat, Ordering::Relaxed);
    }

    /// Drops every subscription (RESET; the connection's end does it too).
    pub fn unsubscribe_all(&mut self) {
        self.sub = None;
        self.sub_rx = None;
        self.publish_counts();
    }
}

/// SUBSCRIBE / PSUBSCRIBE: one confirmation per name, with the count after it.
pub fn subscribe(c: &mut Conn, pattern: bool, names: &[Bytes]) -> Reply {
    if c.sub.is_none() {
        let (s, rx) = c.server.node.pubsub.subscriber();
        c.sub = Some(s);
        c.sub_rx = Some(rx);
    }
    let kind = if pattern { "psubscribe" } else { "subscribe" };
    let sub = c.sub.as_mut().expect("created above");
    let replies = names
        .iter()
        .map(|n| {
            sub.add(pattern, n);
            Reply::Push(vec![bulk(kind), Reply::Bulk(n.clone()), Reply::Int(sub.count() as i64)])
        })
        .collect();
    c.publish_counts();
    Reply::Several(replies)
}

/// UNSUBSCRIBE / PUNSUBSCRIBE: the names given, or all; with none to leave,
/// one confirmation with a nil name.
pub fn unsubscribe(c: &mut Conn, pattern: bool, names: &[Bytes]) -> Reply {
    let kind = if pattern { "punsubscribe" } else { "unsubscribe" };
    let names = if names.is_empty() { c.sub.as_ref().map_or(vec![], |s| s.names(pattern)) } else { names.to_vec() };
    if names.is_empty() {
        return Reply::Push(vec![bulk(kind), Reply::Nil, Reply::Int(c.subscriptions() as i64)]);
    }
    let replies = names
        .into_iter()
        .map(|n| {
            if let Some(s) = c.sub.as_mut() {
                s.remove(pattern, &n);
            }
            Reply::Push(vec![bulk(kind), Reply::Bulk(n), Reply::Int(c.subscriptions() as i64)])
        })
        .collect();
    c.publish_counts();
    Reply::Several(replies)
}

pub fn publish(c: &Conn, argv: &[Bytes]) -> Reply {
    Reply::Int(c.server.node.publish(&argv[1], &argv[2]) as i64)
}

/// PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT, for this node
/// (as Redis Cluster answers them); no shard channels here.
pub fn pubsub(c: &Conn, argv: &[Bytes]) -> Reply {
    let hub = &c.server.node.pubsub;
    match argv[1].to_ascii_lowercase().as_slice() {
        b"channels" => {
            Reply::Array(hub.channels(argv.get(2).map(|p| p.as_ref())).into_iter().map(Reply::Bulk).collect())
        }
        b"numsub" => Reply::Array(
            argv[2..].iter().flat_map(|ch| [Reply::Bulk(ch.clone()), Reply::Int(hub.numsub(ch) as i64)]).collect(),
        ),
        b"numpat" => Reply::Int(hub.numpat() as i64),
        b"shardchannels" => Reply::Array(vec![]),
        b"shardnumsub" => {
            Reply::Array(argv[2..].iter().flat_map(|ch| [Reply::Bulk(ch.clone()), Reply::Int(0)]).collect())
        }
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
