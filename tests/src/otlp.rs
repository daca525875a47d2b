//! An OTLP/HTTP receiver for the tests: `POST /v1/traces` on a free loopback port, the protobuf
//! `ExportTraceServiceRequest` decoded (with `opentelemetry-proto`) into [`ReceivedSpan`]s that a
//! test reads. Plain HTTP, or HTTPS with a certificate the test makes ([`OtlpReceiver::start_tls`]),
//! which can require headers (an API key) of every export, as hosted collectors do, or a client
//! certificate of a CA ([`OtlpReceiver::start_mutual_tls`]); or a receiver that stalls each export
//! ([`OtlpReceiver::start_stalling`]). It runs on a runtime of its own, on a thread, until dropped.

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use prost::Message;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One span as a collector receives it, ids in lower-case hex.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// The resource's `service.name` (`wasmpod-node`, `wasmpod-server`).
    pub service: String,
    /// The resource's `service.instance.id`: the node's (or server's) name.
    pub instance: String,
    /// Every attribute of the resource.
    pub resource: BTreeMap<String, String>,
    pub attributes: BTreeMap<String, String>,
    /// The span's status: `UNSET`, `OK` or `ERROR`.
    pub status: &'static str,
}

impl ReceivedSpan {
    pub fn attribute(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }
}

/// The receiver; its URL is what `--otlp-endpoint` takes.
pub struct OtlpReceiver {
    pub url: String,
    seen: Arc<Seen>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the receiver saw.
#[derive(Default)]
struct Seen {
    /// Export requests that reached the handler (answered or not).
    exports: AtomicUsize,
    spans: Mutex<Vec<ReceivedSpan>>,
    /// Exports refused for a missing or wrong required header: the header's name.
    refused: Mutex<Vec<String>>,
    /// TLS handshakes that failed (the client refused the certificate, or spoke no TLS).
    handshakes_failed: Mutex<Vec<String>>,
}

/// What the receiver's handler needs.
#[derive(Clone)]
struct Receiving {
    seen: Arc<Seen>,
    /// Headers every export must carry, with these values.
    required: Arc<Vec<(String, String)>>,
    /// How long each export waits before it is answered (cut short when the receiver stops).
    stall: Option<Duration>,
    /// Turns true when the receiver stops.
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl OtlpReceiver {
    /// A plain HTTP receiver that takes every export.
    pub fn start() -> OtlpReceiver {
        OtlpReceiver::start_on(None, &[], None)
    }

    /// A plain HTTP receiver that answers each export only after `delay`: a collector that
    /// hangs.
    pub fn start_stalling(delay: Duration) -> OtlpReceiver {
        OtlpReceiver::start_on(None, &[], Some(delay))
    }

    /// An HTTPS receiver serving `cert_pem` (for 127.0.0.1) with its key `key_pem`, which
    /// completes a handshake only with a client certificate that `client_ca_pem` signed.
    pub fn start_mutual_tls(cert_pem: &str, key_pem: &str, client_ca_pem: &str) -> OtlpReceiver {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(client_ca_pem.as_bytes()) {
            roots.add(ca.expect("the client CA")).expect("a CA");
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("the client verifier");
        let (chain, key) = server_identity(cert_pem, key_pem);
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .expect("the receiver's TLS config");
        OtlpReceiver::start_on(Some(Arc::new(config)), &[], None)
    }

    /// An HTTPS receiver serving `cert_pem` (for 127.0.0.1) with its key `key_pem`, which refuses
    /// (401) an export that lacks any of the `required` headers (name, value).
    pub fn start_tls(cert_pem: &str, key_pem: &str, required: &[(&str, &str)]) -> OtlpReceiver {
        let (chain, key) = server_identity(cert_pem, key_pem);
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("the receiver's TLS config");
        OtlpReceiver::start_on(Some(Arc::new(config)), required, None)
    }

    fn start_on(
        tls: Option<Arc<rustls::ServerConfig>>,
        required: &[(&str, &str)],
        stall: Option<Duration>,
    ) -> OtlpReceiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the OTLP receiver");
        listener.set_nonblocking(true).expect("nonblocking");
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}", listener.local_addr().expect("local addr"));
        let seen = Arc::new(Seen::default());
        let (stopping_tx, stopping) = tokio::sync::watch::channel(false);
        let receiving = Receiving {
            stall,
            stopping,
            seen: seen.clone(),
            required: Arc::new(
                required
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the receiver's runtime");
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                let failures = receiving.seen.clone();
                let app = axum::Router::new()
                    .route("/v1/traces", axum::routing::post(receive))
                    .with_state(receiving);
                let stopped = async move {
                    let _ = stopped.await;
                    // Stalled exports end now, so that the graceful shutdown does not wait.
                    let _ = stopping_tx.send(true);
                };
                let served = match tls {
                    None => {
                        axum::serve(listener, app)
                            .with_graceful_shutdown(stopped)
                            .await
                    }
                    Some(config) => {
                        let listener = TlsListener {
                            tcp: listener,
                            acceptor: tokio_rustls::TlsAcceptor::from(config),
                            seen: failures,
                        };
                        axum::serve(listener, app)
                            .with_graceful_shutdown(stopped)
                            .await
                    }
                };
                if let Err(error) = served {
                    eprintln!("the OTLP receiver stopped: {error}");
                }
            });
        });
        OtlpReceiver {
            url,
            seen,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.seen.spans.lock().expect("not poisoned").clone()
    }

    /// How many export requests reached the receiver so far (answered, refused or stalled).
    pub fn exports(&self) -> usize {
        self.seen.exports.load(Ordering::SeqCst)
    }

    /// The required header each refused export lacked (or had wrong), so far.
    pub fn refused(&self) -> Vec<String> {
        self.seen.refused.lock().expect("not poisoned").clone()
    }

    /// The errors of the TLS handshakes that failed, so far.
    pub fn handshakes_failed(&self) -> Vec<String> {
        self.seen
            .handshakes_failed
            .lock()
            .expect("not poisoned")
            .clone()
    }
}

/// A server's certificate chain and key from PEM.
fn server_identity(
    cert_pem: &str,
    key_pem: &str,
) -> (
    Vec<rustls::pki_types::CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("the receiver's certificate");
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("the receiver's key");
    (chain, key)
}

/// Accepts TCP connections and completes their TLS handshake; a failed one is recorded.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    seen: Arc<Seen>,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            let handshake = self.acceptor.accept(tcp);
            match tokio::time::timeout(std::time::Duration::from_secs(5), handshake).await {
                Ok(Ok(tls)) => return (tls, addr),
                Ok(Err(error)) => self.failed(error.to_string()),
                Err(_) => self.failed("the handshake timed out".to_string()),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

impl TlsListener {
    fn failed(&self, error: String) {
        self.seen
            .handshakes_failed
            .lock()
            .expect("not poisoned")
            .push(error);
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn receive(
    axum::extract::State(receiving): axum::extract::State<Receiving>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<([(axum::http::HeaderName, &'static str); 1], Vec<u8>), (axum::http::StatusCode, String)>
{
    receiving.seen.exports.fetch_add(1, Ordering::SeqCst);
    if let Some(stall) = receiving.stall {
        let mut stopping = receiving.stopping.clone();
        tokio::select! {
            () = tokio::time::sleep(stall) => {}
            _ = stopping.changed() => {
                return Err((axum::http::StatusCode::SERVICE_UNAVAILABLE, "stopping".to_string()));
            }
        }
    }
    for (name, value) in receiving.required.iter() {
        if headers.get(name).and_then(|v| v.to_str().ok()) != Some(value.as_str()) {
            receiving
                .seen
                .refused
                .lock()
                .expect("not poisoned")
                .push(name.clone());
            return Err((
                axum::http::StatusCode::UNAUTHORIZED,
                format!("the {name} header is missing or wrong"),
            ));
        }
    }
    let request = ExportTraceServiceRequest::decode(body).map_err(|e| {
        (
            axum::http::StatusCode::BAD_REQUEST,
            format!("not an ExportTraceServiceRequest: {e}"),
        )
    })?;
    let mut received = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = resource_spans
            .resource
            .map(|r| attributes(&r.attributes))
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                received.push(ReceivedSpan {
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    service: resource.get("service.name").cloned().unwrap_or_default(),
                    instance: resource
                        .get("service.instance.id")
                        .cloned()
                        .unwrap_or_default(),
                    resource: resource.clone(),
                    attributes: attributes(&span.attributes),
                    status: match span.status.map(|s| s.code) {
                        Some(1) => "OK",
                        Some(2) => "ERROR",
                        _ => "UNSET",
                    },
                });
            }
        }
    }
    receiving
        .seen
        .spans
        .lock()
        .expect("not poisoned")
        .extend(received);
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    ))
}

fn attributes(list: &[KeyValue]) -> BTreeMap<String, String> {
    list.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                Some(any_value::Value::BoolValue(b)) => b.to_string(),
                Some(any_value::Value::IntValue(i)) => i.to_string(),
                Some(any_value::Value::DoubleValue(d)) => d.to_string(),
                Some(other) => format!("{other:?}"),
                None => String::new(),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
