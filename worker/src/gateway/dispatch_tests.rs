//! Tests of the gateway's request path with real HTTP pods (the `misbehave` test component) and
//! real sockets standing in for other nodes' gateways: which replica `proxy::dispatch` picks
//! (local first, round robin), when a failed attempt is retried on another replica (idempotent
//! requests without a body, failures of wasmpod rather than the guest's own answers, unreachable
//! nodes), and the `traceparent` that `proxy::handle` keeps and returns.

use super::proxy;
use super::table::{self, Endpoints, Inputs, RoutingTable};
use crate::context::LocalPods;
use crate::metrics::NodeMetrics;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use serde_json::json;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wasmpod_api::{Ingress, Kind, Node, ObjectKey, Pod, Service};
use wasmpod_runtime::{
    BoxBody, CompiledComponent, HttpPod, PodLogs, PodRuntimeSpec, Runtime, RuntimeConfig,
};

const NODE: &str = "here";
const SERVICE: &str = "default/svc";

/// One runtime and the compiled `misbehave` component for every test of this process; the
/// compile cache lives in the build's target directory.
fn runtime() -> &'static (Runtime, CompiledComponent) {
    static RUNTIME: OnceLock<(Runtime, CompiledComponent)> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let components =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/components");
        let wasm = components.join("target/wasm32-wasip2/release/misbehave.wasm");
        if !wasm.exists() {
            let status =
                std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
                    .args([
                        "build",
                        "--release",
                        "--target",
                        "wasm32-wasip2",
                        "--manifest-path",
                    ])
                    .arg(components.join("Cargo.toml"))
                    .env_remove("CARGO_TARGET_DIR")
                    .status()
                    .expect("cargo runs");
            assert!(status.success(), "building the test components failed");
        }
        let bytes = std::fs::read(&wasm).expect("misbehave.wasm");
        let cache = std::env::current_exe()
            .expect("test executable")
            .with_file_name("wasmpod-worker-test-cache");
        let mut config = RuntimeConfig::new(cache);
        config.max_instances = 32;
        config.max_memory_per_instance = 128 * 1024 * 1024;
        let runtime = Runtime::new(config).expect("runtime");
        let digest = {
            use sha2::Digest as _;
            format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)))
        };
        let component = runtime.load_component(&digest, &bytes).expect("compile");
        (runtime, component)
    })
}

/// A serving replica answering `/env/WHO` with `who`.
fn replica(who: &str) -> HttpPod {
    let (runtime, component) = runtime();
    let mut spec = PodRuntimeSpec::new(who);
    spec.env = vec![("WHO".into(), who.into())];
    runtime
        .http_pod(component, spec, PodLogs::new(16 * 1024))
        .expect("http pod")
}

/// A replica every request to which fails in wasmpod (1 MiB is less than the component's
/// initial memory, so it cannot even be instantiated): a 500 marked as wasmpod's.
fn broken_replica() -> HttpPod {
    let (runtime, component) = runtime();
    let mut spec = PodRuntimeSpec::new("broken");
    spec.memory_limit_bytes = Some(1024 * 1024);
    runtime
        .http_pod(component, spec, PodLogs::new(16 * 1024))
        .expect("http pod")
}

/// A stand-in for another node's gateway: answers every request with `status` (marked as
/// wasmpod's own failure when `wasmpod_error`) and a body naming itself; records what it got.
struct FakeGateway {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl FakeGateway {
    async fn start(name: &'static str, status: u16, wasmpod_error: bool) -> FakeGateway {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    log.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).to_lowercase());
                    let marker = if wasmpod_error {
                        "x-wasmpod-error: 1\r\n"
                    } else {
                        ""
                    };
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n{marker}connection: close\r\n\r\n{name}",
                        name.len()
                    );
                    let _ = stream.write_all(reply.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        FakeGateway { url, seen }
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// An address nothing listens on.
async fn dead_gateway() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    url
}

fn pod(name: &str, node: &str) -> Arc<Pod> {
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "wasmpod.dev/v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": "svc"}},
            "spec": {"component": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "nodeName": node},
            "status": {"phase": "Running", "ready": true}
        }))
        .expect("pod"),
    )
}

fn node(name: &str, gateway: &str) -> Arc<Node> {
    Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "wasmpod.dev/v1", "kind": "Node", "metadata": {"name": name}, "spec": {},
            "status": {"ready": true, "gateway": gateway}
        }))
        .expect("node"),
    )
}

/// The routing table of node `here` for service `svc` (ingress `/` -> svc): `local` replicas on
/// this node, and one ready replica on each node whose gateway is in `remote`.
fn table(local: &[(&str, HttpPod)], remote: &[&str]) -> Arc<RoutingTable> {
    table_in(&NodeMetrics::new(NODE, Default::default()), local, remote)
}

/// [`table`], its local replicas hooked to `metrics`.
fn table_in(
    metrics: &NodeMetrics,
    local: &[(&str, HttpPod)],
    remote: &[&str],
) -> Arc<RoutingTable> {
    let pods_here = LocalPods::default();
    let mut pods = Vec::new();
    let mut nodes = vec![node(NODE, "http://127.0.0.1:9")];
    for (name, http) in local {
        pods_here.insert(ObjectKey::new(Kind::Pod, "default", name), http.clone());
        pods.push(pod(name, NODE));
    }
    for (i, gateway) in remote.iter().enumerate() {
        let name = format!("node-{i}");
        pods.push(pod(&format!("remote-{i}"), &name));
        nodes.push(node(&name, gateway));
    }
    let service: Arc<Service> = Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "wasmpod.dev/v1", "kind": "Service",
            "metadata": {"name": "svc", "namespace": "default"},
            "spec": {"selector": {"app": "svc"}}
        }))
        .expect("service"),
    );
    let ingress: Arc<Ingress> = Arc::new(
        serde_json::from_value(json!({
            "apiVersion": "wasmpod.dev/v1", "kind": "Ingress",
            "metadata": {"name": "svc", "namespace": "default"},
            "spec": {"rules": [{"http": {"paths": [
                {"path": "/", "pathType": "Prefix", "backend": {"service": "svc"}}]}}]}
        }))
        .expect("ingress"),
    );
    Arc::new(table::build(&Inputs {
        node: NODE,
        ingresses: &[ingress],
        services: &[service],
        pods: &pods,
        nodes: &nodes,
        local: &pods_here,
        metrics,
        forwarder: &Arc::new(table::Forwarder::default()),
        synced: true,
    }))
}

fn endpoints(table: &RoutingTable) -> Arc<Endpoints> {
    table
        .service(&super::service_id::ServiceId::parse(SERVICE).expect("service id"))
        .expect("service in the table")
        .clone()
}

fn request(method: &str, path: &str, body: Option<&'static str>) -> http::Request<BoxBody> {
    let body: BoxBody = match body {
        Some(text) => Full::new(Bytes::from_static(text.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
        None => Empty::new().map_err(|never| match never {}).boxed_unsync(),
    };
    http::Request::builder()
        .method(method)
        .uri(format!("http://svc{path}"))
        .body(body)
        .expect("request")
}

async fn dispatch(
    endpoints: &Arc<Endpoints>,
    req: http::Request<BoxBody>,
    allow_remote: bool,
) -> (u16, String) {
    let response = proxy::dispatch(endpoints.clone(), req, allow_remote).await;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    (status, body)
}

async fn get(endpoints: &Arc<Endpoints>, path: &str) -> (u16, String) {
    dispatch(endpoints, request("GET", path, None), true).await
}

#[tokio::test]
async fn local_replicas_take_turns_and_other_nodes_get_nothing() {
    let remote = FakeGateway::start("remote", 200, false).await;
    let table = table(&[("a", replica("a")), ("b", replica("b"))], &[&remote.url]);
    let endpoints = endpoints(&table);
    let mut answers = Vec::new();
    for _ in 0..6 {
        let (status, body) = get(&endpoints, "/env/WHO").await;
        assert_eq!(status, 200, "{body}");
        answers.push(body);
    }
    assert_eq!(answers, ["a", "b", "a", "b", "a", "b"]);
    assert!(
        remote.requests().is_empty(),
        "a local replica is called in process"
    );
}

#[tokio::test]
async fn a_replica_that_fails_is_retried_once_on_the_next() {
    let broken = broken_replica();
    let table = table(&[("broken", broken.clone()), ("a", replica("a"))], &[]);
    let endpoints = endpoints(&table);
    for _ in 0..4 {
        assert_eq!(get(&endpoints, "/env/WHO").await, (200, "a".into()));
    }
    // Round robin sent requests 1 and 3 to the broken replica first.
    assert_eq!(
        broken.instances_created(),
        2,
        "the broken replica was tried"
    );

    // With only the broken replica there is nothing to retry on: its 500 is the answer.
    let alone = self::table(&[("broken", broken_replica())], &[]);
    let (status, _) = get(&self::endpoints(&alone), "/env/WHO").await;
    assert_eq!(status, 500);
}

#[tokio::test]
async fn requests_with_a_body_or_not_idempotent_are_not_retried() {
    // Each case starts on a fresh table, so the first pick is the broken replica.
    let cases: [(&str, Option<&'static str>, bool); 6] = [
        ("POST", None, false),
        ("PATCH", None, false),
        ("PUT", Some("data"), false),
        ("GET", Some("data"), false),
        ("PUT", None, true),
        ("DELETE", None, true),
    ];
    for (method, body, retried) in cases {
        let good = replica("a");
        let table = table(&[("broken", broken_replica()), ("a", good.clone())], &[]);
        let (status, answer) =
            dispatch(&endpoints(&table), request(method, "/ok", body), true).await;
        if retried {
            assert_eq!((status, answer.as_str()), (200, "ok"), "{method} {body:?}");
        } else {
            assert_eq!(status, 500, "{method} {body:?}: {answer}");
            assert_eq!(good.instances_created(), 0, "{method} {body:?} was retried");
        }
    }
}

#[tokio::test]
async fn an_unreachable_node_is_retried_on_another() {
    let dead = dead_gateway().await;
    let alive = FakeGateway::start("alive", 200, false).await;
    let table = table(&[], &[&dead, &alive.url]);
    let endpoints = endpoints(&table);
    for _ in 0..4 {
        assert_eq!(get(&endpoints, "/items").await, (200, "alive".into()));
    }
    let requests = alive.requests();
    assert_eq!(requests.len(), 4, "every request reached the live node");
    assert!(
        requests.iter().all(|r| r.starts_with("get /items ")
            && r.contains(&format!("{}: {SERVICE}", proxy::FORWARDED_SERVICE))),
        "forwarded with the service named: {requests:?}"
    );
}

#[tokio::test]
async fn only_wasmpods_failures_are_retried_not_the_guests_own_answers() {
    let guest_error = FakeGateway::start("guest says 500", 500, false).await;
    let node_error = FakeGateway::start("node failed", 503, true).await;
    let fine = FakeGateway::start("fine", 200, false).await;
    // Remote gateways are ordered by URL; find which comes first.
    for failing in [&guest_error, &node_error] {
        let table = table(&[], &[&failing.url, &fine.url]);
        let endpoints = endpoints(&table);
        let first_is_failing = *endpoints.remote[0] == *failing.url;
        let before = fine.requests().len();
        let answers = [get(&endpoints, "/x").await, get(&endpoints, "/x").await];
        let from_failing = if first_is_failing {
            &answers[0]
        } else {
            &answers[1]
        };
        if failing.url == guest_error.url {
            assert_eq!(from_failing, &(500, "guest says 500".into()), "not retried");
            assert_eq!(fine.requests().len(), before + 1);
        } else {
            assert_eq!(
                from_failing,
                &(200, "fine".into()),
                "retried on the other node"
            );
            assert_eq!(fine.requests().len(), before + 2);
        }
    }
}

#[tokio::test]
async fn no_replica_anywhere_or_none_allowed_is_a_clear_503() {
    let remote = FakeGateway::start("remote", 200, false).await;
    let table = table(&[], &[&remote.url]);
    // A request forwarded by a peer is served only from local replicas.
    let (status, body) = dispatch(&endpoints(&table), request("GET", "/", None), false).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("service default/svc has no ready endpoints"),
        "{body}"
    );
    assert!(remote.requests().is_empty());
    let empty = self::table(&[], &[]);
    let (status, body) = get(&endpoints(&empty), "/").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no ready endpoints"), "{body}");
}

#[tokio::test]
async fn handle_keeps_the_clients_traceparent_and_returns_it() {
    let table = table(&[("a", replica("a"))], &[]);
    let sent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let mut req = request("GET", "/headers", None);
    req.headers_mut()
        .insert("traceparent", http::HeaderValue::from_static(sent));
    let response = proxy::handle(table.clone(), None, req).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["traceparent"], sent);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let seen = String::from_utf8_lossy(&body);
    assert!(
        seen.contains(&format!("traceparent: {sent}")),
        "the guest sees it: {seen}"
    );

    let response = proxy::handle(table, None, request("GET", "/ok", None)).await;
    let made = response.headers()["traceparent"]
        .to_str()
        .expect("ascii")
        .to_string();
    let parts: Vec<&str> = made.split('-').collect();
    assert_eq!(parts.len(), 4, "{made}");
    assert_ne!(parts[1], "0af7651916cd43dd8448eb211c80319c");
}

#[tokio::test]
async fn the_dispatch_hook_counts_each_replica_by_status_class_with_its_latency_and_memory() {
    let (runtime, component) = runtime();
    let metrics = NodeMetrics::new(NODE, runtime.metrics_registry());
    let mut spec = PodRuntimeSpec::new("reusing");
    spec.max_requests_per_instance = 100;
    let reusing = runtime
        .http_pod(component, spec, PodLogs::new(16 * 1024))
        .expect("http pod");
    let local = [("a", replica("a")), ("reusing", reusing.clone())];
    let table = table_in(&metrics, &local, &[]);
    let endpoints = endpoints(&table);
    for path in ["/ok", "/ok", "/ok", "/nothing-here"] {
        get(&endpoints, path).await;
    }
    let pods_here = LocalPods::default();
    pods_here.insert(ObjectKey::new(Kind::Pod, "default", "reusing"), reusing);
    let figures = metrics.pod_metrics(&pods_here).items;
    let of = |pod: &str| {
        figures
            .iter()
            .find(|m| m.pod == pod)
            .unwrap_or_else(|| panic!("figures of {pod}: {figures:?}"))
    };
    assert_eq!(of("a").requests_total + of("reusing").requests_total, 4);
    assert_eq!(of("a").requests_total, 2, "round robin: {figures:?}");
    assert!(of("a").p99_seconds.is_some_and(|p| p > 0.0));
    assert_eq!(of("a").in_flight, 0);
    assert_eq!(of("a").node, NODE);
    assert!(
        of("reusing").memory_bytes > 0,
        "an idle reused instance keeps its linear memory: {figures:?}"
    );
    assert_eq!(
        of("a").memory_bytes,
        0,
        "a (not in this LocalPods) reads none"
    );

    let text = metrics.render(&pods_here);
    let line = |pod: &str, code: &str| {
        format!("wasmpod_requests_total{{namespace=\"default\",service=\"svc\",pod=\"{pod}\",code=\"{code}\"}}")
    };
    // Requests 1 and 3 went to a, 2 and 4 (the 404) to the reusing replica.
    assert!(
        text.contains(&format!("{} 2\n", line("a", "2xx"))),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} 1\n", line("reusing", "2xx"))),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} 1\n", line("reusing", "4xx"))),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} 0\n", line("a", "5xx"))),
        "{text}"
    );
    assert!(text.contains(
        "wasmpod_request_duration_seconds_count{namespace=\"default\",service=\"svc\",pod=\"a\"} 2\n"
    ), "{text}");
    assert!(
        text.contains("# TYPE wasmpod_instantiate_seconds histogram\n"),
        "{text}"
    );
    assert!(
        !text.contains("wasmpod_instantiate_seconds_count 0\n"),
        "{text}"
    );
    assert!(text.contains("wasmpod_pod_memory_bytes{namespace=\"default\",pod=\"reusing\"} "));
    assert!(
        text.contains("wasmpod_pod_instances{namespace=\"default\",pod=\"reusing\"} 1\n"),
        "its one idle instance holds a slot: {text}"
    );

    metrics.forget(&ObjectKey::new(Kind::Pod, "default", "a"));
    let text = metrics.render(&pods_here);
    assert!(
        !text.contains("pod=\"a\""),
        "a stopped pod's series go: {text}"
    );
    assert!(metrics
        .pod_metrics(&pods_here)
        .items
        .iter()
        .all(|m| m.pod != "a"));
}
