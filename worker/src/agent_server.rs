//! The node's own small API, for the control plane: pod logs.

use crate::context::NodeContext;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use std::sync::Arc;
use wasmpod_api::{Kind, ObjectKey};

#[derive(Deserialize)]
struct LogQuery {
    namespace: String,
    pod: String,
}

async fn logs(
    State(ctx): State<Arc<NodeContext>>,
    Query(q): Query<LogQuery>,
) -> Result<String, (StatusCode, String)> {
    let key = ObjectKey::new(Kind::Pod, &q.namespace, &q.pod);
    ctx.existing_logs(&key).map(|l| l.snapshot()).ok_or((
        StatusCode::NOT_FOUND,
        format!("pod {} has not run on node {}", q.pod, ctx.node),
    ))
}

pub fn router(ctx: Arc<NodeContext>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/logs", get(logs))
        .with_state(ctx)
}
