//! The API server's span of each API request (`api`, with its method, route and status), exported
//! when the process runs with `--otlp-endpoint`: the binary exports the spans of target
//! [`TARGET`] (`wasmpod_runtime::telemetry::TARGET`; the control plane does not link the
//! runtime). Without an exporter the layer is not even added to the router.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The `tracing` target of the spans a wasmpod process exports.
pub const TARGET: &str = "wasmpod_trace";

/// Whether this process exports API spans (asked once, when the router is built).
pub fn exported() -> bool {
    tracing::span_enabled!(target: TARGET, tracing::Level::INFO)
}

/// Runs the request in its `api` span. The route is the matched pattern
/// (`/api/v1/{plural}/{name}`), never the path: no names in span attributes beyond it.
pub async fn api_span(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("", |m| m.as_str())
        .to_string();
    let span = tracing::info_span!(
        target: TARGET,
        "api",
        otel.kind = "server",
        http.request.method = %request.method(),
        http.route = route,
        http.response.status_code = tracing::field::Empty,
    );
    let response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    response
}
