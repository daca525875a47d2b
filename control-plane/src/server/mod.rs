//! The HTTP API (axum): objects, apply, watch, blobs, logs.

mod apply;
mod auth;
mod blobs;
mod error;
mod objects;
mod pod_config;
mod watch;

pub use auth::Auth;
pub use error::ApiError;

use crate::blobs::BlobStore;
use crate::registry::Registry;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post, put};
use axum::Router;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    /// What gateways present to each other on forwarded requests (see [`gateway_key`]).
    pub gateway_key: Arc<str>,
    pub blobs: Arc<BlobStore>,
    pub auth: Arc<Auth>,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
}

/// The largest component upload accepted (a Python component is tens of MB).
const MAX_BLOB: usize = 512 << 20;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/apply", post(apply::apply))
        .route("/api/v1/blobs", post(blobs::upload))
        .route(
            "/api/v1/gateway-key",
            get(|State(state): State<AppState>| async move {
                axum::Json(serde_json::json!({ "key": &*state.gateway_key }))
            }),
        )
        .route(
            "/api/v1/blobs/{digest}",
            get(blobs::download).head(blobs::exists),
        )
        .route(
            "/api/v1/events",
            post(objects::report_event).get(objects::list_events),
        )
        .route("/api/v1/{plural}", get(objects::list_or_watch))
        .route(
            "/api/v1/{plural}/{name}",
            get(objects::get_object)
                .delete(objects::delete_object)
                .put(objects::put_object),
        )
        .route("/api/v1/{plural}/{name}/status", put(objects::put_status))
        .route("/api/v1/{plural}/{name}/scale", post(objects::scale))
        .route("/api/v1/{plural}/{name}/log", get(objects::logs))
        .route(
            "/api/v1/{plural}/{name}/config",
            get(pod_config::pod_config),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(DefaultBodyLimit::max(MAX_BLOB))
        .with_state(state)
}

/// The gateways' shared key, derived one way from the cluster's secrets key (so it survives
/// restarts and reveals nothing of that key). A gateway honours `x-wasmpod-service` only from a
/// peer presenting it: an outside client cannot reach a service no ingress rule exposes.
pub fn gateway_key(secrets_key: &[u8; 32]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(b"wasmpod gateway forwarding key\0");
    hash.update(secrets_key);
    hex::encode(hash.finalize())
}
