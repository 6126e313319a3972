//! kvbench: a load generator for RESP servers (kvnode, Redis, Redis Cluster)
//! and etcd that reports what the client saw: throughput, latency from HDR
//! histograms (from the intended send time in open loop), errors by kind,
//! and, with --verify, reads that do not return what the run wrote.
//!
//! The path of one request: `runner` starts clients; a `workload::Generator`
//! plans an op (key from `keys`, value from `value`); `resp` or `etcd` sends
//! it; the reply goes to `stats::Recorder` and `verify::Checker`; `report`
//! and `plot` present the merged result.

pub mod cli;
pub mod etcd;
pub mod keys;
pub mod plot;
pub mod report;
pub mod resp;
pub mod runner;
pub mod schedule;
pub mod stats;
pub mod topology;
pub mod value;
pub mod verify;
pub mod workload;
