//! The data node: typed commands, partitions and routing, the data encoding
//! on RocksDB, the apply logic (state machine), TTL and transactions, on the
//! raft driver of `kvraft`.

pub mod access;
pub mod balance;
pub mod changes;
pub mod coll_cmds;
pub mod command;
pub mod durable;
pub mod exec;
pub mod failpoint;
pub mod forward;
pub mod geo;
pub mod geo_cmds;
pub mod glob;
pub mod hll;
pub mod keys;
pub mod ldouble;
pub mod membership;
pub mod meta;
pub mod node;
pub mod notify;
pub mod num;
pub mod partition;
pub mod peer_lookup;
pub mod pqsort;
pub mod pubsub;
pub mod rdb;
pub mod reply;
pub mod seen;
pub mod sm;
pub mod snapshot;
pub mod state;
pub mod store;
pub mod stream;
pub mod stream_cmds;
pub mod versions;
pub mod waiters;

pub use command::Cmd;
pub use node::{Node, NodeConfig, PendingReply, Session};
pub use reply::Reply;
