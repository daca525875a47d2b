//! Overload and abuse of the data plane: call loops, bursts larger than the instance pool, a
//! restarted gateway, idle and half-sent connections.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};
use wasmpod_tests::raw_http::{addr_of, connect, get_on};
use wasmpod_tests::{
    components, frontend_backend, http_app, http_get, wait_until, wasmpod_bin, Cluster, MultiNode,
    Process,
};

const WAIT: Duration = Duration::from_secs(40);

#[test]
fn a_service_calling_itself_is_cut_at_the_hop_limit_and_its_neighbours_keep_answering() {
    let cluster = Cluster::up(&[]);
    // The frontend calls http://backend/items, and `backend` selects the frontend's own pods.
    let looping = frontend_backend().replace(
        "kind: Service\nmetadata: {name: backend}\nspec: {selector: {app: backend}}",
        "kind: Service\nmetadata: {name: backend}\nspec: {selector: {app: frontend}}",
    );
    assert_ne!(
        looping,
        frontend_backend(),
        "the backend service now selects the frontend"
    );
    let hello = http_app("hello", &components().hello, 1, "/hello");
    let out = cluster.apply("loop.yaml", &format!("{looping}---\n{hello}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    cluster.wait_for_status("/hello", 200, WAIT);
    wait_until("two frontends ready", WAIT, || {
        let ready = cluster
            .items("pods")
            .iter()
            .filter(|p| {
                p["metadata"]["labels"]["app"] == "frontend" && p["status"]["ready"] == true
            })
            .count();
        (ready == 2).then_some(())
    });
    // The gateway's table follows the API a moment later: wait until the loop is reachable.
    cluster.wait_for_status("/frontend", 502, WAIT);

    // Hello keeps answering while looping requests run.
    let stop = Arc::new(AtomicBool::new(false));
    let ingress = addr_of(&cluster.ingress);
    let neighbour = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut statuses = Vec::new();
            let mut conn = connect(ingress).expect("connect");
            while !stop.load(Ordering::Relaxed) {
                match get_on(&mut conn, "/hello") {
                    Ok(answer) => statuses.push(answer.status),
                    Err(e) => panic!("hello connection failed during the loop: {e}"),
                }
            }
            statuses
        })
    };
    // Four loops at once: 4 x 17 frontend instances stay within the frontends' fair share.
    let loops: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut conn = connect(ingress).expect("connect");
                (0..3)
                    .map(|_| {
                        let started = Instant::now();
                        let answer = get_on(&mut conn, "/frontend").expect("loop request answered");
                        (answer.status, answer.body, started.elapsed())
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut answers = Vec::new();
    for l in loops {
        answers.extend(l.join().expect("loop thread"));
    }
    stop.store(true, Ordering::Relaxed);
    let statuses = neighbour.join().expect("neighbour thread");

    for (status, body, took) in &answers {
        assert_eq!(
            *status, 502,
            "the frontend reports its backend's failure: {body}"
        );
        assert!(
            body.contains("508") && body.contains("call loop detected"),
            "the loop ends with 508 Loop Detected: {body}"
        );
        assert!(
            body.matches("frontend: backend answered").count() <= 17,
            "at most 16 service calls deep: {body}"
        );
        assert!(*took < Duration::from_secs(10), "loop answered in {took:?}");
    }
    assert!(!statuses.is_empty());
    assert!(
        statuses.iter().all(|s| *s == 200),
        "hello answered {:?} during the loop",
        statuses.iter().filter(|s| **s != 200).collect::<Vec<_>>()
    );
}

#[test]
fn a_burst_larger_than_the_instance_pool_waits_instead_of_failing() {
    // A pool of 64 slots holds about 16 hello instances; 1,200 clients send at once.
    let cluster = Cluster::up(&["--max-instances", "64"]);
    let hello = http_app("hello", &components().hello, 1, "/hello");
    let too_many = hello.replace(
        "spec: {component:",
        "spec: {containerConcurrency: 200000, component:",
    );
    let out = cluster.apply("too-many.yaml", &too_many);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("containerConcurrency"),
        "{stderr}"
    );
    let out = cluster.apply("hello.yaml", &hello);
    assert!(out.status.success());
    cluster.wait_for_status("/hello", 200, WAIT);
    let ingress = addr_of(&cluster.ingress);
    const CLIENTS: usize = 1200;
    const REQUESTS: usize = 3;
    let start = Arc::new(Barrier::new(CLIENTS));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let start = start.clone();
            let failures = failures.clone();
            std::thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    let conn = connect(ingress);
                    start.wait();
                    let mut conn = match conn {
                        Ok(c) => c,
                        Err(e) => {
                            failures.lock().expect("lock").push(format!("connect: {e}"));
                            return;
                        }
                    };
                    for _ in 0..REQUESTS {
                        match get_on(&mut conn, "/hello") {
                            Ok(a) if a.status == 200 => {}
                            Ok(a) => {
                                failures.lock().expect("lock").push(format!(
                                    "{} {}",
                                    a.status,
                                    a.body.trim()
                                ));
                            }
                            Err(e) => {
                                failures.lock().expect("lock").push(format!("io: {e}"));
                                return;
                            }
                        }
                    }
                })
                .expect("client thread")
        })
        .collect();
    for c in clients {
        c.join().expect("client");
    }
    let failures = failures.lock().expect("lock");
    assert!(
        failures.is_empty(),
        "{} of {} requests failed, e.g. {:?}",
        failures.len(),
        CLIENTS * REQUESTS,
        failures.iter().take(5).collect::<Vec<_>>()
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn worker_on_port(cluster: &MultiNode, port: u16, data_dir: &std::path::Path) -> Process {
    let mut command = Command::new(wasmpod_bin());
    command
        .args([
            "worker",
            "--join",
            &cluster.api,
            "--token",
            &cluster.join_token,
            "--name",
            "w1",
            "--gateway-addr",
            &format!("127.0.0.1:{port}"),
            "--gateway-threads",
            "1",
            "--heartbeat-ms",
            "300",
            "--data-dir",
        ])
        .arg(data_dir);
    Process::spawn_command(command)
}

#[test]
fn a_restarted_gateway_answers_503_until_its_routes_are_synced_never_404() {
    let cluster = MultiNode::start();
    let port = free_port();
    let data_dir = cluster.work.path().join("node-w1");
    let mut worker = worker_on_port(&cluster, port, &data_dir);
    worker.wait_line("gateway: ");
    cluster.apply(
        "hello.yaml",
        &http_app("hello", &components().hello, 1, "/hello"),
    );
    let url = format!("http://127.0.0.1:{port}/hello");
    wait_until("hello through the worker", WAIT, || {
        (http_get(&url).0 == 200).then_some(())
    });

    worker.kill9();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    // Hammer the port from before the worker is back until it has answered 200 ten times.
    let hammer = std::thread::spawn(move || {
        let deadline = Instant::now() + WAIT;
        let mut seen: Vec<(u16, String)> = Vec::new();
        let mut ok = 0;
        while ok < 10 && Instant::now() < deadline {
            let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let mut conn = BufReader::new(stream);
            match get_on(&mut conn, "/hello") {
                Ok(answer) => {
                    if answer.status == 200 {
                        ok += 1;
                    }
                    seen.push((answer.status, answer.head + &answer.body));
                }
                // The old process's socket, or the new one before it serves.
                Err(_) => continue,
            }
        }
        seen
    });
    std::thread::sleep(Duration::from_millis(100));
    let restarted = worker_on_port(&cluster, port, &data_dir);
    restarted.wait_line("gateway: ");
    let seen = hammer.join().expect("hammer");
    drop(cluster);

    let not_found: Vec<_> = seen.iter().filter(|(s, _)| *s == 404).collect();
    assert!(
        not_found.is_empty(),
        "a restarted gateway answered 404 for an existing route: {:?}",
        not_found.first()
    );
    assert!(
        seen.iter().all(|(s, _)| *s == 200 || *s == 503),
        "only 503 then 200: {:?}",
        seen.iter().map(|(s, _)| s).collect::<Vec<_>>()
    );
    assert_eq!(
        seen.iter().filter(|(s, _)| *s == 200).count(),
        10,
        "the restarted worker serves again"
    );
    let unavailable: Vec<_> = seen.iter().filter(|(s, _)| *s == 503).collect();
    assert!(
        !unavailable.is_empty(),
        "the hammer reached the gateway before it had synced"
    );
    assert!(
        unavailable
            .iter()
            .all(|(_, text)| text.to_ascii_lowercase().contains("retry-after: 1")),
        "every 503 says when to retry: {:?}",
        unavailable.first()
    );
}

/// Whether the server closed `stream` (EOF or reset) within `within`.
fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let _ = stream.set_read_timeout(Some(within));
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn idle_and_half_sent_connections_are_closed_by_every_listener() {
    let cluster = Cluster::up(&[
        "--header-read-timeout-ms",
        "1500",
        "--idle-timeout-ms",
        "1000",
    ]);
    let ingress = addr_of(&cluster.ingress);
    let agent = wait_until("the node's agent address", WAIT, || {
        cluster
            .items("nodes")
            .first()
            .and_then(|n| n["status"]["agent"].as_str())
            .filter(|a| !a.is_empty())
            .map(addr_of)
    });
    let opened = Instant::now();
    let mut connections = Vec::new();
    for (target, count) in [(ingress, 200), (agent, 50)] {
        for i in 0..count {
            let mut stream = TcpStream::connect(target).expect("connect");
            if i % 2 == 1 {
                stream
                    .write_all(b"GET /hello HTTP/1.1\r\nHost: test\r\nX-Half: ")
                    .expect("half a request");
            }
            connections.push((target, i % 2 == 1, stream));
        }
    }
    // A client trickling one header byte every 200 ms is never idle: the header-read timeout
    // cuts it off.
    let trickler = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(ingress).expect("connect");
        let started = Instant::now();
        for byte in
            b"GET /hello HTTP/1.1\r\nHost: test\r\nX-Slow: abcdefghijklmnopqrstuvwxyzabcdefghij"
                .iter()
        {
            if stream.write_all(&[*byte]).is_err() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        None
    });
    // Idle: closed between 1 and 1.5 s; half-sent: by then too, or by the 1.5 s header timeout.
    std::thread::sleep(Duration::from_millis(3000).saturating_sub(opened.elapsed()));
    let still_open: Vec<_> = connections
        .iter_mut()
        .filter_map(|(target, half, stream)| {
            (!closed_by_server(stream, Duration::from_millis(50))).then_some((*target, *half))
        })
        .collect();
    assert!(
        still_open.is_empty(),
        "{} of {} idle or half-sent connections still open after the timeouts, e.g. {:?}",
        still_open.len(),
        connections.len(),
        still_open.first()
    );
    let cut_after = trickler.join().expect("trickler");
    assert!(
        cut_after.is_some_and(|t| t < Duration::from_secs(5)),
        "a trickling client was cut off by the header-read timeout: {cut_after:?}"
    );
}
