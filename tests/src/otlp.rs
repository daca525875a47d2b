//! An OTLP/HTTP receiver for the tests: `POST /v1/traces` on a free loopback port, the protobuf
//! `ExportTraceServiceRequest` decoded (with `opentelemetry-proto`) into [`ReceivedSpan`]s that a
//! test reads. It runs on a runtime of its own, on a thread, until dropped.

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use prost::Message;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

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
    pub attributes: BTreeMap<String, String>,
}

impl ReceivedSpan {
    pub fn attribute(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }
}

/// The receiver; its URL is what `--otlp-endpoint` takes.
pub struct OtlpReceiver {
    pub url: String,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl OtlpReceiver {
    pub fn start() -> OtlpReceiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the OTLP receiver");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = spans.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the receiver's runtime");
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                let app = axum::Router::new()
                    .route("/v1/traces", axum::routing::post(receive))
                    .with_state(kept);
                let served = axum::serve(listener, app).with_graceful_shutdown(async {
                    let _ = stopped.await;
                });
                if let Err(error) = served.await {
                    eprintln!("the OTLP receiver stopped: {error}");
                }
            });
        });
        OtlpReceiver {
            url,
            spans,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().expect("not poisoned").clone()
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

type Kept = Arc<Mutex<Vec<ReceivedSpan>>>;

async fn receive(
    axum::extract::State(kept): axum::extract::State<Kept>,
    body: axum::body::Bytes,
) -> Result<([(axum::http::HeaderName, &'static str); 1], Vec<u8>), (axum::http::StatusCode, String)>
{
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
                    attributes: attributes(&span.attributes),
                });
            }
        }
    }
    kept.lock().expect("not poisoned").extend(received);
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
