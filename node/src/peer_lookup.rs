//! Finding a script or a function on another node of the cluster.
//!
//! The script cache and the function libraries belong to each node, as in
//! Redis Cluster, where clients load them on every master. Here a node is
//! master of some partitions and replica of others, and cluster clients
//! that send SCRIPT LOAD or FUNCTION LOAD "to every master" reach only
//! some nodes: redis-py takes a node's role from the first time CLUSTER
//! SLOTS names it, so it sees one master among three nodes, and its Lock's
//! EVALSHA, sent to the key's master, found no script there. So a node
//! that lacks the script an EVALSHA names, or the function an FCALL names,
//! asks the other nodes for it before it answers NOSCRIPT or "Function not
//! found". (A script then stays in this node's cache, as EVAL leaves it; a
//! function is not loaded here: the entry carries its library's code, so
//! the next FCALL asks again, and FUNCTION DELETE on the node that holds it
//! ends it everywhere.)
//!
//! SCRIPT FLUSH, for its part, empties every node's cache: a copy found
//! elsewhere must not let a flushed script run on through another node.
//!
//! The front end answers the questions (it holds both), through the sink
//! it sets.

use crate::forward::{Forwarder, FwdKind};
use crate::reply::Reply;
use bytes::Bytes;
use prost::Message;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How long a node waits for its peers' answers: they are in-memory
/// lookups, so only a node that is down or stuck takes this long.
const ANSWER_WITHIN: Duration = Duration::from_millis(500);

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Wanted {
    /// A script by its SHA1 digest (lowercase hex): answered with its body,
    /// or nil.
    #[prost(string, tag = "1")]
    Script(String),
    /// A function by name: answered `[library body, flags]`, or nil.
    #[prost(string, tag = "2")]
    Function(String),
    /// Not a question: the receiver empties its script cache (SCRIPT
    /// FLUSH on the sender); answered OK.
    #[prost(bool, tag = "3")]
    FlushScripts(bool),
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LookupMsg {
    #[prost(oneof = "Wanted", tags = "1, 2, 3")]
    pub wanted: Option<Wanted>,
}

pub type Sink = Box<dyn Fn(&Wanted) -> Reply + Send + Sync>;

/// This node's side of the lookups: the questions it asks, and the answers
/// its front end gives to the other nodes' questions.
pub struct PeerLookup {
    fwd: Option<Arc<Forwarder>>,
    peers: Vec<u64>,
    sink: OnceLock<Sink>,
}

impl PeerLookup {
    pub(crate) fn new(fwd: Option<Arc<Forwarder>>, peers: Vec<u64>) -> PeerLookup {
        PeerLookup { fwd, peers, sink: OnceLock::new() }
    }

    /// Where other nodes' questions are answered (the front end); set once.
    pub fn set_sink(&self, sink: Sink) {
        let _ = self.sink.set(sink);
    }

    /// Sends `wanted` to every other node: the requests, and when to stop
    /// waiting for their answers.
    fn ask(&self, wanted: Wanted) -> (Vec<(u64, tokio::sync::oneshot::Receiver<Reply>)>, tokio::time::Instant) {
        let mut asked = Vec::new();
        if let Some(fwd) = &self.fwd {
            let data = Bytes::from(LookupMsg { wanted: Some(wanted) }.encode_to_vec());
            for &peer in &self.peers {
                match fwd.request(peer, FwdKind::Lookup, 0, 0, data.clone()) {
                    Ok(a) => asked.push(a),
                    Err(e) => tracing::debug!("lookup on node {peer}: {e}"),
                }
            }
        }
        (asked, tokio::time::Instant::now() + ANSWER_WITHIN)
    }

    /// The first answer other than nil from the other nodes, asked all at
    /// once and taken as they come (a node that is down delays nothing
    /// another node has); `None` when none has it, none answered in time,
    /// or there is no other node (standalone: at once).
    pub async fn find(&self, wanted: Wanted) -> Option<Reply> {
        use futures::stream::{FuturesUnordered, StreamExt};
        let fwd = self.fwd.as_ref()?;
        let (asked, deadline) = self.ask(wanted);
        let ids: Vec<u64> = asked.iter().map(|(id, _)| *id).collect();
        let mut answers: FuturesUnordered<_> = asked.into_iter().map(|(_, rx)| rx).collect();
        let mut found = None;
        while let Ok(Some(answer)) = tokio::time::timeout_at(deadline, answers.next()).await {
            match answer {
                Ok(Reply::Nil) | Err(_) => {}
                Ok(Reply::Error(e)) => tracing::debug!("lookup answered {e}"),
                Ok(r) => {
                    found = Some(r);
                    break;
                }
            }
        }
        // Answers still to come are dropped on arrival.
        for id in ids {
            fwd.abandon(id);
        }
        found
    }

    /// Empties every other node's script cache; returns once each has
    /// answered (a node that is down or does not answer in time is not
    /// waited for: its cache went with its restart, or its copies stay).
    pub async fn flush_scripts(&self) {
        let Some(fwd) = self.fwd.as_ref() else { return };
        let (asked, deadline) = self.ask(Wanted::FlushScripts(true));
        for (id, rx) in asked {
            if tokio::time::timeout_at(deadline, rx).await.is_err() {
                fwd.abandon(id);
            }
        }
    }

    /// Answers another node's question (nil before the front end is up).
    pub(crate) fn answer(&self, data: Bytes) -> Reply {
        match LookupMsg::decode(data) {
            Ok(LookupMsg { wanted: Some(w) }) => self.sink.get().map_or(Reply::Nil, |sink| sink(&w)),
            // A kind of question from a newer node.
            Ok(LookupMsg { wanted: None }) => Reply::Nil,
            Err(e) => Reply::error(format!("ERR internal: undecodable lookup: {e}")),
        }
    }
}
