//! Tests of HTTP and command pods and of the component cache, with the real test components.

use crate::test_components::{component, runtime, wasm};
use crate::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use std::sync::Arc;
use std::time::Duration;

fn http_pod(spec: PodRuntimeSpec) -> HttpPod {
    runtime()
        .http_pod(&component("misbehave"), spec, PodLogs::new(64 * 1024))
        .expect("http pod")
}

fn get(path: &str) -> http::Request<Empty<Bytes>> {
    http::Request::get(format!("http://pod.test{path}"))
        .body(Empty::new())
        .expect("request")
}

async fn call<B>(pod: &HttpPod, req: http::Request<B>) -> (u16, String)
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let response = pod.handle(req).await;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("response body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn http_pod_serves_a_request() {
    let pod = http_pod(PodRuntimeSpec::new("ok"));
    assert_eq!(call(&pod, get("/ok")).await, (200, "ok".to_string()));
    // A request without authority or Host header is still served.
    let req = http::Request::get("/ok")
        .body(Empty::<Bytes>::new())
        .expect("request");
    assert_eq!(call(&pod, req).await.0, 200);
}

#[tokio::test]
async fn hello_sample_says_hello() {
    let pod = runtime()
        .http_pod(
            &component("hello"),
            PodRuntimeSpec::new("hello"),
            PodLogs::default(),
        )
        .expect("hello pod");
    assert_eq!(
        call(&pod, get("/hello")).await,
        (200, "Hello from wasmpod!\n".to_string())
    );
}

#[tokio::test]
async fn guest_trap_answers_500_and_the_pod_keeps_serving() {
    let pod = http_pod(PodRuntimeSpec::new("trap"));
    let (status, body) = call(&pod, get("/trap")).await;
    assert_eq!(status, 500);
    assert!(body.starts_with("component trapped:"), "{body}");
    assert!(
        pod.logs().snapshot().contains("component trapped"),
        "{}",
        pod.logs().snapshot()
    );
    assert_eq!(call(&pod, get("/ok")).await.0, 200);
}

#[tokio::test]
async fn runaway_guest_is_stopped_at_the_request_timeout() {
    let mut spec = PodRuntimeSpec::new("loop");
    spec.request_timeout = Duration::from_millis(300);
    let pod = http_pod(spec);
    let started = std::time::Instant::now();
    let (status, body) = call(&pod, get("/loop")).await;
    assert_eq!(status, 500);
    assert!(body.contains("timed out"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(call(&pod, get("/ok")).await.0, 200);
}

#[tokio::test]
async fn runaway_guest_does_not_starve_other_requests() {
    let mut spec = PodRuntimeSpec::new("fair");
    spec.request_timeout = Duration::from_millis(1500);
    let pod = http_pod(spec);
    let looping = tokio::spawn({
        let pod = pod.clone();
        async move { call(&pod, get("/loop")).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    assert_eq!(call(&pod, get("/ok")).await.0, 200);
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(looping.await.expect("loop task").0, 500);
}

/// On a `current_thread` runtime (a gateway thread), a socket that turns readable while a guest
/// loops is seen at the guest's next epoch tick (1 ms). With a yield that woke the guest at once,
/// tokio looked at its sockets only every 61 polls of the guest, each running a tick or more.
#[tokio::test]
async fn a_looping_guest_lets_its_thread_see_a_ready_socket_at_the_next_tick() {
    use std::io::Write;
    use std::time::Instant;
    use tokio::io::AsyncReadExt;

    let mut spec = PodRuntimeSpec::new("fair-io");
    spec.request_timeout = Duration::from_secs(30);
    let pod = http_pod(spec);
    let looping = tokio::spawn({
        let pod = pod.clone();
        async move { call(&pod, get("/loop")).await }
    });
    let (writer, reader) = std::os::unix::net::UnixStream::pair().expect("socket pair");
    reader.set_nonblocking(true).expect("nonblocking");
    let mut reader = tokio::net::UnixStream::from_std(reader).expect("tokio socket");
    let mut waits = Vec::new();
    for _ in 0..20 {
        // Another thread writes a byte while the guest runs on this thread; this task is parked
        // on the read meanwhile.
        let writing = std::thread::spawn({
            let mut writer = writer.try_clone().expect("writer");
            move || {
                std::thread::sleep(Duration::from_millis(25));
                let written = Instant::now();
                writer.write_all(b"x").expect("write");
                written
            }
        });
        let mut byte = [0u8; 1];
        reader.read_exact(&mut byte).await.expect("read");
        let read = Instant::now();
        waits.push(read - writing.join().expect("writer thread"));
    }
    looping.abort();
    waits.sort();
    // The median of 20 (a noisy machine may stall any one of them): 1-2 ms when the thread looks
    // at its sockets every tick; 170 ms (40 ms at best) in this debug build with the plain yield.
    assert!(
        waits[10] < Duration::from_millis(20),
        "waits from a socket turning readable to its reader running: {waits:?}"
    );
}

/// The ticker ticks slowly while no guest computes for long, and fast while one does: a looping
/// guest's second tick tells it to (see `epoch.rs`).
#[tokio::test]
async fn a_computing_guest_makes_the_ticker_tick_fast() {
    let mut config = RuntimeConfig::new(crate::test_components::cache_dir());
    config.max_instances = 8;
    config.max_memory_per_instance = 64 * 1024 * 1024;
    config.slow_epoch_tick = Duration::from_millis(200);
    let runtime = Runtime::new(config).expect("runtime");
    let component = crate::test_components::load(&runtime, "misbehave");
    let mut spec = PodRuntimeSpec::new("pace");
    spec.request_timeout = Duration::from_millis(1500);
    let pod = runtime
        .http_pod(&component, spec, PodLogs::new(64 * 1024))
        .expect("http pod");

    let before = runtime.epoch_ticks();
    tokio::time::sleep(Duration::from_millis(450)).await;
    let idle = runtime.epoch_ticks() - before;
    assert!(
        idle <= 3,
        "{idle} ticks in 450 ms with no guest at a 200 ms pace"
    );

    let before = runtime.epoch_ticks();
    let (status, _) = call(&pod, get("/loop")).await;
    assert_eq!(status, 500, "the loop ends at its deadline");
    let looping = runtime.epoch_ticks() - before;
    // Two slow ticks (at most 400 ms) to notice, then 1 ms ticks for the rest of the 1.5 s: about
    // 1,100, fewer on a loaded machine that oversleeps; at most 8 if it stayed slow.
    assert!(
        looping >= 100,
        "{looping} ticks in 1.5 s of a looping guest"
    );
}

#[tokio::test]
async fn memory_limit_kills_the_instance_only() {
    let mut spec = PodRuntimeSpec::new("alloc");
    spec.memory_limit_bytes = Some(32 * 1024 * 1024);
    let pod = http_pod(spec);
    let (status, body) = call(&pod, get("/alloc")).await;
    assert_eq!(status, 500);
    assert!(body.contains("memory limit"), "{body}");
    assert_eq!(call(&pod, get("/ok")).await.0, 200);
}

#[tokio::test]
async fn guest_output_lands_in_pod_logs() {
    let pod = http_pod(PodRuntimeSpec::new("log"));
    assert_eq!(call(&pod, get("/log")).await.0, 200);
    let logs = pod.logs().snapshot();
    assert!(
        logs.contains("log-stdout\n") && logs.contains("log-stderr\n"),
        "{logs}"
    );
}

#[tokio::test]
async fn env_and_config_are_exactly_what_the_spec_grants() {
    let mut spec = PodRuntimeSpec::new("env");
    spec.env = vec![("GREETING".into(), "hi".into())];
    spec.config = vec![("db_url".into(), "postgres://x".into())];
    let pod = http_pod(spec);
    assert_eq!(
        call(&pod, get("/env/GREETING")).await,
        (200, "hi".to_string())
    );
    assert_eq!(call(&pod, get("/env/HOME")).await.0, 404);
    assert_eq!(call(&pod, get("/env/PATH")).await.0, 404);
    assert_eq!(
        call(&pod, get("/config/db_url")).await,
        (200, "postgres://x".to_string())
    );
    assert_eq!(call(&pod, get("/config/other")).await.0, 404);
}

#[tokio::test]
async fn outbound_requests_are_denied_by_default() {
    let pod = http_pod(PodRuntimeSpec::new("deny"));
    let (status, body) = call(&pod, get("/fetch?url=http://127.0.0.1:9/x")).await;
    assert_eq!(status, 502);
    assert!(body.contains("HttpRequestDenied"), "{body}");
    let logs = pod.logs().snapshot();
    assert!(
        logs.contains("outbound request to http://127.0.0.1:9 denied"),
        "{logs}"
    );
}

async fn upstream() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        Bytes::from_static(b"upstream says hi"),
                    )))
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn allowed_outbound_origin_is_reachable() {
    let addr = upstream().await;
    let mut spec = PodRuntimeSpec::new("allow");
    spec.allowed_outbound_hosts = vec![format!("http://{addr}")];
    let pod = http_pod(spec);
    let (status, body) = call(&pod, get(&format!("/fetch?url=http://{addr}/x"))).await;
    assert_eq!((status, body.as_str()), (200, "200\nupstream says hi"));
    // Same host, other port: denied by the allow-list, not refused by the network.
    let (status, body) = call(&pod, get("/fetch?url=http://127.0.0.1:9/x")).await;
    assert_eq!(status, 502);
    assert!(body.contains("HttpRequestDenied"), "{body}");
}

struct ServiceRouter {
    service: &'static str,
    pod: HttpPod,
}

impl OutboundRouter for ServiceRouter {
    fn route(&self, request: http::Request<BoxBody>) -> RouteOutcome {
        if request.uri().host() != Some(self.service) {
            return RouteOutcome::NotMine(request);
        }
        let pod = self.pod.clone();
        RouteOutcome::Routed(Box::pin(async move { Ok(pod.handle(request).await) }))
    }
}

#[tokio::test]
async fn outbound_router_reaches_another_pod() {
    let backend = http_pod(PodRuntimeSpec::new("backend"));
    let mut spec = PodRuntimeSpec::new("frontend");
    spec.outbound = Some(Arc::new(ServiceRouter {
        service: "backend",
        pod: backend,
    }));
    let frontend = http_pod(spec);
    let (status, body) = call(&frontend, get("/fetch?url=http://backend/env/NOPE")).await;
    assert_eq!((status, body.as_str()), (200, "404\nunset"));
    // Hosts the router does not serve fall through to the (empty) allow-list.
    let (status, body) = call(&frontend, get("/fetch?url=http://elsewhere/ok")).await;
    assert_eq!(status, 502);
    assert!(body.contains("HttpRequestDenied"), "{body}");
}

#[tokio::test]
async fn mounts_grant_exactly_their_permissions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ro = tempfile::tempdir().expect("tempdir");
    std::fs::write(ro.path().join("seed.txt"), "seeded").expect("seed");
    let mut spec = PodRuntimeSpec::new("files");
    spec.mounts = vec![
        Mount {
            host_path: dir.path().into(),
            guest_path: "/data".into(),
            read_only: false,
        },
        Mount {
            host_path: ro.path().into(),
            guest_path: "/ro".into(),
            read_only: true,
        },
    ];
    let pod = http_pod(spec);
    let put = http::Request::put("http://pod.test/file?path=/data/x.txt")
        .body(Full::new(Bytes::from_static(b"hello volume")))
        .expect("request");
    assert_eq!(call(&pod, put).await.0, 200);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("x.txt")).expect("written"),
        "hello volume"
    );
    assert_eq!(
        call(&pod, get("/file?path=/data/x.txt")).await,
        (200, "hello volume".into())
    );
    assert_eq!(
        call(&pod, get("/file?path=/ro/seed.txt")).await,
        (200, "seeded".into())
    );
    let put = http::Request::put("http://pod.test/file?path=/ro/y.txt")
        .body(Full::new(Bytes::from_static(b"nope")))
        .expect("request");
    assert_eq!(call(&pod, put).await.0, 500);
    assert_eq!(
        call(&pod, get("/file?path=/etc/passwd")).await.0,
        404,
        "not preopened"
    );
}

#[test]
fn pods_check_world_and_spec() {
    let rt = runtime();
    let err = rt
        .http_pod(
            &component("crasher"),
            PodRuntimeSpec::new("x"),
            PodLogs::default(),
        )
        .err()
        .expect("a command is not a proxy");
    assert!(matches!(err, RuntimeError::NotHttpProxy(_)), "{err}");
    let err = rt
        .command_pod(
            &component("misbehave"),
            PodRuntimeSpec::new("x"),
            PodLogs::default(),
        )
        .err()
        .expect("a proxy is not a command");
    assert!(matches!(err, RuntimeError::NotCommand(_)), "{err}");

    let mut spec = PodRuntimeSpec::new("x");
    spec.mounts = vec![Mount {
        host_path: "/definitely/not/here".into(),
        guest_path: "/data".into(),
        read_only: true,
    }];
    let err = rt
        .http_pod(&component("misbehave"), spec, PodLogs::default())
        .err();
    assert!(matches!(err, Some(RuntimeError::InvalidSpec(_))), "{err:?}");
    let mut spec = PodRuntimeSpec::new("x");
    spec.allowed_outbound_hosts = vec!["api.example.com".into()];
    let err = rt
        .http_pod(&component("misbehave"), spec, PodLogs::default())
        .err();
    assert!(matches!(err, Some(RuntimeError::InvalidSpec(_))), "{err:?}");
}

fn crasher(mode: &str) -> CommandPod {
    let mut spec = PodRuntimeSpec::new("crasher");
    spec.env = vec![
        ("CRASH_MODE".into(), mode.into()),
        ("CRASH_AFTER_MS".into(), "10".into()),
    ];
    runtime()
        .command_pod(&component("crasher"), spec, PodLogs::default())
        .expect("command pod")
}

#[tokio::test]
async fn command_exit_codes_and_traps_are_reported() {
    let pod = crasher("exit");
    assert_eq!(pod.run().await, CommandExit::Exited(3));
    let logs = pod.logs().snapshot();
    assert!(logs.contains("crasher starting"), "{logs}");
    assert!(logs.contains("component exited with code 3"), "{logs}");
    // A pod runs again after it ended.
    assert_eq!(pod.run().await, CommandExit::Exited(3));

    assert_eq!(crasher("ok").run().await, CommandExit::Exited(0));
    match crasher("trap").run().await {
        CommandExit::Trapped(msg) => assert!(msg.contains("trapped"), "{msg}"),
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[tokio::test]
async fn dropping_a_command_run_cancels_it() {
    let pod = crasher("forever");
    let result = tokio::time::timeout(Duration::from_millis(300), pod.run()).await;
    assert!(result.is_err(), "a forever command must still be running");
    assert!(pod.logs().snapshot().contains("crasher starting"));
}

fn private_runtime(dir: &std::path::Path) -> Runtime {
    let mut config = RuntimeConfig::new(dir);
    config.max_instances = 8;
    Runtime::new(config).expect("runtime")
}

#[test]
fn compiled_components_are_cached_on_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = private_runtime(dir.path());
    let bytes = wasm("crasher");
    rt.load_component("crasher-v1", &bytes).expect("compile");
    let entries: Vec<_> = walk(dir.path());
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert!(entries[0].ends_with("crasher-v1.cwasm"), "{entries:?}");

    // A cache hit does not need valid wasm at all.
    rt.load_component("crasher-v1", b"").expect("cache hit");

    // A corrupt entry is replaced by a fresh compile.
    std::fs::write(&entries[0], b"garbage").expect("corrupt");
    rt.load_component("crasher-v1", &bytes).expect("recompiled");
    assert!(std::fs::metadata(&entries[0]).expect("entry").len() > 1000);
}

#[test]
fn bad_digests_and_bytes_are_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = private_runtime(dir.path());
    let bytes = wasm("crasher");
    for digest in ["", "../escape", ".hidden", "a/b"] {
        let err = rt.load_component(digest, &bytes).err();
        assert!(
            matches!(err, Some(RuntimeError::InvalidDigest(_))),
            "{digest}: {err:?}"
        );
    }
    let err = rt.load_component("sha256:00", &bytes).err();
    assert!(
        matches!(err, Some(RuntimeError::DigestMismatch { .. })),
        "{err:?}"
    );
    let err = rt.load_component("core", b"\0asm\x01\0\0\0").err();
    assert!(
        matches!(
            err,
            Some(RuntimeError::NotAComponent(InspectError::CoreModule))
        ),
        "{err:?}"
    );
    let err = rt.load_component("junk", b"junk").err();
    assert!(
        matches!(
            err,
            Some(RuntimeError::NotAComponent(InspectError::NotWasm))
        ),
        "{err:?}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn public_types_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<F: Send>(_: &F) {}
    send_sync::<Runtime>();
    send_sync::<HttpPod>();
    send_sync::<CommandPod>();
    send_sync::<CompiledComponent>();
    send_sync::<PodLogs>();
    let pod = http_pod(PodRuntimeSpec::new("send"));
    send(&pod.handle(get("/ok")));
    let command = crasher("ok");
    send(&command.run());
}

/// An upstream that takes 50 ms per request and records the most requests it saw at once.
async fn slow_upstream() -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let seen = most.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (now, most) = (now.clone(), most.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_req| {
                    let (now, most) = (now.clone(), most.clone());
                    async move {
                        let at_once = now.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(at_once, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        now.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from_static(b"slow"),
                        )))
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn container_concurrency_bounds_instances_and_the_rest_wait_their_turn() {
    let (addr, most) = slow_upstream().await;
    let mut spec = PodRuntimeSpec::new("limited");
    spec.allowed_outbound_hosts = vec![format!("http://{addr}")];
    spec.container_concurrency = Some(2);
    let pod = http_pod(spec);
    assert_eq!(pod.concurrency_limit(), 2);
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let pod = pod.clone();
            let path = format!("/fetch?url=http://{addr}/x");
            tokio::spawn(async move { call(&pod, get(&path)).await })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.expect("task"), (200, "200\nslow".to_string()));
    }
    assert_eq!(
        most.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "two instances at once, never more"
    );
}

#[tokio::test]
async fn the_host_sets_the_hop_count_of_outgoing_calls() {
    struct Capture(std::sync::Mutex<Vec<Option<String>>>);
    impl OutboundRouter for Capture {
        fn route(&self, request: http::Request<BoxBody>) -> RouteOutcome {
            let hops = request
                .headers()
                .get(HOPS_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            self.0.lock().expect("lock").push(hops);
            RouteOutcome::Routed(Box::pin(async {
                Ok(text_response(http::StatusCode::OK, "captured"))
            }))
        }
    }
    let capture = Arc::new(Capture(Default::default()));
    let mut spec = PodRuntimeSpec::new("hops");
    spec.outbound = Some(capture.clone());
    let pod = http_pod(spec);
    // No count on the way in: the call is the first hop.
    assert_eq!(call(&pod, get("/fetch?url=http://svc/x")).await.0, 200);
    // The count of the request that started the instance, plus one.
    let mut req = get("/fetch?url=http://svc/x");
    req.headers_mut()
        .insert(HOPS_HEADER, http::HeaderValue::from_static("5"));
    assert_eq!(call(&pod, req).await.0, 200);
    assert_eq!(
        *capture.0.lock().expect("lock"),
        [Some("1".to_string()), Some("6".to_string())]
    );
}
