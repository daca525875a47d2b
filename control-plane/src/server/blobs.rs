//! Component uploads: content-addressed, checked to be a component that wasmpod can run, and
//! kept by at least two servers when the control plane has several.
//!
//! - Upload: stored here, then copied to one other live server (`PUT /api/v1/blobs/{digest}`
//!   with the peer token) before the upload is acknowledged, so an acknowledged component
//!   survives the loss of any one server. With no other server registered the local copy is the
//!   only one; when other servers exist and none takes the copy, the upload fails (503).
//! - Read: a server that does not have a blob asks the live peers, checks the SHA-256 of what it
//!   gets against the digest, keeps it, and serves it. Peers' own requests are served from local
//!   copies only, so a miss never travels further than one hop.
//!
//! Blobs never go into the object store (etcd): the store holds the digests only.

use super::{ApiError, AppState, Identity};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use wasmpod_api::client::BlobResponse;

pub async fn upload(
    State(state): State<AppState>,
    bytes: Bytes,
) -> Result<Json<BlobResponse>, ApiError> {
    wasmpod_inspect::inspect_component(&bytes)
        .map_err(|e| ApiError::invalid(format!("the uploaded file cannot run as a pod: {e}")))?;
    let blobs = state.blobs.clone();
    let size = bytes.len() as u64;
    let local = bytes.clone();
    let digest = tokio::task::spawn_blocking(move || blobs.put(&local))
        .await
        .map_err(|e| ApiError::internal(&e))??;
    replicate(&state, &digest, bytes).await?;
    tracing::info!(%digest, size, "component stored");
    Ok(Json(BlobResponse { digest, size }))
}

/// Copies an upload to one other live server, if there is any.
async fn replicate(state: &AppState, digest: &str, bytes: Bytes) -> Result<(), ApiError> {
    let peers = state.leadership.peers().await.map_err(|error| {
        tracing::warn!(%error, "cannot list the other servers to replicate an upload");
        ApiError::unavailable("the upload cannot be replicated now: the servers cannot be listed")
    })?;
    if peers.is_empty() {
        return Ok(());
    }
    for peer in &peers {
        let sent = state
            .http
            .put(format!("{}/api/v1/blobs/{digest}", peer.url))
            .bearer_auth(state.peer_token.as_str())
            .header("content-type", "application/wasm")
            .body(bytes.clone())
            .send()
            .await;
        match sent {
            Ok(answer) if answer.status().is_success() => {
                tracing::info!(%digest, peer = %peer.name, "component replicated");
                return Ok(());
            }
            Ok(answer) => {
                tracing::warn!(%digest, peer = %peer.name, status = %answer.status(), "a peer refused the copy")
            }
            Err(error) => {
                tracing::warn!(%digest, peer = %peer.name, %error, "cannot reach a peer to replicate")
            }
        }
    }
    Err(ApiError::unavailable(format!(
        "the upload could not be copied to any of the {} other servers; it is not acknowledged",
        peers.len()
    )))
}

/// A peer's copy of an upload (peer token only): kept if its bytes have the digest.
pub async fn replica(
    State(state): State<AppState>,
    Path(digest): Path<String>,
    bytes: Bytes,
) -> Result<StatusCode, ApiError> {
    let blobs = state.blobs.clone();
    let kept = digest.clone();
    tokio::task::spawn_blocking(move || blobs.put_expecting(&kept, &bytes))
        .await
        .map_err(|e| ApiError::internal(&e))??;
    tracing::info!(%digest, "component copy from a peer stored");
    Ok(StatusCode::NO_CONTENT)
}

/// Makes a blob local if a peer has it (best effort; the caller then reads it locally).
pub async fn ensure_local(state: &AppState, digest: &str) -> Result<bool, ApiError> {
    if state.blobs.exists(digest)? {
        return Ok(true);
    }
    let peers = match state.leadership.peers().await {
        Ok(peers) => peers,
        Err(error) => {
            tracing::warn!(%error, "cannot list the other servers to fetch a component");
            return Ok(false);
        }
    };
    for peer in peers {
        let answer = state
            .http
            .get(format!("{}/api/v1/blobs/{digest}", peer.url))
            .bearer_auth(state.peer_token.as_str())
            .send()
            .await;
        let bytes = match answer {
            Ok(answer) if answer.status().is_success() => match answer.bytes().await {
                Ok(bytes) => bytes,
                Err(error) => {
                    tracing::warn!(%digest, peer = %peer.name, %error, "a peer's copy broke off");
                    continue;
                }
            },
            Ok(_) => continue,
            Err(error) => {
                tracing::warn!(%digest, peer = %peer.name, %error, "cannot reach a peer for a component");
                continue;
            }
        };
        let blobs = state.blobs.clone();
        let wanted = digest.to_string();
        let stored = tokio::task::spawn_blocking(move || blobs.put_expecting(&wanted, &bytes))
            .await
            .map_err(|e| ApiError::internal(&e))?;
        match stored {
            Ok(()) => {
                tracing::info!(%digest, peer = %peer.name, "component fetched from a peer");
                return Ok(true);
            }
            Err(error) => {
                tracing::warn!(%digest, peer = %peer.name, %error, "a peer's copy is refused")
            }
        }
    }
    Ok(false)
}

/// Whether this request may look for a missing blob at the peers: not when it comes from one.
fn may_ask_peers(identity: Option<&Extension<Identity>>) -> bool {
    !matches!(identity, Some(Extension(Identity::Peer)))
}

pub async fn exists(
    State(state): State<AppState>,
    identity: Option<Extension<Identity>>,
    Path(digest): Path<String>,
) -> Result<StatusCode, ApiError> {
    let here = if may_ask_peers(identity.as_ref()) {
        ensure_local(&state, &digest).await?
    } else {
        state.blobs.exists(&digest)?
    };
    if here {
        Ok(StatusCode::OK)
    } else {
        Err(ApiError::not_found(format!("no component {digest}")))
    }
}

pub async fn download(
    State(state): State<AppState>,
    identity: Option<Extension<Identity>>,
    Path(digest): Path<String>,
) -> Result<Response, ApiError> {
    if may_ask_peers(identity.as_ref()) {
        ensure_local(&state, &digest).await?;
    }
    let path = state.blobs.path(&digest)?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|_| ApiError::not_found(format!("no component {digest}")))?;
    Ok(([("content-type", "application/wasm")], bytes).into_response())
}
