//! Where a RESP request goes: one node per client (spread over --addr), or,
//! with --cluster, the master of the key's slot as CLUSTER SLOTS reports it.

use anyhow::{bail, Context, Result};
use redis_protocol::resp2::types::BytesFrame;

use crate::resp::{Auth, Conn};
use crate::workload::Op;

pub struct Topology {
    pub nodes: Vec<String>,
    /// Slot -> index into `nodes`, when routing by slot.
    slots: Option<Vec<u16>>,
}

impl Topology {
    /// Clients spread round-robin over `addrs`.
    pub fn spread(addrs: &[String]) -> Topology {
        Topology { nodes: addrs.to_vec(), slots: None }
    }

    /// Asks the first reachable address for CLUSTER SLOTS.
    pub async fn discover(addrs: &[String], auth: &Auth) -> Result<Topology> {
        let mut last_err = None;
        for addr in addrs {
            match Conn::connect(addr, auth).await {
                Ok(mut c) => {
                    let reply = c.command(&[b"CLUSTER", b"SLOTS"]).await?;
                    return Topology::from_cluster_slots(&reply).with_context(|| format!("CLUSTER SLOTS of {addr}"));
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("no --addr given")))
    }

    /// Parses `[[start, end, [ip, port, id..], replicas..], ..]`.
    pub fn from_cluster_slots(reply: &BytesFrame) -> Result<Topology> {
        let BytesFrame::Array(ranges) = reply else { bail!("unexpected reply {reply:?}") };
        let mut nodes: Vec<String> = Vec::new();
        let mut slots = vec![u16::MAX; meta::slot::SLOTS as usize];
        for r in ranges {
            let BytesFrame::Array(parts) = r else { bail!("unexpected range {r:?}") };
            let (Some(BytesFrame::Integer(start)), Some(BytesFrame::Integer(end)), Some(BytesFrame::Array(master))) =
                (parts.first(), parts.get(1), parts.get(2))
            else {
                bail!("unexpected range {r:?}")
            };
            let (Some(BytesFrame::BulkString(ip)), Some(BytesFrame::Integer(port))) = (master.first(), master.get(1))
            else {
                bail!("unexpected master {master:?}")
            };
            let addr = format!("{}:{}", String::from_utf8_lossy(ip), port);
            let idx = match nodes.iter().position(|n| *n == addr) {
                Some(i) => i,
                None => {
                    nodes.push(addr);
                    nodes.len() - 1
                }
            };
            if *start < 0 || *end >= meta::slot::SLOTS as i64 || start > end {
                bail!("bad slot range {start}-{end}");
            }
            for s in *start..=*end {
                slots[s as usize] = idx as u16;
            }
        }
        if let Some(s) = slots.iter().position(|n| *n == u16::MAX) {
            bail!("slot {s} has no master");
        }
        Ok(Topology { nodes, slots: Some(slots) })
    }

    /// The nodes client `client` talks to.
    pub fn nodes_of(&self, client: usize) -> Vec<usize> {
        match &self.slots {
            Some(_) => (0..self.nodes.len()).collect(),
            None => vec![client % self.nodes.len()],
        }
    }

    /// The node that serves `op` for client `client`.
    pub fn node_for(&self, op: &Op, client: usize) -> usize {
        match &self.slots {
            Some(map) => map[meta::slot::slot(&op.routing_key()) as usize] as usize,
            None => client % self.nodes.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn range(start: i64, end: i64, port: i64) -> BytesFrame {
        BytesFrame::Array(vec![
            BytesFrame::Integer(start),
            BytesFrame::Integer(end),
            BytesFrame::Array(vec![
                BytesFrame::BulkString(Bytes::from_static(b"127.0.0.1")),
                BytesFrame::Integer(port),
            ]),
        ])
    }

    #[test]
    fn routes_keys_to_their_slot_master() {
        let reply = BytesFrame::Array(vec![range(0, 8191, 7000), range(8192, 16383, 7001)]);
        let t = Topology::from_cluster_slots(&reply).unwrap();
        assert_eq!(t.nodes, vec!["127.0.0.1:7000", "127.0.0.1:7001"]);
        use crate::workload::{Family, Key};
        // CRC16("key:000000000000") % 16384 = 13053.
        let op = Op::Get { key: Key { family: Family::String, index: 0 } };
        assert_eq!(meta::slot::slot(&op.routing_key()), 13053);
        assert_eq!(t.node_for(&op, 0), 1);
        let gap = BytesFrame::Array(vec![range(0, 100, 7000)]);
        assert!(Topology::from_cluster_slots(&gap).is_err());
    }
}
