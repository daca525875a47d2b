//! Serving one request: ingress rule -> service -> endpoint. A replica on this node is called in
//! process; otherwise the request is forwarded to a node that has one.

use super::activator::Activator;
use super::service_id::ServiceId;
use super::table::{Endpoints, Forwarder, RoutingTable};
use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use wasmpod_api::trace::{TraceParent, TRACEPARENT};
use wasmpod_runtime::{text_response, unavailable_response, BoxBody, HttpError};

/// Set on a request one gateway forwards to another: serve it from local replicas of this service.
pub const FORWARDED_SERVICE: &str = "x-wasmpod-service";
/// The forwarding node's name and forward key, presented with [`FORWARDED_SERVICE`]; without a
/// key matching that node's published hash the header is ignored, so a client cannot name a
/// service no ingress rule exposes.
const FORWARDING_NODE: &str = wasmpod_api::gateway_key::NODE_HEADER;
const FORWARD_KEY: &str = wasmpod_api::gateway_key::FORWARD_KEY_HEADER;

thread_local! {
    static FORWARD: Client<HttpConnector, BoxBody> = {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        // Idle connections are dropped before a peer's idle timeout (default 15 s) closes them.
        Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(64)
            .pool_idle_timeout(std::time::Duration::from_secs(4))
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .build(connector)
    };
}

pub fn boxed<B>(req: Request<B>) -> Request<BoxBody>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    HttpError: From<B::Error>,
{
    req.map(|b| b.map_err(HttpError::from).boxed_unsync())
}

/// Serves one request arriving at the gateway, in its `ingress` span (the child of the span its
/// `traceparent` names), which carries its trace id. With an `activator`, a request for a service
/// with no endpoint is held while it scales from zero.
pub async fn handle(
    table: Arc<RoutingTable>,
    activator: Option<&Activator>,
    mut req: Request<BoxBody>,
) -> Response<BoxBody> {
    // A client's traceparent is kept as it came (and returned); a request without one starts a
    // trace (at the ingress span, when spans are exported).
    let incoming = req.headers().get(TRACEPARENT).cloned();
    let span = super::spans::ingress(&req, incoming.as_ref());
    let traceparent = match incoming {
        Some(tp) => tp,
        None => {
            let tp = wasmpod_runtime::telemetry::traceparent_of(&span)
                .unwrap_or_else(|| TraceParent::new_root().to_header());
            req.headers_mut().insert(TRACEPARENT, tp.clone());
            tp
        }
    };
    super::spans::record_trace_id(&span, &traceparent);
    let mut response =
        tracing::Instrument::instrument(route(table, activator, req), span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    span.in_scope(|| tracing::debug!(status = response.status().as_u16(), "served"));
    response.headers_mut().insert(TRACEPARENT, traceparent);
    response
}

/// Answered until the routing table has synced: the route may well exist.
pub fn not_synced() -> Response<BoxBody> {
    unavailable_response("this node's gateway is starting: its routing table has not synced yet")
}

async fn route(
    table: Arc<RoutingTable>,
    activator: Option<&Activator>,
    mut req: Request<BoxBody>,
) -> Response<BoxBody> {
    if !table.synced() {
        return not_synced();
    }
    // None of these headers reaches a guest, and the service one counts only from a peer gateway.
    let node = req.headers_mut().remove(FORWARDING_NODE);
    let key = req.headers_mut().remove(FORWARD_KEY);
    let forwarded = req.headers_mut().remove(FORWARDED_SERVICE);
    let from_peer = match (&node, &key) {
        (Some(node), Some(key)) => {
            table.is_peer(node.as_bytes(), key.as_bytes())
                && super::peer_tls::certified(
                    table.peer_tls(),
                    node.as_bytes(),
                    req.extensions().get(),
                )
        }
        _ => false,
    };
    if let Some(service) = forwarded.filter(|_| from_peer) {
        let Some(service) = service.to_str().ok().and_then(ServiceId::parse) else {
            return unavailable_response("the forwarded service is not namespace/name");
        };
        if let Some(refused) = super::hops::check(&service, req.headers()) {
            return refused;
        }
        return match table.service(&service) {
            Some(endpoints) if !endpoints.local.is_empty() => {
                dispatch(endpoints.clone(), req, false).await
            }
            _ => unavailable_response(&format!(
                "service {service} has no ready endpoint on this node"
            )),
        };
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())
        .unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    match table.route(host, req.uri().path()) {
        Some(rule) => match super::hops::check(&rule.endpoints.service, req.headers()) {
            Some(refused) => refused,
            None => match activator {
                Some(activator) => match activator.endpoints(rule.endpoints.clone()).await {
                    Ok(endpoints) => dispatch(endpoints, req, true).await,
                    Err(unavailable) => unavailable,
                },
                None => dispatch(rule.endpoints.clone(), req, true).await,
            },
        },
        None => text_response(
            StatusCode::NOT_FOUND,
            &format!(
                "no ingress rule matches host {host:?} and path {:?}",
                req.uri().path()
            ),
        ),
    }
}

/// Sends `req` to one endpoint of `endpoints`: a local replica if there is one, else (when
/// allowed) another node's gateway.
/// A failed attempt of an idempotent request with no body is retried once on another replica.
pub async fn dispatch(
    endpoints: Arc<Endpoints>,
    req: Request<BoxBody>,
    allow_remote: bool,
) -> Response<BoxBody> {
    let span = super::spans::routing(&endpoints);
    tracing::Instrument::instrument(dispatch_to(endpoints, req, allow_remote), span).await
}

async fn dispatch_to(
    endpoints: Arc<Endpoints>,
    req: Request<BoxBody>,
    allow_remote: bool,
) -> Response<BoxBody> {
    let choices = if !endpoints.local.is_empty() {
        endpoints.local.len()
    } else if allow_remote {
        endpoints.remote.len()
    } else {
        0
    };
    if choices == 0 {
        return unavailable_response(&format!(
            "service {} has no ready endpoints",
            endpoints.service
        ));
    }
    let first = endpoints.pick(choices);
    let replay = (choices > 1 && retryable(&req)).then(|| replayable(&req));
    let response = attempt(&endpoints, first, req).await;
    match replay {
        Some(Some(again)) if failed(&response) => {
            tracing::debug!(service = %endpoints.service, status = response.status().as_u16(), "retrying on another replica");
            super::spans::record_retry();
            attempt(&endpoints, (first + 1) % choices, again).await
        }
        _ => response,
    }
}

async fn attempt(endpoints: &Endpoints, choice: usize, req: Request<BoxBody>) -> Response<BoxBody> {
    match endpoints.local.get(choice) {
        Some(pod) if !endpoints.local.is_empty() => {
            super::spans::record_endpoint(format_args!("pod {}", pod.http.name()));
            pod.handle(req).await
        }
        _ => match endpoints.remote.get(choice) {
            Some(gateway) => {
                super::spans::record_endpoint(format_args!("gateway {gateway}"));
                let span = super::spans::forward(gateway, &endpoints.service);
                let sent = forward(gateway, &endpoints.service, &endpoints.forwarder, req);
                let response = tracing::Instrument::instrument(sent, span.clone()).await;
                span.record("http.response.status_code", response.status().as_u16());
                response
            }
            None => unavailable_response("no endpoint"),
        },
    }
}

fn retryable(req: &Request<BoxBody>) -> bool {
    use http::Method;
    use http_body::Body;
    matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    ) && req.body().is_end_stream()
}

/// A copy of a request without a body, for the retry.
fn replayable(req: &Request<BoxBody>) -> Option<Request<BoxBody>> {
    let mut builder = Request::builder()
        .method(req.method().clone())
        .uri(req.uri().clone())
        .version(req.version());
    if let Some(headers) = builder.headers_mut() {
        *headers = req.headers().clone();
    }
    builder
        .body(
            http_body_util::Empty::new()
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .ok()
}

/// The replica failed (a trap, the runtime's 5xx, an unreachable node), not the guest's own answer.
/// A refused call loop is final: trying another replica would only repeat the loop.
fn failed(response: &Response<BoxBody>) -> bool {
    response.status().is_server_error()
        && response.status() != StatusCode::LOOP_DETECTED
        && response
            .headers()
            .contains_key(wasmpod_runtime::WASMPOD_ERROR_HEADER)
}

async fn forward(
    gateway: &str,
    service: &ServiceId,
    forwarder: &Forwarder,
    req: Request<BoxBody>,
) -> Response<BoxBody> {
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri: Uri = match format!("{gateway}{path}").parse() {
        Ok(uri) => uri,
        Err(_) => return text_response(StatusCode::BAD_GATEWAY, "cannot build the forwarding URL"),
    };
    if !parts.headers.contains_key(header::HOST) {
        if let Some(authority) = parts.uri.authority() {
            if let Ok(value) = HeaderValue::from_str(authority.as_str()) {
                parts.headers.insert(header::HOST, value);
            }
        }
    }
    parts.uri = uri;
    if let Ok(value) = HeaderValue::from_str(&service.to_string()) {
        parts.headers.insert(FORWARDED_SERVICE, value);
    }
    for (name, value) in [
        (FORWARDING_NODE, &forwarder.node),
        (FORWARD_KEY, &forwarder.key),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            parts.headers.insert(name, value);
        }
    }
    // The peer's ingress span is the child of this hop's span.
    if let Some(tp) = super::spans::current_traceparent() {
        parts.headers.insert(TRACEPARENT, tp);
    }
    let request = Request::from_parts(parts, body);
    let sent = match &forwarder.tls {
        Some(tls) if gateway.starts_with("https://") => {
            super::peer_tls::client(tls).request(request).await
        }
        _ => FORWARD.with(Clone::clone).request(request).await,
    };
    match sent {
        Ok(response) => response.map(|b| b.map_err(HttpError::from).boxed_unsync()),
        Err(error) => {
            tracing::warn!(%gateway, %service, %error, "forwarding failed");
            text_response(
                StatusCode::BAD_GATEWAY,
                &format!("node {gateway} did not answer for service {service}"),
            )
        }
    }
}
