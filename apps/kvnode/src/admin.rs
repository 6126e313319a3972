//! The membership admin API (HTTP, JSON), what the placedriver drives:
//!
//! - `GET  /admin/partitions`: each partition's leader, voters and learners
//!   (replica id and node) as this node sees them.
//! - `POST /admin/partitions/{p}/add-learner?node=N`: create a replica of
//!   partition p on node N (a new replica id) and add it as a learner; the
//!   leader fills it by snapshot.
//! - `POST /admin/partitions/{p}/promote?node=N`: make N's learner a voter
//!   once it has caught up (waits for that).
//! - `POST /admin/partitions/{p}/remove?node=N`: remove N's replica (if it
//!   leads, leadership moves to another voter first); the node destroys it.
//! - `POST /admin/partitions/{p}/transfer-leader?node=N`: waits until N leads.
//! - `POST /admin/nodes/{n}/rebuild`: for a node whose data directory was
//!   lost: each of its replicas is removed and replaced by a new learner on
//!   it, filled by snapshot and promoted.
//!
//! Any node takes any request and routes it to the partition's leader.
//! Every operation is idempotent; `timeout-ms` (default 30000; 120000 per
//! partition for rebuild) bounds the wait. Answers: 200 `{"ok":true,
//! "result":...}`; 400 for a wrong request; 503 when it did not complete in
//! time (no leader, another change pending, learner still behind): retry.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use node::membership::{AdminError, MemberChange};
use node::Node;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/admin/partitions", get(partitions))
        .route("/admin/partitions/:index/:op", post(change))
        .route("/admin/nodes/:node/rebuild", post(rebuild))
}

#[derive(Deserialize)]
struct ChangeParams {
    node: Option<u64>,
    #[serde(rename = "timeout-ms")]
    timeout_ms: Option<u64>,
}

fn answer(r: Result<serde_json::Value, AdminError>) -> Response {
    match r {
        Ok(v) => Json(serde_json::json!({ "ok": true, "result": v })).into_response(),
        Err(e) => {
            let code = match e {
                AdminError::Invalid(_) => StatusCode::BAD_REQUEST,
                AdminError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            (code, Json(serde_json::json!({ "ok": false, "error": e.to_string() }))).into_response()
        }
    }
}

async fn change(
    State(node): State<Arc<Node>>,
    Path((index, op)): Path<(u32, String)>,
    Query(q): Query<ChangeParams>,
) -> Response {
    let change = match op.as_str() {
        "add-learner" => MemberChange::AddLearner,
        "promote" => MemberChange::Promote,
        "remove" => MemberChange::Remove,
        "transfer-leader" => MemberChange::TransferLeader,
        _ => {
            return answer(Err(AdminError::Invalid(format!(
                "unknown operation {op} (add-learner, promote, remove, transfer-leader)"
            ))))
        }
    };
    let Some(target) = q.node else {
        return answer(Err(AdminError::Invalid("the node parameter is required".into())));
    };
    let timeout = Duration::from_millis(q.timeout_ms.unwrap_or(30_000));
    answer(node.change_membership(index, change, target, timeout).await.map(serde_json::Value::from))
}

async fn rebuild(State(node): State<Arc<Node>>, Path(target): Path<u64>, Query(q): Query<ChangeParams>) -> Response {
    let timeout = Duration::from_millis(q.timeout_ms.unwrap_or(120_000));
    answer(node.rebuild_node(target, timeout).await.map(serde_json::Value::from))
}

async fn partitions(State(node): State<Arc<Node>>) -> Response {
    let metrics = node.partition_metrics().await;
    let mut out = Vec::new();
    for v in node.partition_views().await {
        let mut p = serde_json::json!({
            "partition": v.index,
            "slots": [v.slots.0, v.slots.1 - 1],
            "leader": v.leader,
            "voter_nodes": v.nodes,
        });
        if let Some(s) = metrics.iter().find(|m| m.index == v.index).and_then(|m| m.status.as_ref()) {
            let located = |ids: &[u64]| -> Vec<serde_json::Value> {
                ids.iter()
                    .map(|r| {
                        let node = s.peers.iter().find(|(id, _)| id == r).map(|(_, n)| *n);
                        serde_json::json!({ "replica": r, "node": node })
                    })
                    .collect()
            };
            p["local_replica"] = s.replica_id.into();
            p["voters"] = located(&s.voters).into();
            p["learners"] = located(&s.learners).into();
            p["conf_change_pending"] = s.pending_conf.into();
        }
        out.push(p);
    }
    Json(out).into_response()
}
