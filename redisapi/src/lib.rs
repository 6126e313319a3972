//! The RESP front end: framing with Redis' limits, the command table,
//! parsing arguments into the node's typed commands, connections, and reply
//! encoding. No storage code lives here.

pub mod accounting;
pub mod acl;
pub mod admin;
pub mod args;
pub mod cluster;
pub mod cmd;
pub mod cmdstats;
pub mod conn;
pub mod encode;
pub mod functions;
pub mod info;
pub mod local;
pub mod migrate;
pub mod monitor;
pub mod pause;
pub mod pubsub;
pub mod resend;
pub mod resp;
pub mod save;
pub mod server;
pub mod slowlog;
mod spec_data;
pub mod tracking;

pub use server::{Server, ServerConfig};
