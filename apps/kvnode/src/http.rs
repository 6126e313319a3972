//! The node's HTTP endpoint: `/health` (200 when every partition this node
//! holds a replica of has a leader, 503 otherwise; JSON body) and
//! `/metrics` (Prometheus text format); the membership admin API is in
//! `admin.rs`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use node::Node;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub async fn serve(node: Arc<Node>, listener: tokio::net::TcpListener) {
    let app = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .merge(crate::admin::routes())
        .with_state(node);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!("HTTP server stopped: {e}");
    }
}

async fn health(State(node): State<Arc<Node>>) -> impl IntoResponse {
    let metrics = node.partition_metrics().await;
    let leaderless: Vec<u32> =
        metrics.iter().filter(|m| m.status.as_ref().is_none_or(|s| s.leader_replica == 0)).map(|m| m.index).collect();
    let led =
        metrics.iter().filter(|m| m.status.as_ref().is_some_and(|s| s.role == kvraft::raft::StateRole::Leader)).count();
    let ok = leaderless.is_empty();
    let body = serde_json::json!({
        "status": if ok { "ok" } else { "degraded" },
        "node_id": node.node_id(),
        "mode": if node.cluster().is_some() { "cluster" } else { "standalone" },
        "replicas": metrics.len(),
        "leading": led,
        "partitions_without_leader": leaderless,
    });
    let code = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, [(header::CONTENT_TYPE, "application/json")], body.to_string())
}

fn role_name(r: kvraft::raft::StateRole) -> &'static str {
    match r {
        kvraft::raft::StateRole::Leader => "leader",
        kvraft::raft::StateRole::Follower => "follower",
        kvraft::raft::StateRole::Candidate => "candidate",
        kvraft::raft::StateRole::PreCandidate => "precandidate",
    }
}

async fn metrics(State(node): State<Arc<Node>>) -> impl IntoResponse {
    let mut out = String::new();
    let parts = node.partition_metrics().await;
    let gauge = |out: &mut String, name: &str, help: &str, kind: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    // Metrics of one unlabelled value: (name, help, type, value).
    let singles = |out: &mut String, metrics: &[(&str, &str, &str, u64)]| {
        for (name, help, kind, value) in metrics {
            gauge(out, name, help, kind);
            let _ = writeln!(out, "{name} {value}");
        }
    };
    gauge(&mut out, "kvnode_partition_role", "1 for the role this node's replica of the partition has", "gauge");
    for p in &parts {
        if let Some(s) = &p.status {
            let _ =
                writeln!(out, "kvnode_partition_role{{partition=\"{}\",role=\"{}\"}} 1", p.index, role_name(s.role));
        }
    }
    type Field = fn(&kvraft::GroupStatus) -> u64;
    let fields: [(&str, &str, &str, Field); 4] = [
        ("kvnode_partition_replica_id", "raft id of this node's replica (an incarnation)", "gauge", |s| s.replica_id),
        ("kvnode_partition_term", "current raft term", "gauge", |s| s.term),
        ("kvnode_partition_commit_index", "raft commit index", "gauge", |s| s.commit),
        ("kvnode_partition_applied_index", "index applied to RocksDB", "gauge", |s| s.applied),
    ];
    for (name, help, kind, f) in fields {
        gauge(&mut out, name, help, kind);
        for p in &parts {
            if let Some(s) = &p.status {
                let _ = writeln!(out, "{name}{{partition=\"{}\"}} {}", p.index, f(s));
            }
        }
    }
    gauge(&mut out, "kvnode_partition_log_first_index", "first index still in the raft log", "gauge");
    for p in &parts {
        let _ = writeln!(out, "kvnode_partition_log_first_index{{partition=\"{}\"}} {}", p.index, p.log_first_index);
    }
    gauge(&mut out, "kvnode_partition_proposals_total", "proposals handed to raft by this node", "counter");
    for p in &parts {
        let _ = writeln!(out, "kvnode_partition_proposals_total{{partition=\"{}\"}} {}", p.index, p.proposals);
    }
    let (sent, served) = node.forward_counts();
    gauge(
        &mut out,
        "kvnode_forwarded_requests_total",
        "requests forwarded to leaders (sent) and served for other nodes (served)",
        "counter",
    );
    let _ = writeln!(out, "kvnode_forwarded_requests_total{{direction=\"sent\"}} {sent}");
    let _ = writeln!(out, "kvnode_forwarded_requests_total{{direction=\"served\"}} {served}");
    gauge(
        &mut out,
        "kvnode_apply_version",
        "apply version of this node (node=\"self\") and as the other nodes announce it",
        "gauge",
    );
    let _ = writeln!(out, "kvnode_apply_version{{node=\"self\"}} {}", node::versions::own());
    for (n, v) in node.peer_versions() {
        let _ = writeln!(out, "kvnode_apply_version{{node=\"{n}\"}} {v}");
    }
    let ts = node.transport_stats();
    gauge(
        &mut out,
        "kvnode_transport_frames_total",
        "node-to-node frames (each carries raft messages, forwarded requests and replies batched)",
        "counter",
    );
    let _ =
        writeln!(out, "kvnode_transport_frames_total{{direction=\"sent\"}} {}", ts.frames_sent.load(Ordering::Relaxed));
    let _ = writeln!(
        out,
        "kvnode_transport_frames_total{{direction=\"received\"}} {}",
        ts.frames_received.load(Ordering::Relaxed)
    );
    singles(
        &mut out,
        &[
            (
                "kvnode_transport_raft_dropped_total",
                "raft message batches dropped at a full peer queue (raft sends again)",
                "counter",
                ts.raft_dropped.load(Ordering::Relaxed),
            ),
            (
                "kvnode_transport_connects_total",
                "connections made to peer nodes",
                "counter",
                ts.connects.load(Ordering::Relaxed),
            ),
        ],
    );
    let w = node.wal();
    let h = &w.stats.fsync_latency;
    gauge(&mut out, "kvnode_wal_fsync_seconds", "latency of the WAL's fdatasync", "histogram");
    let mut cumulative = 0;
    for (i, bound) in h.bounds_us.iter().enumerate() {
        cumulative += h.counts[i].load(Ordering::Relaxed);
        let _ = writeln!(out, "kvnode_wal_fsync_seconds_bucket{{le=\"{}\"}} {cumulative}", *bound as f64 / 1e6);
    }
    let count = h.count.load(Ordering::Relaxed);
    let _ = writeln!(out, "kvnode_wal_fsync_seconds_bucket{{le=\"+Inf\"}} {count}");
    let _ = writeln!(out, "kvnode_wal_fsync_seconds_sum {}", h.sum_us.load(Ordering::Relaxed) as f64 / 1e6);
    let _ = writeln!(out, "kvnode_wal_fsync_seconds_count {count}");
    let sc = node.snapshot_counts();
    singles(
        &mut out,
        &[
            (
                "kvnode_snapshot_pulls_failed_total",
                "snapshot pulls that failed (the leader sends again)",
                "counter",
                sc.pulls_failed,
            ),
            ("kvnode_snapshots_built_total", "partition snapshots built for other replicas", "counter", sc.built),
            ("kvnode_snapshots_installed_total", "partition snapshots installed here", "counter", sc.installed),
            (
                "kvnode_snapshot_bytes_received_total",
                "snapshot file bytes pulled from other nodes",
                "counter",
                sc.bytes_received,
            ),
            (
                "kvnode_snapshot_files_resumed_total",
                "snapshot files whose transfer resumed after a break",
                "counter",
                sc.files_resumed,
            ),
            (
                "kvnode_snapshot_installs_resumed_total",
                "snapshot installs a crash interrupted, finished at start",
                "counter",
                sc.installs_resumed,
            ),
            ("kvnode_raft_log_entries", "raft log entries held in the WAL", "gauge", node.raft_log_entries()),
            ("kvnode_writes_total", "write commands received", "counter", node.stats.writes.load(Ordering::Relaxed)),
            ("kvnode_reads_total", "read commands received", "counter", node.stats.reads.load(Ordering::Relaxed)),
        ],
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
