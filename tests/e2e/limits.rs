//! Crashing command pods restart with backoff; runaway guests are stopped while neighbours serve.

use std::time::{Duration, Instant};
use wasmpod_tests::{components, crasher_app, http_app, http_get, wait_until, Cluster};

const WAIT: Duration = Duration::from_secs(40);

#[test]
fn crashing_command_pod_restarts_with_growing_backoff() {
    let cluster = Cluster::up(&[]);
    let yaml = crasher_app(&components().crasher);
    let out = cluster.apply("crasher.yaml", &yaml);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut delays = Vec::new();
    let pod = wait_until("three restarts", WAIT, || {
        let pods = cluster.items("pods");
        let pod = pods.first()?.clone();
        if let Some(message) = pod["status"]["message"].as_str() {
            if let Some(ms) = message
                .split("restarting in ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse::<u64>().ok())
            {
                if delays.last() != Some(&ms) {
                    delays.push(ms);
                }
            }
        }
        (pod["status"]["restartCount"].as_u64()? >= 3).then_some(pod)
    });
    assert_eq!(pod["status"]["lastTermination"]["exitCode"], 3, "{pod}");
    assert!(
        delays.windows(2).all(|w| w[1] > w[0]),
        "backoff grows: {delays:?}"
    );
    assert!(delays.len() >= 2, "saw the backoff grow: {delays:?}");
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let logs = cluster.cli_ok(&["logs", &name]);
    assert!(logs.matches("crasher starting").count() >= 3, "{logs}");
    // Between crashes the pod waits out its backoff, and `get pods` says so.
    let row = wait_until("CrashLoopBackOff in `get pods`", WAIT, || {
        let table = cluster.cli_ok(&["get", "pods"]);
        table
            .lines()
            .find(|l| l.starts_with(&name) && l.contains("CrashLoopBackOff"))
            .map(str::to_string)
    });
    assert!(!row.contains("Running"), "{row}");
}

#[test]
fn runaway_guests_are_stopped_while_a_neighbour_keeps_serving() {
    let cluster = Cluster::up(&[]);
    let c = components();
    let misbehave = http_app("misbehave", &c.misbehave, 1, "/").replace(
        "spec: {component:",
        "spec: {requestTimeoutSeconds: 1, resources: {limits: {memory: 64Mi}}, component:",
    );
    cluster.apply("m.yaml", &misbehave);
    cluster.apply("hello.yaml", &http_app("hello", &c.hello, 1, "/hello"));
    cluster.wait_for_status("/ok", 200, WAIT);
    cluster.wait_for_status("/hello", 200, WAIT);

    let ingress = cluster.ingress.clone();
    let looping = std::thread::spawn(move || {
        let started = Instant::now();
        (http_get(&format!("{ingress}/loop")).0, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(cluster.get("/hello").0, 200);
        assert!(
            started.elapsed() < Duration::from_millis(900),
            "the neighbour answered while the loop ran"
        );
    }
    let (status, elapsed) = looping.join().expect("loop request");
    assert_eq!(status, 500, "the infinite loop is stopped");
    assert!(
        elapsed < Duration::from_secs(10),
        "stopped near its 1 s limit, took {elapsed:?}"
    );

    assert_eq!(
        cluster.get("/alloc").0,
        500,
        "unbounded allocation is stopped"
    );
    assert_eq!(cluster.get("/ok").0, 200, "the pod serves the next request");
    assert_eq!(cluster.get("/hello").0, 200);
    let pods = cluster.items("pods");
    let name = pods
        .iter()
        .find(|p| p["metadata"]["labels"]["app"] == "misbehave")
        .and_then(|p| p["metadata"]["name"].as_str())
        .unwrap_or_default()
        .to_string();
    let logs = cluster.cli_ok(&["logs", &name]);
    assert!(
        logs.contains("timed out") || logs.contains("interrupt"),
        "loop reported: {logs}"
    );
    assert!(
        logs.to_lowercase().contains("memory"),
        "allocation reported: {logs}"
    );
}

/// A request head past the gateway's limit (64 KiB) is answered 431 before routing; one under it
/// is routed as usual (here: 404, no ingress rule).
#[test]
fn an_oversized_request_head_gets_431_at_the_gateway() {
    use std::io::{Read, Write};
    let cluster = Cluster::up(&[]);
    let addr = cluster.ingress.trim_start_matches("http://").to_string();
    let ask = |header_bytes: usize| -> String {
        let mut stream = std::net::TcpStream::connect(&addr).expect("connect to the gateway");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let request = format!(
            "GET / HTTP/1.1\r\nhost: nowhere.test\r\nx-big: {}\r\nconnection: close\r\n\r\n",
            "a".repeat(header_bytes)
        );
        // The gateway may answer and close before it has read all of a large head.
        let _ = stream.write_all(request.as_bytes());
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer.lines().next().unwrap_or_default().to_string()
    };
    let status = ask(100 << 10);
    assert!(status.contains(" 431 "), "100 KiB of headers: {status:?}");
    let status = ask(16 << 10);
    assert!(
        !status.contains(" 431 ") && status.starts_with("HTTP/1.1"),
        "16 KiB of headers: {status:?}"
    );
}

/// Sends `POST path` with `body_bytes` bytes, declared (`Content-Length`) or chunked, and returns
/// the status line and the body of the answer.
fn post_body(ingress: &str, path: &str, body_bytes: usize, chunked: bool) -> (String, String) {
    use std::io::{Read, Write};
    let addr = ingress.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the gateway");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let framing = if chunked {
        "transfer-encoding: chunked".to_string()
    } else {
        format!("content-length: {body_bytes}")
    };
    let head =
        format!("POST {path} HTTP/1.1\r\nhost: test\r\n{framing}\r\nconnection: close\r\n\r\n");
    // The gateway may answer and close before it has read the whole body.
    let _ = stream.write_all(head.as_bytes());
    let chunk = vec![b'x'; 64 << 10];
    let mut left = body_bytes;
    while left > 0 {
        let n = left.min(chunk.len());
        let sent = if chunked {
            stream
                .write_all(format!("{n:x}\r\n").as_bytes())
                .and_then(|()| stream.write_all(&chunk[..n]))
                .and_then(|()| stream.write_all(b"\r\n"))
        } else {
            stream.write_all(&chunk[..n])
        };
        if sent.is_err() {
            break;
        }
        left -= n;
    }
    if chunked {
        let _ = stream.write_all(b"0\r\n\r\n");
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.lines().next().unwrap_or_default().to_string();
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

#[test]
fn request_bodies_past_the_pods_limit_get_413_counted_as_they_stream() {
    let cluster = Cluster::up(&[]);
    let c = components();
    let limited = http_app("limited", &c.misbehave, 1, "/").replace(
        "spec: {component:",
        "spec: {maxRequestBodyBytes: 1048576, component:",
    );
    assert!(cluster.apply("limited.yaml", &limited).status.success());
    cluster.wait_for_status("/ok", 200, WAIT);
    // Within the limit, declared or chunked: the guest reads it all.
    let (status, body) = post_body(&cluster.ingress, "/body-length", 1 << 20, false);
    assert!(status.contains(" 200 "), "{status} {body}");
    assert_eq!(body.trim(), (1 << 20).to_string());
    let (status, body) = post_body(&cluster.ingress, "/body-length", 512 << 10, true);
    assert!(status.contains(" 200 "), "{status} {body}");
    // Declared past the limit: refused before the guest runs.
    let (status, body) = post_body(&cluster.ingress, "/body-length", (1 << 20) + 1, false);
    assert!(status.contains(" 413 "), "{status} {body}");
    assert!(body.contains("maxRequestBodyBytes"), "{body}");
    // Chunked past the limit: cut off as it streams in.
    let (status, body) = post_body(&cluster.ingress, "/body-length", 3 << 20, true);
    assert!(status.contains(" 413 "), "{status} {body}");
    // The pod serves on, and the limit cannot be 0.
    assert_eq!(cluster.get("/ok").0, 200);
    let bad = http_app("zero", &c.misbehave, 1, "/zero").replace(
        "spec: {component:",
        "spec: {maxRequestBodyBytes: 0, component:",
    );
    let out = cluster.apply("zero.yaml", &bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("maxRequestBodyBytes"),
        "{stderr}"
    );
}
