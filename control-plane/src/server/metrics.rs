//! `GET /metrics` on the API server (any API token may read it; see [`super::auth`]), and the
//! layer counting every routed request by its verb (the authorizer's) and status class.

use super::auth::action;
use super::{ApiError, AppState};
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use wasmpod_api::metrics::status_class;
use wasmpod_api::{Kind, Pod, PodPhase};

pub async fn render(State(state): State<AppState>) -> Result<Response, ApiError> {
    let metrics = crate::metrics::get();
    let pods = state.registry.list_shared::<Pod>(Kind::Pod, None)?;
    let pending = pods
        .iter()
        .filter(|p| p.status.phase == PodPhase::Pending)
        .count();
    metrics
        .pods_pending
        .set(i64::try_from(pending).unwrap_or(i64::MAX));
    Ok((
        [(header::CONTENT_TYPE, wasmpod_api::metrics::CONTENT_TYPE)],
        metrics.registry.encode(),
    )
        .into_response())
}

/// Counts the request once answered: `wasmpod_api_requests_total{verb, code}`.
pub async fn count(
    matched: MatchedPath,
    params: RawPathParams,
    request: Request,
    next: Next,
) -> Response {
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let watch = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|pair| pair == "watch=true"));
    let verb = action(matched.as_str(), request.method(), &params, None, watch)
        .map_or("other", |a| a.verb.label());
    let response = next.run(request).await;
    crate::metrics::get()
        .api_requests
        .get(&[verb, status_class(response.status().as_u16())])
        .inc();
    response
}
