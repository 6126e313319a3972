//! Cluster metadata shared by node, placedriver and clients, without RocksDB.

pub mod cluster;
pub mod slot;
