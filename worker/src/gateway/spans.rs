//! The gateway's spans of a request (see `wasmpod_runtime::telemetry`): `ingress` (the request
//! arriving, the child of its `traceparent`), `routing` (the service and the endpoint chosen) and
//! `forward` (the hop to another node's gateway, whose `ingress` is its child). Disabled, and free,
//! unless the process exports spans.

use super::service_id::ServiceId;
use super::table::Endpoints;
use http::{HeaderValue, Request};
use tracing::field::{display, Empty};
use tracing::Span;
use wasmpod_api::trace::TraceParent;
use wasmpod_runtime::telemetry::{self, TARGET};
use wasmpod_runtime::BoxBody;

/// A request arriving at this gateway, from a client or a peer gateway: the child of the span its
/// `traceparent` names, if it has one.
pub fn ingress(req: &Request<BoxBody>, traceparent: Option<&HeaderValue>) -> Span {
    let span = tracing::info_span!(
        target: TARGET,
        "ingress",
        otel.kind = "server",
        http.request.method = %req.method(),
        url.path = req.uri().path(),
        trace_id = Empty,
        http.response.status_code = Empty,
    );
    if !span.is_disabled() {
        if let Some(parent) = traceparent.and_then(TraceParent::parse) {
            telemetry::set_remote_parent(&span, &parent);
        }
    }
    span
}

/// Records the trace id of `traceparent` (the request's, given or made here) in its ingress span.
pub fn record_trace_id(span: &Span, traceparent: &HeaderValue) {
    if !span.is_disabled() {
        if let Some(trace) = TraceParent::parse(traceparent) {
            span.record("trace_id", trace.trace_id());
        }
    }
}

/// Choosing an endpoint of `endpoints` (and the call to it).
pub fn routing(endpoints: &Endpoints) -> Span {
    tracing::info_span!(
        target: TARGET,
        "routing",
        wasmpod.service = %endpoints.service,
        wasmpod.node = %endpoints.forwarder.node,
        wasmpod.endpoint = Empty,
        wasmpod.retried = Empty,
    )
}

/// Records the endpoint chosen in the current routing span: a pod here, or another node.
pub fn record_endpoint(endpoint: impl std::fmt::Display) {
    if telemetry::exporting() {
        Span::current().record("wasmpod.endpoint", display(endpoint));
    }
}

/// Records in the current routing span that the first endpoint failed and another was tried.
pub fn record_retry() {
    if telemetry::exporting() {
        Span::current().record("wasmpod.retried", true);
    }
}

/// The `traceparent` of the current span, when spans are exported.
pub fn current_traceparent() -> Option<http::HeaderValue> {
    if !telemetry::exporting() {
        return None;
    }
    telemetry::traceparent_of(&Span::current())
}

/// The hop to `gateway`, another node's gateway, for `service`.
pub fn forward(gateway: &str, service: &ServiceId) -> Span {
    tracing::info_span!(
        target: TARGET,
        "forward",
        otel.kind = "client",
        server.address = gateway,
        wasmpod.service = %service,
        http.response.status_code = Empty,
    )
}
