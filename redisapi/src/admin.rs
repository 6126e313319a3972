//! Introspection commands that monitoring tools and client libraries call:
//! ROLE, LATENCY, MODULE and MEMORY, answered as Redis 7.0 answers them for
//! what this server has (no replication role of Redis' kind, no latency
//! monitor samples, no modules), and MEMORY USAGE from the store.

use bytes::Bytes;
use node::command::MemoryUsage;
use node::num::parse_i64;
use node::reply::err;
use node::{Cmd, Reply};

use crate::local::{help, upper as word};

/// ROLE: every node takes writes for any key (a follower forwards them),
/// so each is a master without Redis replicas.
pub fn role() -> Reply {
    Reply::Array(vec![Reply::bulk("master"), Reply::Int(0), Reply::Array(vec![])])
}

/// LATENCY: the latency monitor is off, as by default in Redis
/// (`latency-monitor-threshold 0`), and never records samples here.
pub fn latency(argv: &[Bytes], stats: &crate::cmdstats::CommandStats) -> Reply {
    match word(&argv[1]).as_str() {
        "LATEST" => Reply::Array(vec![]),
        "HISTORY" => Reply::Array(vec![]),
        "RESET" => Reply::Int(0),
        "GRAPH" => Reply::error(format!("ERR No samples available for event '{}'", String::from_utf8_lossy(&argv[2]))),
        "HISTOGRAM" => {
            let names: Vec<String> = argv[2..].iter().map(|n| String::from_utf8_lossy(n).to_ascii_lowercase()).collect();
            stats.histogram((!names.is_empty()).then_some(&names[..]))
        }
        "DOCTOR" => Reply::Verbatim(
            "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \
             \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep \
             space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n"
                .into(),
        ),
        _ => help(&[
            "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
            "HELP",
            "    Prints this help.",
        ]),
    }
}

/// MODULE: none are loaded, and none may be (Debian's redis-server refuses
/// the command alike by default).
pub fn module(argv: &[Bytes]) -> Reply {
    match word(&argv[1]).as_str() {
        "LIST" => Reply::Array(vec![]),
        "LOAD" | "LOADEX" | "UNLOAD" => Reply::error(
            "ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it \
             from a local connection, otherwise you need to set this option in the configuration file, and then \
             restart the server.",
        ),
        _ => help(&[
            "MODULE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "LIST",
            "    Return a list of loaded modules.",
            "LOAD <path> [<arg> ...]",
            "    Load a module library from <path>, passing to it any optional arguments.",
            "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
            "    Load a module library from <path>, while passing it module configurations and optional arguments.",
            "UNLOAD <name>",
            "    Unload a module.",
            "HELP",
            "    Prints this help.",
        ]),
    }
}

/// MEMORY USAGE key [SAMPLES count], with Redis' argument checks.
pub fn memory_usage(argv: &[Bytes]) -> Result<Cmd, Reply> {
    let mut samples = 5;
    let mut j = 3;
    while j < argv.len() {
        if word(&argv[j]) == "SAMPLES" && j + 1 < argv.len() {
            let n = parse_i64(&argv[j + 1]).ok_or_else(|| Reply::error(err::NOT_INTEGER))?;
            if n < 0 {
                return Err(Reply::error(err::SYNTAX));
            }
            samples = n as u64;
            j += 2;
        } else {
            return Err(Reply::error(err::SYNTAX));
        }
    }
    Ok(Cmd::MemoryUsage(MemoryUsage { key: argv[2].clone(), samples }))
}

/// REPLICAOF / SLAVEOF: every node is already what `NO ONE` asks for; a
/// node never follows a Redis master (replicas here are raft replicas).
pub fn replicaof(argv: &[Bytes]) -> Reply {
    if word(&argv[1]) == "NO" && word(&argv[2]) == "ONE" {
        return Reply::Ok;
    }
    if parse_i64(&argv[2]).is_none_or(|p| !(0..=65535).contains(&p)) {
        return Reply::error("ERR Invalid master port");
    }
    Reply::error("ERR REPLICAOF is not supported: partitions are replicated by raft (see CLUSTER SHARDS)")
}

/// LOLWUT [VERSION v]: what Redis answers for a version without its own
/// art (the art of versions 5 and 6 is not drawn here).
pub fn lolwut(argv: &[Bytes]) -> Reply {
    if argv.len() >= 3 && word(&argv[1]) == "VERSION" && parse_i64(&argv[2]).is_none() {
        return Reply::error(err::NOT_INTEGER);
    }
    Reply::Verbatim(format!("Redis ver. {}\n", crate::info::REDIS_VERSION))
}

/// MEMORY's subcommands other than USAGE.
pub fn memory(argv: &[Bytes]) -> Reply {
    match word(&argv[1]).as_str() {
        "PURGE" => Reply::Ok,
        // What Redis built without jemalloc answers.
        "MALLOC-STATS" => Reply::Bulk(Bytes::from_static(b"Stats not supported for the current allocator")),
        "DOCTOR" => Reply::Verbatim(
            "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this \
             base.\n"
                .into(),
        ),
        _ => help(&[
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
            "HELP",
            "    Prints this help.",
        ]),
    }
}
