//! CLUSTER SLOTS/SHARDS/NODES/INFO/MYID/KEYSLOT, READONLY/READWRITE/ASKING.
//!
//! Each partition is a slot range; its raft leader is presented as the
//! master and its other replicas as replicas, so that cluster clients
//! (`redis-cli -c`, the `redis` crate's cluster client) route to leaders.
//! A node leads some partitions and follows others, so unlike in Redis
//! Cluster one node appears as master of some ranges and replica of others.

use crate::conn::Conn;
use bytes::Bytes;
use node::node::PartitionView;
use node::Reply;

/// Redis' reply in standalone mode.
pub const DISABLED: &str = "ERR This instance has cluster support disabled";

/// The 40-character node name Redis clients expect, from our node id.
pub fn node_name(id: u64) -> String {
    format!("{id:040x}")
}

struct Addr {
    id: u64,
    host: String,
    port: u16,
}

fn split_addr(addr: &str) -> (String, u16) {
    match addr.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().unwrap_or(0)),
        None => (addr.to_string(), 0),
    }
}

fn addr_of(c: &Conn, id: u64) -> Addr {
    let node = &c.server.node;
    let redis_addr = node
        .cluster()
        .and_then(|cl| cl.spec.node(id))
        .map(|n| n.redis_addr.clone())
        .unwrap_or_else(|| format!("127.0.0.1:{}", c.server.port.load(std::sync::atomic::Ordering::Relaxed)));
    let (host, port) = split_addr(&redis_addr);
    Addr { id, host, port }
}

/// The leader first, then the other replicas. A partition without a known
/// leader shows its first replica as master: any node forwards anyway.
fn ordered(v: &PartitionView) -> Vec<u64> {
    let mut nodes = v.nodes.clone();
    if let Some(l) = v.leader {
        nodes.retain(|n| *n != l);
        nodes.insert(0, l);
    }
    nodes
}

/// Consecutive partitions with the same leader and replicas merge into one
/// range, as Redis lists them.
fn ranges(views: &[PartitionView]) -> Vec<((u32, u32), Vec<u64>)> {
    let mut out: Vec<((u32, u32), Vec<u64>)> = Vec::new();
    for v in views {
        let nodes = ordered(v);
        if nodes.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some(((_, hi), n)) if *hi == v.slots.0 && *n == nodes => *hi = v.slots.1,
            _ => out.push((v.slots, nodes)),
        }
    }
    out
}

fn bulk(s: impl Into<String>) -> Reply {
    Reply::bulk(Bytes::from(s.into()))
}

pub async fn run(c: &mut Conn, argv: &[Bytes]) -> Reply {
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_uppercase();
    if sub == "KEYSLOT" {
        return match argv.len() {
            3 => Reply::Int(node::keys::slot(&argv[2]) as i64),
            _ => crate::conn::wrong_arity("cluster|keyslot"),
        };
    }
    let node = c.server.node.clone();
    let Some(cl) = node.cluster() else {
        return Reply::error(DISABLED);
    };
    let me = node.node_id();
    match sub.as_str() {
        "MYID" => bulk(node_name(me)),
        "SLOTS" => {
            let views = node.partition_views().await;
            Reply::Array(
                ranges(&views)
                    .into_iter()
                    .map(|((lo, hi), nodes)| {
                        let mut entry = vec![Reply::Int(lo as i64), Reply::Int(hi as i64 - 1)];
                        for n in nodes {
                            let a = addr_of(c, n);
                            entry.push(Reply::Array(vec![
                                bulk(a.host),
                                Reply::Int(a.port as i64),
                                bulk(node_name(a.id)),
                            ]));
                        }
                        Reply::Array(entry)
                    })
                    .collect(),
            )
        }
        "SHARDS" => {
            let views = node.partition_views().await;
            Reply::Array(
                ranges(&views)
                    .into_iter()
                    .map(|((lo, hi), nodes)| {
                        let members = nodes
                            .iter()
                            .enumerate()
                            .map(|(i, n)| {
                                let a = addr_of(c, *n);
                                Reply::Map(vec![
                                    (bulk("id"), bulk(node_name(a.id))),
                                    (bulk("port"), Reply::Int(a.port as i64)),
                                    (bulk("ip"), bulk(a.host.clone())),
                                    (bulk("endpoint"), bulk(a.host)),
                                    (bulk("role"), bulk(if i == 0 { "master" } else { "replica" })),
                                    (bulk("replication-offset"), Reply::Int(0)),
                                    (bulk("health"), bulk("online")),
                                ])
                            })
                            .collect();
                        Reply::Map(vec![
                            (bulk("slots"), Reply::Array(vec![Reply::Int(lo as i64), Reply::Int(hi as i64 - 1)])),
                            (bulk("nodes"), Reply::Array(members)),
                        ])
                    })
                    .collect(),
            )
        }
        "NODES" => {
            let views = node.partition_views().await;
            let mut text = String::new();
            for n in &cl.spec.nodes {
                let a = addr_of(c, n.id);
                let (_, cport) = split_addr(&n.raft_addr);
                let led: Vec<String> = ranges(&views)
                    .into_iter()
                    .filter(|(_, nodes)| nodes.first() == Some(&n.id))
                    .map(|((lo, hi), _)| if hi - lo == 1 { lo.to_string() } else { format!("{lo}-{}", hi - 1) })
                    .collect();
                let flags = if n.id == me { "myself,master" } else { "master" };
                text.push_str(&format!(
                    "{} {}:{}@{cport} {flags} - 0 0 {} connected{}{}\n",
                    node_name(n.id),
                    a.host,
                    a.port,
                    n.id,
                    if led.is_empty() { "" } else { " " },
                    led.join(" ")
                ));
            }
            Reply::Verbatim(text)
        }
        "INFO" => {
            let views = node.partition_views().await;
            let assigned: u32 = views.iter().filter(|v| !v.nodes.is_empty()).map(|v| v.slots.1 - v.slots.0).sum();
            let led = views.iter().filter(|v| v.leader.is_some()).count();
            let state = if led == views.len() { "ok" } else { "fail" };
            Reply::Verbatim(format!(
                "cluster_state:{state}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{}\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:{}\r\ncluster_size:{}\r\ncluster_current_epoch:0\r\ncluster_my_epoch:0\r\ncluster_partitions:{}\r\ncluster_partitions_with_leader:{led}\r\ncluster_replication:{}\r\n",
                views.iter().filter(|v| v.leader.is_some()).map(|v| v.slots.1 - v.slots.0).sum::<u32>(),
                cl.spec.nodes.len(),
                cl.spec.nodes.len(),
                views.len(),
                cl.spec.replication,
            ))
        }
        // The node-to-node connections up now, each peer's `to` link (the
        // one this node writes to) before its `from` link, as Redis lists
        // them. The transport queues rather than buffers per link, so the
        // send buffer shows 0.
        "LINKS" => Reply::Array(
            node.transport_stats()
                .links
                .list()
                .into_iter()
                .map(|l| {
                    Reply::Map(vec![
                        (bulk("direction"), bulk(if l.outgoing { "to" } else { "from" })),
                        (bulk("node"), bulk(node_name(l.peer))),
                        (bulk("create-time"), Reply::Int(l.since_ms as i64)),
                        (bulk("events"), bulk(if l.outgoing { "rw" } else { "r" })),
                        (bulk("send-buffer-allocated"), Reply::Int(0)),
                        (bulk("send-buffer-used"), Reply::Int(0)),
                    ])
                })
                .collect(),
        ),
        "HELP" => Reply::Array(
            [
                "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "INFO",
                "    Return information about the cluster.",
                "KEYSLOT <key>",
                "    Return the hash slot for <key>.",
                "LINKS",
                "    Return information about all network links between this node and its peers.",
                "MYID",
                "    Return the node id.",
                "NODES",
                "    Return cluster configuration seen by node.",
                "SHARDS",
                "    Return information about slot range mappings and the nodes associated with them.",
                "SLOTS",
                "    Return information about slots range mappings.",
            ]
            .into_iter()
            .map(Reply::status)
            .collect(),
        ),
        // Placement and membership are the cluster description's and the
        // partitions' raft groups' (admin HTTP API), not a node's to change
        // by slot: said so, rather than "unknown subcommand".
        "ADDSLOTS" | "ADDSLOTSRANGE" | "DELSLOTS" | "DELSLOTSRANGE" | "FLUSHSLOTS" | "SETSLOT" | "MEET" | "FORGET"
        | "REPLICATE" | "FAILOVER" | "RESET" | "BUMPEPOCH" | "SET-CONFIG-EPOCH" | "SAVECONFIG" => {
            Reply::error(format!(
                "ERR CLUSTER {sub} is not supported: slots are placed by partition, as the cluster description \
                 says, and replicas and leaders are changed through the admin HTTP API"
            ))
        }
        _ => Reply::error(format!("ERR unknown subcommand '{}'. Try CLUSTER HELP.", String::from_utf8_lossy(&argv[1]))),
    }
}

/// The -MOVED error for a key whose partition another node leads.
pub fn moved(c: &Conn, slot: u16, node: u64) -> Reply {
    let a = addr_of(c, node);
    Reply::error(format!("MOVED {slot} {}:{}", a.host, a.port))
}
