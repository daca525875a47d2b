//! The node's own small API, for the control plane: pod logs and pod figures. Every route but
//! `/healthz` and `/metrics` wants this node's agent key, which the control plane derives for this
//! node alone and handed to it with its credential (no key is shared by every node). `/metrics`
//! (Prometheus' text format) answers without a key: Prometheus scrapes it, and it carries counts
//! and timings by namespace, service and pod names, never a request's path or content. Its connections have the same
//! header-read and idle timeouts as the gateway's.

use crate::context::NodeContext;
use crate::listener::{self, ConnectionTimeouts, Tracked};
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::routing::get;
use axum::Router;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
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

/// `GET /podmetrics`: the live figures of every pod on this node.
async fn pod_metrics(
    State(ctx): State<Arc<NodeContext>>,
) -> axum::Json<wasmpod_api::pod_metrics::PodMetricsList> {
    axum::Json(ctx.metrics.pod_metrics(&ctx.local))
}

/// `GET /metrics`: the node's Prometheus metrics.
async fn metrics(State(ctx): State<Arc<NodeContext>>) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            wasmpod_api::metrics::CONTENT_TYPE,
        )],
        ctx.metrics.render(&ctx.local),
    )
}

/// Serves `app` on `listener` until `shutdown`, every connection under `timeouts`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    timeouts: ConnectionTimeouts,
    shutdown: CancellationToken,
) {
    listener::accept_loop(
        "node agent",
        listener,
        None,
        timeouts,
        shutdown,
        move |activity| {
            let app = TowerToHyperService::new(app.clone());
            hyper::service::service_fn(move |req| {
                let in_flight = activity.enter();
                let call = hyper::service::Service::call(&app, req);
                async move {
                    call.await
                        .map(|response| response.map(|body| Tracked::new(body, in_flight)))
                }
            })
        },
    )
    .await;
}

pub fn router(ctx: Arc<NodeContext>, agent_key: Arc<str>) -> Router {
    let require_key = move |request: Request, next: Next| {
        let key = agent_key.clone();
        async move {
            let presented = request
                .headers()
                .get(wasmpod_api::gateway_key::AGENT_KEY_HEADER)
                .map(|v| v.as_bytes())
                .unwrap_or_default();
            if wasmpod_api::gateway_key::matches(&key, presented) {
                Ok(next.run(request).await)
            } else {
                Err((
                    StatusCode::UNAUTHORIZED,
                    "the node agent answers the control plane only",
                ))
            }
        }
    };
    Router::new()
        .route("/logs", get(logs))
        .route("/podmetrics", get(pod_metrics))
        .layer(axum::middleware::from_fn(require_key))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .with_state(ctx)
}
