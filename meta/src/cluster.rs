//! The static cluster description (`cluster.toml`): which nodes exist, where
//! they listen, and how many partitions each namespace has at what
//! replication factor. It is read by every node at start; the initial
//! replicas it implies are created only by a start with `--bootstrap` on an
//! empty data directory (like etcd's `initial-cluster-state = new`).
//!
//! ```toml
//! replication = 3
//!
//! [[namespace]]
//! name = "default"
//! partitions = 8
//!
//! [[node]]
//! id = 1
//! raft-addr = "127.0.0.1:7101"
//! redis-addr = "127.0.0.1:6101"
//! http-addr = "127.0.0.1:8101"
//! ```

use serde::Deserialize;
use std::collections::BTreeSet;

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NodeAddrs {
    pub id: u64,
    /// Node-to-node (raft, forwarded requests, snapshots).
    pub raft_addr: String,
    /// RESP clients.
    pub redis_addr: String,
    /// /health, /metrics and the admin operations.
    pub http_addr: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NamespaceSpec {
    pub name: String,
    pub partitions: u32,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClusterSpec {
    pub replication: usize,
    #[serde(rename = "namespace")]
    pub namespaces: Vec<NamespaceSpec>,
    #[serde(rename = "node")]
    pub nodes: Vec<NodeAddrs>,
}

impl ClusterSpec {
    /// Parses and checks a `cluster.toml`.
    pub fn parse(text: &str) -> Result<ClusterSpec, String> {
        let spec: ClusterSpec = toml::from_str(text).map_err(|e| e.to_string())?;
        spec.validate()?;
        Ok(spec)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.nodes.is_empty() {
            return Err("the cluster has no [[node]]".into());
        }
        let mut ids = BTreeSet::new();
        for n in &self.nodes {
            if n.id == 0 {
                return Err("node ids start at 1".into());
            }
            if !ids.insert(n.id) {
                return Err(format!("node id {} appears twice", n.id));
            }
        }
        if self.replication == 0 || self.replication > self.nodes.len() {
            return Err(format!(
                "replication must be between 1 and the number of nodes ({}), not {}",
                self.nodes.len(),
                self.replication
            ));
        }
        // Only the default namespace is served so far: namespaces other than
        // it arrive with the placedriver.
        match self.namespaces.as_slice() {
            [ns] if ns.name == "default" => {}
            _ => return Err("exactly one [[namespace]], named \"default\", is supported".into()),
        }
        for ns in &self.namespaces {
            if ns.partitions == 0 || ns.partitions > crate::slot::SLOTS as u32 {
                return Err(format!("namespace {}: partitions must be 1..=16384", ns.name));
            }
        }
        Ok(())
    }

    pub fn node(&self, id: u64) -> Option<&NodeAddrs> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The initial replicas of partition `index`: (replica id, node id),
    /// replica ids 1..=replication on consecutive nodes (in the order of the
    /// file), starting at a different node for each partition so leaders and
    /// load spread.
    pub fn initial_replicas(&self, index: u32) -> Vec<(u64, u64)> {
        let n = self.nodes.len();
        (0..self.replication).map(|k| (k as u64 + 1, self.nodes[(index as usize + k) % n].id)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three(replication: usize) -> String {
        let mut s = format!("replication = {replication}\n[[namespace]]\nname = \"default\"\npartitions = 4\n");
        for i in 1..=3 {
            s += &format!(
                "[[node]]\nid = {i}\nraft-addr = \"127.0.0.1:{}\"\nredis-addr = \"127.0.0.1:{}\"\nhttp-addr = \"127.0.0.1:{}\"\n",
                7000 + i,
                6000 + i,
                8000 + i
            );
        }
        s
    }

    #[test]
    fn parses_and_places_replicas() {
        let c = ClusterSpec::parse(&three(2)).unwrap();
        assert_eq!(c.nodes.len(), 3);
        assert_eq!(c.initial_replicas(0), vec![(1, 1), (2, 2)]);
        assert_eq!(c.initial_replicas(2), vec![(1, 3), (2, 1)]);
        assert_eq!(c.node(2).unwrap().redis_addr, "127.0.0.1:6002");
    }

    #[test]
    fn rejects_bad_descriptions() {
        assert!(ClusterSpec::parse(&three(4)).unwrap_err().contains("replication"));
        assert!(ClusterSpec::parse(&three(0)).is_err());
        let dup = three(1).replace("id = 2", "id = 1");
        assert!(ClusterSpec::parse(&dup).unwrap_err().contains("twice"));
        assert!(ClusterSpec::parse("replication = 1\n").is_err());
    }
}
