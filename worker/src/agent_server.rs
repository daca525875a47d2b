//! The node's own small API, for the control plane: pod logs (`follow=true`: a chunked body that
//! streams the log as it grows, across the pod's restarts, until the pod leaves the node;
//! `previous=true`: the run before the current one) and pod figures. Every route but `/healthz`
//! and `/metrics` wants this node's agent key, which the control plane derives for this node
//! alone and handed to it with its credential (no key is shared by every node). `/metrics`
//! (Prometheus' text format) answers without a key: Prometheus scrapes it, and it carries counts
//! and timings by namespace, service and pod names, never a request's path or content. Its
//! connections have the same
//! header-read and idle timeouts as the gateway's.
//!
//! On a TLS cluster the agent speaks only mutual TLS (see [`crate::node_identity`]): the handshake
//! refuses a client without a cluster-CA certificate (so plain HTTP too), and every route but
//! `/healthz` also wants that certificate to be the control plane's, not another node's.

use crate::context::NodeContext;
use crate::listener::{self, ConnectionTimeouts, PeerCertificate, Tracked};
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
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
    #[serde(default)]
    follow: bool,
    #[serde(default)]
    previous: bool,
}

async fn logs(
    State(ctx): State<Arc<NodeContext>>,
    Query(q): Query<LogQuery>,
) -> Result<Response, (StatusCode, String)> {
    let key = ObjectKey::new(Kind::Pod, &q.namespace, &q.pod);
    let logs = ctx.existing_logs(&key).ok_or((
        StatusCode::NOT_FOUND,
        format!("pod {} has not run on node {}", q.pod, ctx.node),
    ))?;
    if q.previous {
        return logs.previous().map(IntoResponse::into_response).ok_or((
            StatusCode::NOT_FOUND,
            format!("pod {} has not restarted on node {}", q.pod, ctx.node),
        ));
    }
    if !q.follow {
        return Ok(logs.snapshot().into_response());
    }
    tracing::debug!(pod = %key, "following a pod's log");
    let chunks = futures::stream::unfold(logs.follow(), |mut follower| async move {
        let chunk = follower.next().await?;
        Some((Ok::<_, std::convert::Infallible>(chunk), follower))
    });
    Ok((
        [("content-type", "text/plain; charset=utf-8")],
        Body::from_stream(chunks),
    )
        .into_response())
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

/// Serves `app` on `listener` until `shutdown`, every connection under `timeouts`, over TLS
/// with `tls` (a config that asks for client certificates).
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    timeouts: ConnectionTimeouts,
    shutdown: CancellationToken,
) {
    listener::accept_loop(
        "node agent",
        listener,
        tls.map(tokio_rustls::TlsAcceptor::from),
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

/// The agent's routes. With `tls`, a request must also come with the control plane's
/// certificate.
fn from_control_plane(request: &Request) -> bool {
    request
        .extensions()
        .get::<PeerCertificate>()
        .is_some_and(|peer| {
            wasmpod_api::node_tls::certificate_names(
                &peer.0,
                wasmpod_api::node_tls::CONTROL_PLANE_NAME,
            )
        })
}

pub fn router(ctx: Arc<NodeContext>, agent_key: Arc<str>, tls: bool) -> Router {
    let require_key = move |request: Request, next: Next| {
        let key = agent_key.clone();
        async move {
            if tls && !from_control_plane(&request) {
                return Err((
                    StatusCode::FORBIDDEN,
                    "the node agent answers the control plane's certificate only",
                ));
            }
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
