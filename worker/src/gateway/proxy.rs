//! Serving one request: ingress rule -> service -> endpoint. A replica on this node is called in
//! process; otherwise the request is forwarded to a node that has one.

use super::table::{Endpoints, RoutingTable};
use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use wasmpod_runtime::{text_response, BoxBody, HttpError};

/// Set on a request one gateway forwards to another: serve it from local replicas of this service.
pub const FORWARDED_SERVICE: &str = "x-wasmpod-service";

thread_local! {
    static FORWARD: Client<HttpConnector, BoxBody> = {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Client::builder(TokioExecutor::new()).pool_max_idle_per_host(64).build(connector)
    };
}

pub fn boxed<B>(req: Request<B>) -> Request<BoxBody>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    HttpError: From<B::Error>,
{
    req.map(|b| b.map_err(HttpError::from).boxed_unsync())
}

pub async fn handle(table: Arc<RoutingTable>, req: Request<BoxBody>) -> Response<BoxBody> {
    if let Some(service) = req.headers().get(FORWARDED_SERVICE) {
        let service = service.to_str().unwrap_or_default().to_string();
        return match table.service(&service) {
            Some(endpoints) if !endpoints.local.is_empty() => dispatch(endpoints.clone(), req, false).await,
            _ => text_response(StatusCode::SERVICE_UNAVAILABLE, &format!("service {service} has no ready endpoint on this node\n")),
        };
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().host())
        .unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, port)| if port.bytes().all(|b| b.is_ascii_digit()) { h } else { host });
    match table.route(host, req.uri().path()) {
        Some(rule) => dispatch(rule.endpoints.clone(), req, true).await,
        None => text_response(
            StatusCode::NOT_FOUND,
            &format!("no ingress rule matches host {host:?} and path {:?}\n", req.uri().path()),
        ),
    }
}

/// Sends `req` to one endpoint of `endpoints`: a local replica if there is one, else (when
/// allowed) another node's gateway.
pub async fn dispatch(endpoints: Arc<Endpoints>, req: Request<BoxBody>, allow_remote: bool) -> Response<BoxBody> {
    if !endpoints.local.is_empty() {
        let pod = &endpoints.local[endpoints.pick(endpoints.local.len())];
        return pod.handle(req).await;
    }
    if allow_remote && !endpoints.remote.is_empty() {
        let gateway = endpoints.remote[endpoints.pick(endpoints.remote.len())].clone();
        return forward(&gateway, &endpoints.service, req).await;
    }
    text_response(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("service {} has no ready endpoints\n", endpoints.service),
    )
}

async fn forward(gateway: &str, service: &str, req: Request<BoxBody>) -> Response<BoxBody> {
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri: Uri = match format!("{gateway}{path}").parse() {
        Ok(uri) => uri,
        Err(_) => return text_response(StatusCode::BAD_GATEWAY, "cannot build the forwarding URL\n"),
    };
    if !parts.headers.contains_key(header::HOST) {
        if let Some(authority) = parts.uri.authority() {
            if let Ok(value) = HeaderValue::from_str(authority.as_str()) {
                parts.headers.insert(header::HOST, value);
            }
        }
    }
    parts.uri = uri;
    if let Ok(value) = HeaderValue::from_str(service) {
        parts.headers.insert(FORWARDED_SERVICE, value);
    }
    let client = FORWARD.with(Clone::clone);
    match client.request(Request::from_parts(parts, body)).await {
        Ok(response) => response.map(|b| b.map_err(HttpError::from).boxed_unsync()),
        Err(error) => {
            tracing::warn!(%gateway, %service, %error, "forwarding failed");
            text_response(StatusCode::BAD_GATEWAY, &format!("node {gateway} did not answer for service {service}\n"))
        }
    }
}
