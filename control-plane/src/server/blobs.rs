//! Component uploads: content-addressed, checked to be a component that wasmpod can run.

use super::{ApiError, AppState};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use wasmpod_api::client::BlobResponse;

pub async fn upload(
    State(state): State<AppState>,
    bytes: Bytes,
) -> Result<Json<BlobResponse>, ApiError> {
    wasmpod_inspect::inspect_component(&bytes)
        .map_err(|e| ApiError::invalid(format!("the uploaded file cannot run as a pod: {e}")))?;
    let blobs = state.blobs.clone();
    let size = bytes.len() as u64;
    let digest = tokio::task::spawn_blocking(move || blobs.put(&bytes))
        .await
        .map_err(|e| ApiError::internal(&e))??;
    tracing::info!(%digest, size, "component stored");
    Ok(Json(BlobResponse { digest, size }))
}

pub async fn exists(
    State(state): State<AppState>,
    Path(digest): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.blobs.exists(&digest)? {
        Ok(StatusCode::OK)
    } else {
        Err(ApiError::not_found(format!("no component {digest}")))
    }
}

pub async fn download(
    State(state): State<AppState>,
    Path(digest): Path<String>,
) -> Result<Response, ApiError> {
    let path = state.blobs.path(&digest)?;
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|_| ApiError::not_found(format!("no component {digest}")))?;
    Ok(([("content-type", "application/wasm")], bytes).into_response())
}
