//! INFO in Redis' text format.

use crate::server::Server;
use bytes::Bytes;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// The Redis version we answer as (the one whose behaviour we follow;
/// scripts see it too).
pub const REDIS_VERSION: &str = node::exec::script::REDIS_VERSION;

pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

/// The most resident memory the process has had (VmHWM).
fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// MEMORY STATS, with Redis 7.0's fields in its order. Memory is the
/// process's resident memory, as INFO's used_memory (the data itself lives
/// in RocksDB, on disk and in its caches); what Redis counts for replication
/// backlogs, AOF buffers and cluster links has no counterpart here and is 0;
/// the allocator's figures are the resident memory too (ratios 1).
pub fn memory_stats(server: &Server) -> node::Reply {
    use node::Reply;
    let total = rss_bytes();
    let peak = peak_rss_bytes().max(total);
    let startup = server.startup_rss.min(total);
    let clients = (server.inflight_bytes.load(Ordering::Relaxed) + server.output_bytes.load(Ordering::Relaxed)) as u64;
    let lua: u64 = server.scripts.lock().values().map(|b| b.len() as u64).sum();
    let functions: u64 = server.functions.codes().iter().map(|b| b.len() as u64).sum();
    let overhead = (startup + clients + lua + functions).min(total);
    let (keys, _) = server.node.keyspace_counts();
    let dataset = total - overhead;
    let net = total - startup;
    let int = |name: &'static str, v: u64| (Reply::bulk(name), Reply::Int(v as i64));
    let double = |name: &'static str, v: f64| (Reply::bulk(name), Reply::Double(v));
    let mut out = vec![
        int("peak.allocated", peak),
        int("total.allocated", total),
        int("startup.allocated", startup),
        int("replication.backlog", 0),
        int("clients.slaves", 0),
        int("clients.normal", clients),
        int("cluster.links", 0),
        int("aof.buffer", 0),
        int("lua.caches", lua),
        int("functions.caches", functions),
    ];
    if keys > 0 {
        out.push((
            Reply::bulk("db.0"),
            Reply::Map(vec![
                int("overhead.hashtable.main", 0),
                int("overhead.hashtable.expires", 0),
                int("overhead.hashtable.slot-to-keys", 0),
            ]),
        ));
    }
    out.extend([
        int("overhead.total", overhead),
        int("keys.count", keys),
        int("keys.bytes-per-key", net.checked_div(keys).unwrap_or(0)),
        int("dataset.bytes", dataset),
        double("dataset.percentage", if net == 0 { 0.0 } else { dataset as f64 * 100.0 / net as f64 }),
        double("peak.percentage", if peak == 0 { 0.0 } else { total as f64 * 100.0 / peak as f64 }),
        int("allocator.allocated", total),
        int("allocator.active", total),
        int("allocator.resident", total),
        double("allocator-fragmentation.ratio", 1.0),
        int("allocator-fragmentation.bytes", 0),
        double("allocator-rss.ratio", 1.0),
        int("allocator-rss.bytes", 0),
        double("rss-overhead.ratio", 1.0),
        int("rss-overhead.bytes", 0),
        double("fragmentation", 1.0),
        int("fragmentation.bytes", 0),
    ]);
    Reply::Map(out)
}

/// (user, system) CPU seconds this process used.
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces), from field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // /proc reports CPU time in USER_HZ ticks, 100 a second on Linux.
    (ticks(11) / 100.0, ticks(12) / 100.0)
}

pub fn render(server: &Server, args: &[Bytes]) -> String {
    let wanted: Vec<String> = args.iter().map(|a| String::from_utf8_lossy(a).to_ascii_lowercase()).collect();
    let every = wanted.iter().any(|w| w == "all" || w == "everything");
    let default = wanted.is_empty() || every || wanted.iter().any(|w| w == "default");
    // Per-command sections only when asked for, or with "all" (Redis).
    let show = |s: &str| {
        wanted.iter().any(|w| w == s) || if matches!(s, "commandstats" | "latencystats") { every } else { default }
    };
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
            "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:{}\r\ntracking_clients:{}\r\n\r\n",
            server.client_count(),
            cfg.maxclients,
            node.blocked_clients(),
            server.tracking.counts().0,
        );
    }
    if show("memory") {
        let rss = rss_bytes();
        let _ = write!(
            out,
            "# Memory\r\nused_memory:{rss}\r\nused_memory_human:{:.2}M\r\nused_memory_rss:{rss}\r\nused_memory_disk:{}\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\nnumber_of_cached_scripts:{}\r\nnumber_of_functions:{}\r\nwal_cached_bytes:{}\r\n\r\n",
            rss as f64 / (1 << 20) as f64,
            node.store().disk_size(),
            server.scripts.lock().len(),
            server.functions.function_count(),
            node.wal().cached_bytes(),
        );
    }
    if show("persistence") {
        let w = node.wal();
        let _ = write!(
            out,
            "# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:0\r\n{}aof_enabled:0\r\nraft_log_entries:{}\r\nwal_segments:{}\r\nwal_fsyncs:{}\r\nwal_bytes_written:{}\r\nwal_fsync_avg_us:{}\r\n\r\n",
            server.saves.info(),
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
        let tracking = server.tracking.counts();
        let _ = write!(
            out,
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\ntracking_total_keys:{}\r\ntracking_total_items:{}\r\ntracking_total_prefixes:{}\r\ntotal_error_replies:{}\r\ntotal_writes_proposed:{}\r\ntotal_reads:{}\r\n\r\n",
            s.connections_received.load(Ordering::Relaxed),
            s.commands_processed.load(Ordering::Relaxed),
            s.net_input_bytes.load(Ordering::Relaxed),
            s.net_output_bytes.load(Ordering::Relaxed),
            s.rejected_connections.load(Ordering::Relaxed),
            node.stats.expired_keys.load(Ordering::Relaxed),
            tracking.1,
            tracking.2,
            tracking.3,
            server.cmdstats.total_errors.load(Ordering::Relaxed),
            node.stats.writes.load(Ordering::Relaxed),
            node.stats.reads.load(Ordering::Relaxed),
        );
    }
    if show("replication") {
        // Every node takes writes for any key: a master, without Redis
        // replicas (replication is raft's, below this protocol).
        let _ = write!(
            out,
            "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n\r\n",
            "0".repeat(40),
            "0".repeat(40),
        );
    }
    if show("cpu") {
        let (user, sys) = cpu_seconds();
        let _ = write!(
            out,
            "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n\r\n"
        );
    }
    if show("modules") {
        out.push_str("# Modules\r\n\r\n");
    }
    type Section = fn(&crate::cmdstats::CommandStats, &mut String);
    let per_command: [(&str, &str, Section); 3] = [
        ("commandstats", "Commandstats", crate::cmdstats::CommandStats::commandstats),
        ("errorstats", "Errorstats", crate::cmdstats::CommandStats::errorstats),
        ("latencystats", "Latencystats", crate::cmdstats::CommandStats::latencystats),
    ];
    for (name, title, write_section) in per_command {
        if show(name) {
            let _ = write!(out, "# {title}\r\n");
            write_section(&server.cmdstats, &mut out);
            out.push_str("\r\n");
        }
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
