//! INFO in Redis' text format.

use crate::server::Server;
use bytes::Bytes;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// The Redis version we answer as (the one whose behaviour we follow).
pub const REDIS_VERSION: &str = "7.0.15";

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

pub fn render(server: &Server, args: &[Bytes]) -> String {
    let wanted: Vec<String> = args.iter().map(|a| String::from_utf8_lossy(a).to_ascii_lowercase()).collect();
    let all = wanted.is_empty() || wanted.iter().any(|w| w == "all" || w == "everything" || w == "default");
    let show = |s: &str| all || wanted.iter().any(|w| w == s);
    let node = &server.node;
    let mut out = String::new();
    let uptime = server.started.elapsed().as_secs();
    if show("server") {
        let _ = write!(
            out,
            "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_mode:{}\r\nkvstore_version:{}\r\nos:{} {}\r\narch_bits:64\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nexecutable:kvnode\r\n\r\n",
            if node.cluster().is_some() { "cluster" } else { "standalone" },
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH,
            std::process::id(),
            server.port.load(Ordering::Relaxed),
            uptime / 86400,
        );
    }
    if show("cluster") {
        let _ = write!(out, "# Cluster\r\ncluster_enabled:{}\r\n\r\n", node.cluster().is_some() as u8);
    }
    if show("clients") {
        let cfg = server.cfg.read();
        let _ = write!(
            out,
            "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:{}\r\n\r\n",
            server.client_count(),
            cfg.maxclients,
            node.blocked_clients(),
        );
    }
    if show("memory") {
        let rss = rss_bytes();
        let _ = write!(
            out,
            "# Memory\r\nused_memory:{rss}\r\nused_memory_human:{:.2}M\r\nused_memory_rss:{rss}\r\nused_memory_disk:{}\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\nwal_cached_bytes:{}\r\n\r\n",
            rss as f64 / (1 << 20) as f64,
            node.store().disk_size(),
            node.wal().cached_bytes(),
        );
    }
    if show("persistence") {
        let w = node.wal();
        let _ = write!(
            out,
            "# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:0\r\naof_enabled:0\r\nraft_log_entries:{}\r\nwal_segments:{}\r\nwal_fsyncs:{}\r\nwal_bytes_written:{}\r\nwal_fsync_avg_us:{}\r\n\r\n",
            node.raft_log_entries(),
            w.segments().len(),
            w.stats.fsyncs.load(Ordering::Relaxed),
            w.stats.bytes_written.load(Ordering::Relaxed),
            {
                let n = w.stats.fsync_latency.count.load(Ordering::Relaxed);
                w.stats.fsync_latency.sum_us.load(Ordering::Relaxed).checked_div(n).unwrap_or(0)
            },
        );
    }
    if show("stats") {
        let s = &server.stats;
        let _ = write!(
            out,
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\ntotal_writes_proposed:{}\r\ntotal_reads:{}\r\n\r\n",
            s.connections_received.load(Ordering::Relaxed),
            s.commands_processed.load(Ordering::Relaxed),
            s.net_input_bytes.load(Ordering::Relaxed),
            s.net_output_bytes.load(Ordering::Relaxed),
            s.rejected_connections.load(Ordering::Relaxed),
            node.stats.expired_keys.load(Ordering::Relaxed),
            node.stats.writes.load(Ordering::Relaxed),
            node.stats.reads.load(Ordering::Relaxed),
        );
    }
    if show("keyspace") {
        let (keys, expires) = node.keyspace_counts();
        out.push_str("# Keyspace\r\n");
        if keys > 0 {
            let _ = write!(out, "db0:keys={keys},expires={expires},avg_ttl=0\r\n");
        }
        out.push_str("\r\n");
    }
    // Redis ends the last section without the blank line.
    while out.ends_with("\r\n\r\n") {
        out.truncate(out.len() - 2);
    }
    out
}
