//! Cluster metadata shared by node, placedriver and clients, without RocksDB.

pub mod slot;
