//! The HTTP API (axum): objects, apply, watch, blobs, logs; the web dashboard's files at `/ui`.

mod activate;
mod api_span;
mod apply;
mod auth;
#[cfg(test)]
mod auth_tests;
mod blobs;
mod certificate_revocation;
mod client_certificate;
mod cluster;
mod error;
mod metrics;
mod node_certificate;
mod node_credential;
mod objects;
mod oci_resolve;
mod orphan;
pub use oci_resolve::CheckedLayers;
mod pod_config;
mod pod_logs;
mod pod_metrics;
mod pull_secrets;
mod scale;
mod selection;
mod tokens;
mod ui;
mod update;
mod watch;
mod whoami;

pub use auth::{Auth, Identity};
pub use error::ApiError;

use crate::blobs::BlobStore;
use crate::node_credentials::NodeCredentials;
use crate::registry::Registry;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::Router;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct AppState {
    /// Whether this server runs the controllers, and who else serves the API.
    pub leadership: crate::leader::Leadership,
    pub registry: Arc<Registry>,
    /// Each node's credential (SHA-256 only) and agent key.
    pub credentials: Arc<NodeCredentials>,
    /// The API tokens of people and tools (SHA-256 only), with their roles.
    pub tokens: Arc<crate::user_tokens::UserTokens>,
    pub blobs: Arc<BlobStore>,
    pub auth: Arc<Auth>,
    /// What this server presents to its peers, and accepts from them.
    pub peer_token: crate::peer::PeerToken,
    pub http: reqwest::Client,
    /// The cluster CA (with its key) when the API is served over TLS: it signs node certificates.
    pub authority: Option<Arc<crate::cluster_ca::ClusterAuthority>>,
    /// The client of the nodes' agents (mutual TLS with the cluster CA).
    pub agents: Arc<crate::node_agent::NodeAgents>,
    /// Resolves `oci://` tags at apply (plain HTTP only to `--insecure-registry` hosts).
    pub oci: wasmpod_api::oci::RegistryClient,
    /// Whether the OCI layers checked at apply can run as pods, by digest.
    pub oci_layers: Arc<CheckedLayers>,
    pub shutdown: CancellationToken,
}

/// `GET /version`: the server's version (public, as Kubernetes' `/version` is).
async fn version() -> axum::Json<wasmpod_api::client::VersionInfo> {
    axum::Json(wasmpod_api::client::VersionInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
    })
}

/// The largest component upload accepted (a Python component is tens of MB): the blob routes
/// only.
const MAX_BLOB: usize = 512 << 20;
/// The largest body of every other route (JSON objects, apply batches, statuses, events): a
/// ConfigMap or Secret is at most 1 MiB in Kubernetes, so a batch of a few fits; past it, 413.
pub const MAX_JSON_BODY: usize = 4 << 20;

pub fn router(state: AppState) -> Router {
    let router = routes(state);
    if api_span::exported() {
        return router.layer(axum::middleware::from_fn(api_span::api_span));
    }
    router
}

fn routes(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/version", get(version))
        .route("/metrics", get(metrics::render))
        .route("/api/v1/apply", post(apply::apply))
        .route(
            "/api/v1/blobs",
            post(blobs::upload).layer(DefaultBodyLimit::max(MAX_BLOB)),
        )
        .route("/api/v1/cluster", get(cluster::status))
        .route("/api/v1/whoami", get(whoami::whoami))
        .route("/api/v1/tokens", post(tokens::create).get(tokens::list))
        .route("/api/v1/tokens/{name}", delete(tokens::delete))
        .route(
            "/api/v1/clientcertificates",
            post(client_certificate::create).get(certificate_revocation::list),
        )
        .route(
            "/api/v1/clientcertificates/{name}",
            delete(certificate_revocation::revoke),
        )
        .route(
            "/api/v1/revokedcertificates",
            get(certificate_revocation::revoked),
        )
        .route(
            "/api/v1/nodecertificates",
            get(certificate_revocation::list_nodes),
        )
        .route(
            "/api/v1/blobs/{digest}",
            get(blobs::download)
                .head(blobs::exists)
                .put(blobs::replica)
                .layer(DefaultBodyLimit::max(MAX_BLOB)),
        )
        .route(
            "/api/v1/events",
            post(objects::report_event).get(objects::list_events),
        )
        .route("/api/v1/podmetrics", get(pod_metrics::list))
        .route(
            "/api/v1/namespaces/{namespace}/podmetrics",
            get(pod_metrics::in_namespace),
        )
        .route("/api/v1/{plural}", get(objects::list_or_watch))
        .route(
            "/api/v1/{plural}/{name}",
            get(objects::get_object)
                .delete(objects::delete_object)
                .put(objects::put_object),
        )
        .route("/api/v1/{plural}/{name}/status", put(objects::put_status))
        .route("/api/v1/{plural}/{name}/scale", post(scale::scale))
        .route("/api/v1/{plural}/{name}/log", get(pod_logs::logs))
        .route("/api/v1/{plural}/{name}/activate", post(activate::activate))
        .route(
            "/api/v1/{plural}/{name}/config",
            get(pod_config::pod_config),
        )
        .route(
            "/api/v1/{plural}/{name}/credential",
            post(node_credential::issue),
        )
        .route(
            "/api/v1/{plural}/{name}/certificate",
            post(node_certificate::issue),
        )
        // After routing: authorization sees the matched route and its decoded parameters.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authorize_route,
        ))
        // Outside authorization: refused requests are counted too.
        .route_layer(axum::middleware::from_fn(metrics::count))
        // The dashboard's static files: no data, so no token (the page sends one to the API).
        .merge(ui::router())
        // Each route's own limit (the blob routes') overrides this one.
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .with_state(state)
}
