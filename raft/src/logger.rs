//! raft-rs logs through slog; route it into tracing.

use slog::Drain;

pub fn raft_logger(node_id: u64) -> slog::Logger {
    slog::Logger::root(tracing_slog::TracingSlogDrain.fuse(), slog::o!("node" => node_id))
}
