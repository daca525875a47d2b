//! Egress control for `wasi:http/outgoing-handler`: the service-mesh router first, then the pod's
//! allow-list of origins, everything else denied (and logged). This hook is the only egress path:
//! WASI sockets are disabled for every pod.

use crate::telemetry::{self, TARGET};
use crate::{PodLogs, RuntimeError};
use http::uri::Uri;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tracing::Instrument;
use wasmpod_api::origin::Origin;
use wasmpod_api::trace::{TraceParent, TRACEPARENT};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiHttpHooks};

/// The hop count of a service call chain: how many calls guests made to get here. The host sets
/// it on every outgoing request to the count of the request that started the instance plus one
/// (whatever the guest wrote); gateways refuse a request past their limit (a call loop).
pub const HOPS_HEADER: &str = "x-wasmpod-hops";

/// The hop count `headers` carry: absent or unreadable is 0 (a client can only raise its own).
pub fn hops_of(headers: &http::HeaderMap) -> u32 {
    headers
        .get(HOPS_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(0, |hops| u32::try_from(hops).unwrap_or(u32::MAX))
}

/// The body of requests and responses crossing the runtime (`wasmtime_wasi_http`'s body type).
pub type BoxBody = wasmtime_wasi_http::WasiBody;

/// A routed request's response, produced by the [`OutboundRouter`].
pub type RoutedFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<BoxBody>, HttpError>> + Send + 'static>>;

/// What the [`OutboundRouter`] did with a request (Spin's `InterceptOutcome`).
#[allow(
    clippy::large_enum_variant,
    reason = "handing the request back must not allocate on the hot path"
)]
pub enum RouteOutcome {
    /// The request is to a service this router serves: the future produces its response.
    Routed(RoutedFuture),
    /// Not one of this router's: the request handed back untouched, for the allow-list to judge.
    NotMine(http::Request<BoxBody>),
}

/// Lets the worker route a guest's outgoing `http://<service>/...` to a service (in process or to
/// another node).
pub trait OutboundRouter: Send + Sync + 'static {
    /// Routes the request if its host is a service this router serves. The URI is absolute
    /// (`http://hello/path`).
    fn route(&self, request: http::Request<BoxBody>) -> RouteOutcome;

    /// Told when the pod's call to `target` (an origin) was denied, so it can be reported.
    fn denied(&self, _target: &str) {}
}

/// A pod's egress policy, shared by all its stores.
pub(crate) struct Egress {
    pod: String,
    allowed: Vec<Origin>,
    router: Option<Arc<dyn OutboundRouter>>,
    logs: PodLogs,
}

impl Egress {
    pub(crate) fn new(
        pod: &str,
        allowed: &[String],
        router: Option<Arc<dyn OutboundRouter>>,
        logs: PodLogs,
    ) -> Result<Egress, RuntimeError> {
        let allowed = allowed
            .iter()
            .map(|s| Origin::parse(s))
            .collect::<Result<_, _>>()
            .map_err(|e| RuntimeError::InvalidSpec(e.to_string()))?;
        Ok(Egress {
            pod: pod.to_string(),
            allowed,
            router,
            logs,
        })
    }

    fn allows(&self, uri: &Uri) -> bool {
        self.allowed.iter().any(|o| o.allows(uri))
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;
type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<BoxBody>, IoFuture), HttpError>> + Send>;

/// The `WasiHttpHooks` of one store, with what the host carries from the request it serves to
/// the guest's outgoing calls, without the guest's help.
pub(crate) struct EgressHooks {
    pub(crate) egress: Arc<Egress>,
    /// The `traceparent` of the request served (if any), as it came: outgoing calls continue its
    /// trace. Read only when the guest makes one, as most requests make none.
    pub(crate) trace_parent: Option<http::HeaderValue>,
    /// The hop count of the request served: outgoing calls carry one more.
    pub(crate) hops: u32,
}

impl WasiHttpHooks for EgressHooks {
    fn send_request(
        &mut self,
        request: http::Request<BoxBody>,
        options: Option<RequestOptions>,
        fut: IoFuture,
    ) -> SendFuture {
        drop(fut);
        let egress = &self.egress;
        let mut request = request;
        request.headers_mut().insert(
            HOPS_HEADER,
            http::HeaderValue::from(self.hops.saturating_add(1)),
        );
        // The call's span is the child of the guest's execution (the current span).
        let span = tracing::info_span!(
            target: TARGET,
            "outbound",
            otel.kind = "client",
            http.request.method = %request.method(),
            server.address = request.uri().host().unwrap_or_default(),
            url.path = request.uri().path(),
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        if !request.headers().contains_key(TRACEPARENT) {
            // The callee's span is this call's child; without exported spans, a new span id.
            let traceparent = telemetry::traceparent_of(&span).or_else(|| {
                let parent = self.trace_parent.as_ref().and_then(TraceParent::parse);
                parent.map(|parent| parent.child().to_header())
            });
            if let Some(traceparent) = traceparent {
                request.headers_mut().insert(TRACEPARENT, traceparent);
            }
        }
        let request = match &egress.router {
            Some(router) => match span.in_scope(|| router.route(request)) {
                RouteOutcome::Routed(routed) => {
                    return Box::new(
                        async move {
                            let response = routed.await?;
                            record_status(response.status());
                            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
                        }
                        .instrument(span),
                    );
                }
                RouteOutcome::NotMine(request) => request,
            },
            None => request,
        };
        if egress.allows(request.uri()) {
            return Box::new(
                async move {
                    use http_body_util::BodyExt;
                    let (response, io) =
                        wasmtime_wasi_http::default_send_request(request, options).await?;
                    record_status(response.status());
                    Ok((
                        response.map(BodyExt::boxed_unsync),
                        Box::new(io) as IoFuture,
                    ))
                }
                .instrument(span),
            );
        }
        if !span.is_disabled() {
            span.record("otel.status_code", "ERROR");
        }
        let target = origin_of(request.uri());
        egress.logs.append_line(&format!(
            "outbound request to {target} denied (not in allowed outbound hosts)"
        ));
        tracing::info!(pod = %egress.pod, %target, "outbound request denied");
        if let Some(router) = &egress.router {
            router.denied(&target);
        }
        Box::new(async { Err(HttpError::HttpRequestDenied) })
    }
}

/// The answer's status in the call's span (the current one), when spans are exported.
fn record_status(status: http::StatusCode) {
    if telemetry::exporting() {
        tracing::Span::current().record("http.response.status_code", status.as_u16());
    }
}

fn origin_of(uri: &Uri) -> String {
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
        (_, Some(authority)) => authority.to_string(),
        _ => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_counts_parse_and_garbage_counts_as_none() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(hops_of(&headers), 0);
        headers.insert(HOPS_HEADER, http::HeaderValue::from_static("7"));
        assert_eq!(hops_of(&headers), 7);
        headers.insert(HOPS_HEADER, http::HeaderValue::from_static("99999999999"));
        assert_eq!(hops_of(&headers), u32::MAX);
        headers.insert(HOPS_HEADER, http::HeaderValue::from_static("-1"));
        assert_eq!(hops_of(&headers), 0);
    }
}
