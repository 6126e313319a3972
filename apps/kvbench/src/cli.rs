//! Command-line options. Names follow redis-benchmark where one exists
//! (-c clients, -n requests, -P pipeline, -r keyspace).

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use serde::Serialize;

use crate::keys::DistKind;
use crate::value::ValueSize;
use crate::workload::WorkloadKind;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "kvbench",
    version,
    about = "Throughput and latency of a RESP server (kvnode, Redis) or an etcd cluster"
)]
pub struct Args {
    /// Server address (host:port). Repeat for several nodes: clients are spread
    /// over them, or, with --cluster, keys are routed by slot.
    #[arg(long = "addr", default_value = "127.0.0.1:6379")]
    pub addrs: Vec<String>,
    /// Route each key to its slot's master as CLUSTER SLOTS reports it.
    #[arg(long)]
    pub cluster: bool,
    /// RESP (redis, kvnode) or etcd's gRPC API.
    #[arg(long, value_enum, default_value_t = Protocol::Redis)]
    pub protocol: Protocol,
    /// Connections (each one client).
    #[arg(short = 'c', long, default_value_t = 50)]
    pub clients: usize,
    /// Client threads (like redis-benchmark --threads; one thread by default,
    /// as redis-benchmark, so both measure with the same client CPU).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Requests each client keeps in flight (closed loop).
    #[arg(short = 'P', long, default_value_t = 1)]
    pub pipeline: usize,
    /// Total requests to complete after warmup (default 100000 unless --duration).
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// Seconds to measure after warmup (instead of --requests).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 0.0)]
    pub warmup: f64,
    /// Open loop: total requests per second, sent on schedule whatever the
    /// server does; latency counts from the intended send time.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Password sent with AUTH on every connection (etcd: user:password).
    #[arg(long)]
    pub auth: Option<String>,
    /// Namespace to work in (`AUTH <namespace> <password>`; needs --auth).
    #[arg(long)]
    pub namespace: Option<String>,
    #[arg(short = 'w', long, value_enum, default_value_t = WorkloadKind::Set)]
    pub workload: WorkloadKind,
    /// Share of reads in the `mixed` workload.
    #[arg(long, default_value_t = 0.8)]
    pub read_ratio: f64,
    /// How keys are picked from the key space.
    #[arg(long, value_enum, default_value_t = DistKind::Uniform)]
    pub distribution: DistKind,
    /// Exponent of the zipfian distribution (larger: hotter hot keys).
    #[arg(long, default_value_t = 0.99)]
    pub zipf_skew: f64,
    /// Number of distinct keys.
    #[arg(short = 'r', long, default_value_t = 100_000)]
    pub keyspace: u64,
    /// Value size in bytes: `64`, or a range `16-1024` picked uniformly.
    #[arg(short = 'd', long, default_value = "64", value_parser = ValueSize::parse)]
    pub value_size: ValueSize,
    /// Keys per MSET/MGET (they share a hash tag, so one slot).
    #[arg(long, default_value_t = 10)]
    pub batch_keys: u16,
    /// Check every read against what this run wrote; mismatches fail the run.
    /// Each client then writes only its own keys.
    #[arg(long)]
    pub verify: bool,
    /// Seconds to wait for one reply before counting it as a timeout.
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,
    /// Seed of the key and value choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the summary (and the per-second timeline) as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Draw throughput and latency over time and the percentile curve (.png or .svg).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Append this run as one row of a markdown table (header written if the file is new).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Name of this run in reports (default: workload and target).
    #[arg(long)]
    pub label: Option<String>,
    /// No live progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Redis,
    Etcd,
}

impl Args {
    /// The checks clap cannot express.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.clients > 0, "--clients must be at least 1");
        anyhow::ensure!(self.pipeline > 0, "--pipeline must be at least 1");
        anyhow::ensure!(self.threads > 0, "--threads must be at least 1");
        anyhow::ensure!(self.keyspace > 0, "--keyspace must be at least 1");
        anyhow::ensure!(self.batch_keys > 0, "--batch-keys must be at least 1");
        anyhow::ensure!((0.0..=1.0).contains(&self.read_ratio), "--read-ratio must be within 0..1");
        anyhow::ensure!(self.zipf_skew > 0.0, "--zipf-skew must be positive");
        anyhow::ensure!(self.warmup >= 0.0, "--warmup must not be negative");
        anyhow::ensure!(self.timeout > 0.0, "--timeout must be positive");
        if let Some(d) = self.duration {
            anyhow::ensure!(d > 0.0, "--duration must be positive");
            anyhow::ensure!(self.requests.is_none(), "give --requests or --duration, not both");
        }
        if let Some(r) = self.rate {
            anyhow::ensure!(r > 0.0, "--rate must be positive");
        }
        anyhow::ensure!(self.namespace.is_none() || self.auth.is_some(), "--namespace needs --auth");
        if self.protocol == Protocol::Etcd {
            anyhow::ensure!(
                self.workload.etcd_supported(),
                "workload {:?} has no etcd form (set, get and mixed do)",
                self.workload
            );
            anyhow::ensure!(!self.cluster, "--cluster is for RESP servers; etcd clients balance over every --addr");
            // One client's concurrent gRPC requests may be served in any
            // order, so a read could legitimately miss a write still in flight.
            anyhow::ensure!(
                !self.verify || (self.pipeline == 1 && self.rate.is_none()),
                "--verify with --protocol etcd needs --pipeline 1 and no --rate"
            );
        }
        Ok(())
    }

    /// Requests to complete when neither --requests nor --duration is given.
    pub fn request_budget(&self) -> Option<u64> {
        match (self.requests, self.duration) {
            (Some(n), _) => Some(n),
            (None, Some(_)) => None,
            (None, None) => Some(100_000),
        }
    }
}
