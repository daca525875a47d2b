//! `GET /api/v1/podmetrics` (every namespace, or `?namespace=NS`) and
//! `GET /api/v1/namespaces/NS/podmetrics`: the live figures of pods, gathered from their nodes
//! (see [`crate::pod_metrics`]). Whoever may list pods there may read them.

use super::{ApiError, AppState};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use wasmpod_api::pod_metrics::PodMetricsList;

#[derive(Deserialize)]
pub struct NamespaceQuery {
    namespace: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<NamespaceQuery>,
) -> Result<Json<PodMetricsList>, ApiError> {
    gather(&state, query.namespace.as_deref()).await
}

pub async fn in_namespace(
    State(state): State<AppState>,
    Path(namespace): Path<String>,
) -> Result<Json<PodMetricsList>, ApiError> {
    gather(&state, Some(&namespace)).await
}

async fn gather(
    state: &AppState,
    namespace: Option<&str>,
) -> Result<Json<PodMetricsList>, ApiError> {
    crate::pod_metrics::gather(
        &state.registry,
        &state.credentials,
        &state.agents,
        namespace,
    )
    .await
    .map(Json)
    .map_err(ApiError::from)
}
