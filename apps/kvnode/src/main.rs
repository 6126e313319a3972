//! kvnode: the data node process.
//!
//! Standalone (no etcd, no cluster file): one node serving the `default`
//! namespace over RESP, every write through raft and the WAL.

use anyhow::Context;
use clap::Parser;
use node::{Node, NodeConfig};
use redisapi::{Server, ServerConfig};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Partitions of the default namespace when the data directory is new.
    #[arg(long)]
    partitions: Option<u32>,
    /// Maximum number of connected clients.
    #[arg(long)]
    maxclients: Option<usize>,
}

/// The TOML file: the same settings as the flags.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    redis_addr: Option<String>,
    data_dir: Option<PathBuf>,
    requirepass: Option<String>,
    partitions: Option<u32>,
    maxclients: Option<usize>,
    /// Raft tick in milliseconds.
    raft_tick_ms: Option<u64>,
    /// Raft log entries kept per partition before compaction.
    log_compact_entries: Option<u64>,
    /// Milliseconds a write may wait for its outcome before UNCERTAIN.
    write_timeout_ms: Option<u64>,
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
    let mut scfg = ServerConfig { requirepass: args.requirepass.or(file.requirepass), ..Default::default() };
    if let Some(m) = args.maxclients.or(file.maxclients) {
        scfg.maxclients = m;
    }

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let node = Node::open_standalone(ncfg).await.context("opening the node")?;
        let listener = tokio::net::TcpListener::bind(&redis_addr)
            .await
            .with_context(|| format!("binding the RESP listener on {redis_addr}"))?;
        let local = listener.local_addr()?;
        tracing::info!(
            "kvnode standalone: serving RESP on {local}, data in {}, {} partition(s)",
            data_dir.display(),
            node.namespace().partitions.len()
        );
        let server = Server::new(node.clone(), scfg);
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
