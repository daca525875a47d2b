//! The node's own small API, for the control plane: pod logs (`follow=true`: a chunked body that
//! streams the log as it grows, across the pod's restarts, until the pod leaves the node;
//! `previous=true`: the run before the current one) and pod figures. Every route but `/healthz`
//! and `/metrics` wants this node's agent key, which the control plane derives for this node
//! alone and handed to it with its credential (no key is shared by every node). `/metrics`
//! (Prometheus' text format) answers without a key: Prometheus scrapes it, and it carries counts
//! and timings by namespace, service and pod names, never a request's path or content. Its
//! connections have the same
//! header-read and idle timeouts as the gateway's.
//!
//! On a TLS cluster the agent speaks only mutual TLS (see [`crate::node_identity`]): the handshake
//! refuses a client without a cluster-CA client certificate (so plain HTTP too). `/metrics` and
//! `/healthz` then answer every such certificate: the control plane's, a node's, or a tool's
//! (`wasmpod create client-certificate NAME`, naming `NAME.clients.wasmpod`, for client
//! authentication only: what Prometheus presents to scrape a node). Every other route also
//! wants that certificate to be the control plane's (a node's or a tool's gets 403), and the
//! agent key.

use crate::context::NodeContext;
use crate::listener::{self, ConnectionTimeouts, PeerCertificate, Tracked};
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Router;
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use wasmpod_api::revocation::RevokedSerials;
use wasmpod_api::{Kind, ObjectKey};

#[derive(Deserialize)]
struct LogQuery {
    namespace: String,
    pod: String,
    #[serde(default)]
    follow: bool,
    #[serde(default)]
    previous: bool,
}

async fn logs(
    State(ctx): State<Arc<NodeContext>>,
    Query(q): Query<LogQuery>,
) -> Result<Response, (StatusCode, String)> {
    let key = ObjectKey::new(Kind::Pod, &q.namespace, &q.pod);
    let logs = ctx.existing_logs(&key).ok_or((
        StatusCode::NOT_FOUND,
        format!("pod {} has not run on node {}", q.pod, ctx.node),
    ))?;
    if q.previous {
        return logs.previous().map(IntoResponse::into_response).ok_or((
            StatusCode::NOT_FOUND,
            format!("pod {} has not restarted on node {}", q.pod, ctx.node),
        ));
    }
    if !q.follow {
        return Ok(logs.snapshot().into_response());
    }
    tracing::debug!(pod = %key, "following a pod's log");
    let chunks = futures::stream::unfold(logs.follow(), |mut follower| async move {
        let chunk = follower.next().await?;
        Some((Ok::<_, std::convert::Infallible>(chunk), follower))
    });
    Ok((
        [("content-type", "text/plain; charset=utf-8")],
        Body::from_stream(chunks),
    )
        .into_response())
}

/// `GET /podmetrics`: the live figures of every pod on this node.
async fn pod_metrics(
    State(ctx): State<Arc<NodeContext>>,
) -> axum::Json<wasmpod_api::pod_metrics::PodMetricsList> {
    axum::Json(ctx.metrics.pod_metrics(&ctx.local))
}

/// `GET /metrics`: the node's Prometheus metrics.
async fn metrics(State(ctx): State<Arc<NodeContext>>) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            wasmpod_api::metrics::CONTENT_TYPE,
        )],
        ctx.metrics.render(&ctx.local),
    )
}

/// Serves `app` on `listener` until `shutdown`, every connection under `timeouts`, over TLS
/// with `tls` (a config that asks for client certificates).
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: Router,
    timeouts: ConnectionTimeouts,
    shutdown: CancellationToken,
) {
    listener::accept_loop(
        "node agent",
        listener,
        tls.map(tokio_rustls::TlsAcceptor::from),
        timeouts,
        shutdown,
        move |activity| {
            let app = TowerToHyperService::new(app.clone());
            hyper::service::service_fn(move |req| {
                let in_flight = activity.enter();
                let call = hyper::service::Service::call(&app, req);
                async move {
                    call.await
                        .map(|response| response.map(|body| Tracked::new(body, in_flight)))
                }
            })
        },
    )
    .await;
}

/// Whether the request came with the control plane's certificate.
fn from_control_plane(request: &Request) -> bool {
    request
        .extensions()
        .get::<PeerCertificate>()
        .is_some_and(|peer| {
            wasmpod_api::node_tls::certificate_names(
                peer.der(),
                wasmpod_api::node_tls::CONTROL_PLANE_NAME,
            )
        })
}

/// The control plane's routes, with `tls`, refused to any certificate but the control plane's.
const CONTROL_PLANE_ONLY: &str = "the node agent answers the control plane's certificate only \
     (a node's or a tool's client certificate reads /metrics and nothing else)";

/// The agent's router; `revoked` on a TLS cluster (the certificates it refuses).
pub fn router(
    ctx: Arc<NodeContext>,
    agent_key: Arc<str>,
    revoked: Option<RevokedSerials>,
) -> Router {
    routes(
        get(logs),
        get(pod_metrics),
        get(metrics),
        agent_key,
        revoked,
    )
    .with_state(ctx)
}

/// The agent's routes around their handlers: `/logs` and `/podmetrics` behind the control
/// plane's certificate (on a TLS cluster, `revoked` given) and the agent key; `/metrics` and
/// `/healthz` open to every client the handshake let in. On a TLS cluster every route refuses
/// a revoked certificate (403): the handshake refuses it too, but a connection opened (or a TLS
/// session resumed) before the revocation brings no new handshake.
fn routes<S: Clone + Send + Sync + 'static>(
    logs: MethodRouter<S>,
    pod_metrics: MethodRouter<S>,
    metrics: MethodRouter<S>,
    agent_key: Arc<str>,
    revoked: Option<RevokedSerials>,
) -> Router<S> {
    let tls = revoked.is_some();
    let refuse_revoked = move |request: Request, next: Next| {
        let revoked = revoked.clone();
        async move {
            let certificate = request.extensions().get::<PeerCertificate>();
            if let (Some(revoked), Some(certificate)) = (&revoked, certificate) {
                if revoked.revokes(certificate.serial()) {
                    tracing::info!(
                        serial = %certificate.serial(),
                        "refused a request with a revoked client certificate"
                    );
                    return Err((StatusCode::FORBIDDEN, REVOKED));
                }
            }
            Ok(next.run(request).await)
        }
    };
    let require_key = move |request: Request, next: Next| {
        let key = agent_key.clone();
        async move {
            if tls && !from_control_plane(&request) {
                return Err((StatusCode::FORBIDDEN, CONTROL_PLANE_ONLY));
            }
            let presented = request
                .headers()
                .get(wasmpod_api::gateway_key::AGENT_KEY_HEADER)
                .map(|v| v.as_bytes())
                .unwrap_or_default();
            if wasmpod_api::gateway_key::matches(&key, presented) {
                Ok(next.run(request).await)
            } else {
                Err((
                    StatusCode::UNAUTHORIZED,
                    "the node agent answers the control plane only",
                ))
            }
        }
    };
    Router::new()
        .route("/logs", logs)
        .route("/podmetrics", pod_metrics)
        .layer(axum::middleware::from_fn(require_key))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", metrics)
        .layer(axum::middleware::from_fn(refuse_revoked))
}

/// What a request with a revoked certificate gets.
const REVOKED: &str = "this client certificate is revoked";

#[cfg(test)]
mod tests {
    //! The agent's routes over TLS, by the certificate the handshake let in: a tool's client
    //! certificate reads `/metrics` only; `/logs` and `/podmetrics` stay the control plane's.

    use super::*;
    use http_body_util::BodyExt;
    use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer};
    use rustls::pki_types::CertificateDer;

    /// A cluster-CA-like issuer and leaves naming `name` for `usages`.
    struct Ca {
        params: CertificateParams,
        key: rcgen::KeyPair,
    }

    impl Ca {
        fn new() -> Ca {
            let key = rcgen::KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            Ca { params, key }
        }

        fn leaf(&self, name: &str, usages: Vec<ExtendedKeyUsagePurpose>) -> PeerCertificate {
            let key = rcgen::KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(vec![name.to_string()]).expect("params");
            params.extended_key_usages = usages;
            let leaf = params
                .signed_by(&key, &Issuer::new(self.params.clone(), &self.key))
                .expect("leaf");
            PeerCertificate::read(CertificateDer::from(leaf.der().to_vec())).expect("a certificate")
        }
    }

    const KEY: &str = "the-agent-key";

    /// The status and body of `GET path` from a client presenting `peer`, with the agent key.
    async fn get_as(app: &Router, path: &str, peer: Option<&PeerCertificate>) -> (u16, String) {
        let mut request = Request::builder()
            .uri(path)
            .header(wasmpod_api::gateway_key::AGENT_KEY_HEADER, KEY)
            .body(Body::empty())
            .expect("request");
        if let Some(peer) = peer {
            request.extensions_mut().insert(peer.clone());
        }
        let service = TowerToHyperService::new(app.clone());
        let response = hyper::service::Service::call(&service, request)
            .await
            .expect("infallible");
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        (status, body)
    }

    fn app(revoked: Option<RevokedSerials>) -> Router {
        routes(
            get(|| async { "the logs" }),
            get(|| async { "the pod figures" }),
            get(|| async { "the metrics" }),
            Arc::from(KEY),
            revoked,
        )
    }

    #[tokio::test]
    async fn a_tools_client_certificate_reads_metrics_and_nothing_else() {
        use ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
        let ca = Ca::new();
        let tool = ca.leaf(
            &wasmpod_api::client_certificate::client_dns_name("prometheus"),
            vec![ClientAuth],
        );
        let node = ca.leaf(
            &wasmpod_api::node_tls::node_dns_name("node-a"),
            vec![ServerAuth, ClientAuth],
        );
        let control_plane = ca.leaf(wasmpod_api::node_tls::CONTROL_PLANE_NAME, vec![ClientAuth]);
        let app = app(Some(RevokedSerials::default()));
        assert_eq!(
            get_as(&app, "/metrics", Some(&tool)).await,
            (200, "the metrics".into())
        );
        for path in ["/logs", "/podmetrics"] {
            for (who, peer) in [
                ("a tool", Some(&tool)),
                ("a node", Some(&node)),
                ("nobody", None),
            ] {
                let (status, body) = get_as(&app, path, peer).await;
                assert_eq!(status, 403, "{path} as {who}: {body}");
                assert!(body.contains("/metrics and nothing else"), "{body}");
            }
        }
        // The control plane's certificate (with the key) keeps its routes.
        assert_eq!(
            get_as(&app, "/logs", Some(&control_plane)).await,
            (200, "the logs".into())
        );
        assert_eq!(
            get_as(&app, "/podmetrics", Some(&control_plane)).await.0,
            200
        );
        assert_eq!(get_as(&app, "/metrics", Some(&node)).await.0, 200);
        assert_eq!(get_as(&app, "/healthz", Some(&tool)).await.0, 200);
        // A plain cluster has no certificates: the agent key decides.
        assert_eq!(get_as(&app_plain(), "/logs", None).await.0, 200);
    }

    fn app_plain() -> Router {
        app(None)
    }

    #[tokio::test]
    async fn a_revoked_certificate_is_refused_on_every_route_of_an_open_connection() {
        use ExtendedKeyUsagePurpose::ClientAuth;
        let ca = Ca::new();
        let tool = ca.leaf(
            &wasmpod_api::client_certificate::client_dns_name("prometheus"),
            vec![ClientAuth],
        );
        let control_plane = ca.leaf(wasmpod_api::node_tls::CONTROL_PLANE_NAME, vec![ClientAuth]);
        let revoked = RevokedSerials::default();
        let app = app(Some(revoked.clone()));
        assert_eq!(get_as(&app, "/metrics", Some(&tool)).await.0, 200);
        revoked.replace([tool.serial().clone()]);
        for path in ["/metrics", "/healthz", "/logs"] {
            let (status, body) = get_as(&app, path, Some(&tool)).await;
            assert_eq!(status, 403, "{path}: {body}");
            assert!(body.contains("revoked"), "{body}");
        }
        // Another certificate is not touched.
        assert_eq!(get_as(&app, "/logs", Some(&control_plane)).await.0, 200);
        assert_eq!(get_as(&app, "/metrics", Some(&control_plane)).await.0, 200);
    }
}
