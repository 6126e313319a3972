//! kvnode: the data node process.
//!
//! Standalone (no etcd, no cluster file): one node serving the `default`
//! namespace over RESP, every write through raft and the WAL.
//!
//! Cluster (`--cluster cluster.toml --node-id N`): one node of a replicated
//! cluster; its RESP, raft and HTTP addresses come from the description.
//! `--bootstrap` creates the initial replicas on a new data directory.

mod admin;
mod http;
mod rdb_import;

use anyhow::Context;
use clap::Parser;
use node::{Node, NodeConfig};
use redisapi::{Server, ServerConfig};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// mimalloc rather than glibc's malloc: buffers are allocated on one thread
/// and freed on another (driver and connection threads) all the time, which
/// glibc's arenas handle with locks and consolidation passes.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(name = "kvnode", about = "A Redis-protocol key-value node on raft and RocksDB")]
struct Args {
    /// Address the RESP listener binds (clients connect here).
    #[arg(long)]
    redis_addr: Option<String>,
    /// Where the WAL and RocksDB live.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TOML configuration file; flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Password clients must AUTH with.
    #[arg(long)]
    requirepass: Option<String>,
    /// ACL file: users are read from it at the start and by ACL LOAD,
    /// written by ACL SAVE (without it, users last until the node stops).
    #[arg(long)]
    aclfile: Option<PathBuf>,
    /// Partitions of the default namespace when the data directory is new.
    #[arg(long)]
    partitions: Option<u32>,
    /// Maximum number of connected clients.
    #[arg(long)]
    maxclients: Option<usize>,
    /// The cluster description (cluster.toml): runs as one of its nodes.
    #[arg(long)]
    cluster: Option<PathBuf>,
    /// This node's id in the cluster description.
    #[arg(long)]
    node_id: Option<u64>,
    /// Create the initial replicas if the data directory is new. Without it
    /// a new node holds nothing until replicas are added to it.
    #[arg(long)]
    bootstrap: bool,
    /// What a node answers for a key whose partition another node leads:
    /// `forward` (relay the command to the leader) or `moved` (-MOVED).
    #[arg(long, value_parser = ["forward", "moved"])]
    redirect: Option<String>,
    /// Address of the HTTP endpoint (/health, /metrics); in cluster mode
    /// the description's http-addr is the default.
    #[arg(long)]
    http_addr: Option<String>,
    /// Prints the RDB file's keys and function libraries as the RESTORE and
    /// FUNCTION RESTORE commands that recreate them, for `redis-cli --pipe`,
    /// and exits (bringing a dataset over from Redis).
    #[arg(long, value_name = "FILE")]
    rdb_to_resp: Option<PathBuf>,
    /// Threads serving connections and the node-to-node transport (the raft
    /// driver has its own). Default: one per CPU. Several nodes on one
    /// machine do better sharing its CPUs out (scripts/cluster.sh does).
    #[arg(long)]
    workers: Option<usize>,
}

/// The TOML file: the same settings as the flags.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    redis_addr: Option<String>,
    data_dir: Option<PathBuf>,
    requirepass: Option<String>,
    aclfile: Option<PathBuf>,
    partitions: Option<u32>,
    maxclients: Option<usize>,
    /// Raft tick in milliseconds.
    raft_tick_ms: Option<u64>,
    /// Raft log entries kept per partition before compaction.
    log_compact_entries: Option<u64>,
    /// Milliseconds a write may wait for its outcome before UNCERTAIN.
    write_timeout_ms: Option<u64>,
    /// Milliseconds a read may wait for its read index.
    read_timeout_ms: Option<u64>,
    /// Serve reads on the leader's lease instead of a ReadIndex round trip.
    /// Faster, but linearizable only while clocks advance at similar rates
    /// (a paused or skewed leader may serve a stale read). Off by default.
    lease_read: Option<bool>,
    /// Raft election timeout in ticks.
    election_ticks: Option<usize>,
    /// Megabytes per second a node pulls snapshot files at (0: no limit).
    snapshot_bandwidth_mb: Option<u64>,
    /// Milliseconds after which a snapshot sent and not reported counts as failed.
    snapshot_deadline_ms: Option<u64>,
    cluster: Option<PathBuf>,
    node_id: Option<u64>,
    redirect: Option<String>,
    /// Seconds between a node's looks at whether partitions it leads should
    /// go back to their preferred nodes (0: never). Default 10.
    leader_balance_secs: Option<u64>,
    http_addr: Option<String>,
    workers: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,raft=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // A panic anywhere (above all in the raft driver's apply) must not leave a
    // process that accepts clients but can no longer write: crash, and let the
    // restart recover from the WAL.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        tracing::error!("panic: {info}; aborting");
        std::process::abort();
    }));
    let args = Args::parse();
    if let Some(path) = &args.rdb_to_resp {
        let (keys, libraries) = rdb_import::run(path)?;
        eprintln!("{keys} keys, {libraries} function libraries");
        return Ok(());
    }
    let file: FileConfig = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let redis_addr = args.redis_addr.or(file.redis_addr).unwrap_or_else(|| "127.0.0.1:6379".into());
    let data_dir = args.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("./data"));
    let mut ncfg = NodeConfig::standalone(data_dir.clone());
    ncfg.partitions = args.partitions.or(file.partitions).unwrap_or(1);
    if let Some(t) = file.raft_tick_ms {
        ncfg.raft.tick_interval = Duration::from_millis(t);
    }
    if let Some(n) = file.log_compact_entries {
        ncfg.log_compact_entries = n;
    }
    if let Some(ms) = file.write_timeout_ms {
        ncfg.write_timeout = Duration::from_millis(ms);
    }
    if let Some(ms) = file.read_timeout_ms {
        ncfg.read_timeout = Duration::from_millis(ms);
    }
    if let Some(l) = file.lease_read {
        ncfg.raft.lease_read = l;
    }
    if let Some(t) = file.election_ticks {
        ncfg.raft.election_tick = t;
    }
    if let Some(mb) = file.snapshot_bandwidth_mb {
        ncfg.snapshot_bandwidth = mb << 20;
    }
    if let Some(ms) = file.snapshot_deadline_ms {
        ncfg.raft.snapshot_deadline_ticks = (ms / ncfg.raft.tick_interval.as_millis().max(1) as u64).max(1);
    }
    let mut redis_addr = redis_addr;
    let mut http_addr = args.http_addr.or(file.http_addr);
    if let Some(path) = args.cluster.or(file.cluster) {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let spec = meta::cluster::ClusterSpec::parse(&text)
            .map_err(|e| anyhow::anyhow!("cluster description {}: {e}", path.display()))?;
        let id = args.node_id.or(file.node_id).context("--cluster needs --node-id")?;
        let me = spec.node(id).with_context(|| format!("node id {id} is not in {}", path.display()))?;
        redis_addr = me.redis_addr.clone();
        http_addr.get_or_insert_with(|| me.http_addr.clone());
        ncfg.node_id = id;
        let redirect_moved = match args.redirect.or(file.redirect).as_deref() {
            None | Some("forward") => false,
            Some("moved") => true,
            Some(other) => anyhow::bail!("--redirect must be forward or moved, not {other}"),
        };
        ncfg.cluster = Some(node::node::ClusterConfig {
            spec,
            bootstrap: args.bootstrap,
            redirect_moved,
            leader_balance: Duration::from_secs(file.leader_balance_secs.unwrap_or(10)),
        });
    }
    let mut scfg = ServerConfig {
        requirepass: args.requirepass.or(file.requirepass),
        aclfile: args.aclfile.or(file.aclfile),
        ..Default::default()
    };
    if ncfg.cluster.is_some() {
        scfg.inert.insert("cluster-enabled".into(), "yes".into());
    }
    if let Some(m) = args.maxclients.or(file.maxclients) {
        scfg.maxclients = m;
    }

    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.workers.or(file.workers) {
        anyhow::ensure!(n >= 1, "--workers must be at least 1");
        rt.worker_threads(n);
    }
    let rt = rt.enable_all().build()?;
    rt.block_on(async move {
        let node = Node::open(ncfg).await.context("opening the node")?;
        if let Some(addr) = &http_addr {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the HTTP listener on {addr}"))?;
            tracing::info!("HTTP (/health, /metrics) on {}", l.local_addr()?);
            tokio::spawn(http::serve(node.clone(), l));
        }
        let listener = tokio::net::TcpListener::bind(&redis_addr)
            .await
            .with_context(|| format!("binding the RESP listener on {redis_addr}"))?;
        let local = listener.local_addr()?;
        tracing::info!(
            "kvnode {} (node {}): serving RESP on {local}, data in {}, {} partition(s)",
            if node.cluster().is_some() { "cluster" } else { "standalone" },
            node.node_id(),
            data_dir.display(),
            node.namespace().partitions.len()
        );
        let server = Server::new(node.clone(), scfg).map_err(|e| anyhow::anyhow!("{e}"))?;
        let serving = tokio::spawn(server.clone().serve(listener));
        let mut stop = server.shutdown_signal();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = stop.changed() => tracing::info!("SHUTDOWN: shutting down"),
        }
        server.request_shutdown();
        let _ = serving.await;
        node.shutdown().await;
        tracing::info!("stopped");
        anyhow::Ok(())
    })?;
    rt.shutdown_timeout(Duration::from_secs(2));
    Ok(())
}
