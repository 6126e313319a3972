//! Test support shared by the crates' tests and the integration tests in
//! `tests/tests/`: a TCP proxy that can cut, blackhole or delay a link.

pub mod proxy;
