//! Hostile guests, one attack each, with the hello pod on the same node answering throughout:
//! unbounded recursion, a 1 GiB streamed response, a flood of 1,000 concurrent requests to one
//! pod, a component importing an interface no node provides. (The memory bomb and the infinite
//! loop are in `limits.rs`.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};
use wasmpod_tests::raw_http::{addr_of, connect, get_on};
use wasmpod_tests::{components, http_app, http_get, Cluster};

const WAIT: Duration = Duration::from_secs(60);

/// misbehave at `/` and hello at `/hello`, both answering.
fn misbehave_beside_hello(extra_spec: &str) -> Cluster {
    let cluster = Cluster::up(&[]);
    let c = components();
    let misbehave = http_app("misbehave", &c.misbehave, 1, "/").replace(
        "spec: {component:",
        &format!("spec: {{{extra_spec}component:"),
    );
    assert!(cluster.apply("m.yaml", &misbehave).status.success());
    assert!(cluster
        .apply("hello.yaml", &http_app("hello", &c.hello, 1, "/hello"))
        .status
        .success());
    cluster.wait_for_status("/ok", 200, WAIT);
    cluster.wait_for_status("/hello", 200, WAIT);
    cluster
}

/// Calls hello every 20 ms until `stop`; returns the slowest answer and every failure.
fn probe_hello(cluster: &Cluster, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Probe> {
    let url = format!("{}/hello", cluster.ingress);
    std::thread::spawn(move || {
        let mut probe = Probe::default();
        while !stop.load(Ordering::SeqCst) {
            let started = Instant::now();
            let (status, body) = http_get(&url);
            probe.slowest = probe.slowest.max(started.elapsed());
            probe.answers += 1;
            if status != 200 {
                probe.failures.push(format!("{status} {body}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        probe
    })
}

#[derive(Debug, Default)]
struct Probe {
    answers: usize,
    slowest: Duration,
    failures: Vec<String>,
}

fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

#[test]
fn unbounded_recursion_traps_and_the_pod_keeps_serving() {
    let cluster = misbehave_beside_hello("");
    let stop = Arc::new(AtomicBool::new(false));
    let probe = probe_hello(&cluster, stop.clone());
    for _ in 0..3 {
        let (status, _) = cluster.get("/recurse");
        assert_eq!(status, 500, "a stack overflow is a trap");
        assert_eq!(cluster.get("/ok").0, 200, "the pod serves the next request");
    }
    stop.store(true, Ordering::SeqCst);
    let probe = probe.join().expect("probe");
    assert!(probe.failures.is_empty(), "{probe:?}");
    let pods = cluster.items("pods");
    let name = pods
        .iter()
        .find(|p| p["metadata"]["labels"]["app"] == "misbehave")
        .and_then(|p| p["metadata"]["name"].as_str())
        .expect("the misbehave pod")
        .to_string();
    let logs = cluster.cli_ok(&["logs", &name]);
    assert!(
        logs.contains("call stack exhausted") || logs.contains("stack overflow"),
        "the trap is reported: {logs}"
    );
}

#[test]
fn a_gigabyte_streamed_response_keeps_node_memory_bounded() {
    const MIB: u64 = 1024;
    let cluster = misbehave_beside_hello("requestTimeoutSeconds: 120, ");
    let pid = cluster.pid();
    let before = rss_bytes(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(Mutex::new(before));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let now = rss_bytes(pid);
                let mut peak = peak.lock().expect("lock");
                *peak = (*peak).max(now);
                drop(peak);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let probe = probe_hello(&cluster, stop.clone());

    let mut stream = TcpStream::connect(addr_of(&cluster.ingress)).expect("connect to the ingress");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    write!(
        stream,
        "GET /stream?mib={MIB} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).expect("status line");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header");
        if line == "\r\n" {
            break;
        }
    }
    let mut received = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received += n as u64,
            Err(e) => panic!("reading the body after {received} bytes: {e}"),
        }
    }
    stop.store(true, Ordering::SeqCst);
    sampler.join().expect("sampler");
    let probe = probe.join().expect("probe");
    assert_eq!(received, MIB << 20, "the whole body arrives");
    let grew = peak.lock().expect("lock").saturating_sub(before);
    assert!(
        grew < 256 << 20,
        "the node's memory grew by {} MiB while streaming {MIB} MiB: the body is buffered",
        grew >> 20
    );
    assert!(probe.answers > 0, "hello was called during the stream");
    assert!(probe.failures.is_empty(), "{probe:?}");
}

#[test]
fn a_flood_of_a_thousand_concurrent_requests_to_one_pod_leaves_its_neighbour_answering() {
    const CLIENTS: usize = 1000;
    let cluster = misbehave_beside_hello("");
    let stop = Arc::new(AtomicBool::new(false));
    let probe = probe_hello(&cluster, stop.clone());
    let ingress = addr_of(&cluster.ingress);
    let start = Arc::new(Barrier::new(CLIENTS));
    let outcomes = Arc::new(Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (start, outcomes) = (start.clone(), outcomes.clone());
            std::thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    let conn = connect(ingress);
                    start.wait();
                    let outcome = match conn.and_then(|mut c| get_on(&mut c, "/count?hold_ms=200"))
                    {
                        Ok(answer) => answer.status.to_string(),
                        Err(e) => format!("io: {e}"),
                    };
                    outcomes.lock().expect("lock").push(outcome);
                })
                .expect("client thread")
        })
        .collect();
    for client in clients {
        client.join().expect("client");
    }
    stop.store(true, Ordering::SeqCst);
    let probe = probe.join().expect("probe");
    let outcomes = outcomes.lock().expect("lock");
    let served = outcomes.iter().filter(|o| *o == "200").count();
    let refused: Vec<&String> = outcomes
        .iter()
        .filter(|o| *o != "200" && *o != "503")
        .collect();
    assert!(refused.is_empty(), "only 200 or 503: {refused:?}");
    assert!(served > 0, "the flooded pod served some: {outcomes:?}");
    assert!(probe.answers > 0, "hello was called during the flood");
    assert!(probe.failures.is_empty(), "{probe:?}");
    assert_eq!(cluster.get("/ok").0, 200);
}

#[test]
fn a_component_importing_what_no_node_provides_shows_component_link_error() {
    let cluster = misbehave_beside_hello("");
    let stop = Arc::new(AtomicBool::new(false));
    let probe = probe_hello(&cluster, stop.clone());
    let unlinkable = http_app("unlinkable", &components().unlinkable, 1, "/unlinkable");
    assert!(cluster.apply("u.yaml", &unlinkable).status.success());
    let pod = wasmpod_tests::wait_until("the pod says why it cannot start", WAIT, || {
        cluster.items("pods").into_iter().find(|p| {
            p["metadata"]["labels"]["app"] == "unlinkable"
                && p["status"]["reason"] == "ComponentLinkError"
        })
    });
    let message = pod["status"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("example:missing/thing"), "{pod}");
    assert_eq!(pod["status"]["phase"], "Pending", "{pod}");
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let event = wasmpod_tests::wait_until("a warning event about it", WAIT, || {
        cluster.items("events").into_iter().find(|e| {
            e["spec"]["involvedObject"]["name"] == name.as_str()
                && e["spec"]["reason"] == "ComponentLinkError"
        })
    });
    assert_eq!(event["spec"]["type"], "Warning", "{event}");
    assert!(
        event["spec"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("example:missing/thing")),
        "{event}"
    );
    stop.store(true, Ordering::SeqCst);
    let probe = probe.join().expect("probe");
    assert!(probe.failures.is_empty(), "{probe:?}");
    assert_eq!(cluster.get("/ok").0, 200);
}
