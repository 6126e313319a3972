//! Glue around raft-rs: the WAL-backed `Storage`, the multi-raft driver and
//! the node-to-node transport. No Raft algorithm of our own lives here.

pub mod driver;
pub mod error;
pub mod logger;
mod outbox;
pub mod proto;
pub mod storage;
pub mod transport;

pub use driver::{
    raft_channel, Committed, CommittedKind, Driver, DriverConfig, GroupShared, GroupSpec, GroupStatus, Pending,
    RaftHandle, RaftInbound, RaftInbox, Request, SnapshotArrival, StateMachine,
};
pub use error::ProposeError;
pub use raft;
pub use storage::{AppliedState, SnapshotSource, WalStorage};
pub use transport::{InboundHandler, SendError, Transport, TransportConfig};
