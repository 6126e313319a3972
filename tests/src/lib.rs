//! Test support shared by the crates' tests and the integration tests in
//! `tests/tests/`: a TCP proxy that can cut, blackhole or delay a link, and a
//! harness for real kvnode and redis-server processes.

pub mod cluster;
pub mod differential;
pub mod functions;
pub mod geo;
pub mod harness;
pub mod linearizability;
pub mod luastruct;
pub mod msgpack;
pub mod notifications;
pub mod proxy;
pub mod textresp;
