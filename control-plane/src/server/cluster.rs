//! `GET /api/v1/cluster`: the controller leader (holder, since, lease TTL) and the live API
//! servers, as `wasmpod get leases` shows them.

use super::{ApiError, AppState};
use axum::extract::State;
use axum::Json;
use wasmpod_api::cluster::ClusterStatus;

pub async fn status(State(state): State<AppState>) -> Result<Json<ClusterStatus>, ApiError> {
    let status = state.leadership.status().await.map_err(|error| {
        tracing::warn!(%error, "cannot read the election state");
        ApiError::unavailable("the election state cannot be read from the store now")
    })?;
    Ok(Json(status))
}
