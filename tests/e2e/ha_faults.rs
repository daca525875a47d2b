//! The fault test of the highly available control plane: three etcd members, three
//! `wasmpod server`s on them, two workers joined to all three, the hello and counter samples.
//! While a client applies and scales through all three URLs (logging every acknowledged write)
//! and a bounded load runs against ingress:
//! 1. `kill -9` of the leading server: a new leader within 5 s, the load sees >= 99.9% 2xx;
//! 2. `kill -9` of one etcd member: writes keep being acknowledged;
//! 3. every server stopped for 10 s: ingress answers 100%, a crashing pod is still restarted;
//! 4. the servers back: every acknowledged write is there, no Running pod was restarted, the
//!    counter's value is intact.
//!
//! The measured figures are printed (`eprintln!`) for the note.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmpod_tests::etcd::Etcd;
use wasmpod_tests::servers::ServerFiles;
use wasmpod_tests::{
    api_json, components, crasher_app, sample_manifest, wait_until, wasmpod_bin, worker_command,
    Process,
};

const WAIT: Duration = Duration::from_secs(60);
/// The load that spans steps 1 and 2 sends at least this many requests, and at most
/// [`LOAD_MAX`].
const LOAD_MIN: u64 = 2000;
const LOAD_MAX: u64 = 5000;
/// Requests sent while every server is down.
const DOWN_REQUESTS: u64 = 1000;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Three servers on fixed loopback ports (so a restarted one keeps its URL), one etcd.
struct ControlPlane {
    servers: Vec<Option<Process>>,
    /// Servers killed or stopped: kept so that a failing test prints their logs too.
    gone: Vec<Process>,
    urls: Vec<String>,
    files: ServerFiles,
    etcd: Etcd,
}

impl ControlPlane {
    fn new(etcd: Etcd) -> ControlPlane {
        let urls = (0..3)
            .map(|_| format!("http://127.0.0.1:{}", free_port()))
            .collect();
        ControlPlane {
            servers: vec![None, None, None],
            gone: Vec::new(),
            urls,
            files: ServerFiles::new(9),
            etcd,
        }
    }

    /// Every URL, in order from `first`: what a client with the list tries.
    fn list_from(&self, first: usize) -> String {
        (0..3)
            .map(|k| self.urls[(first + k) % 3].clone())
            .collect::<Vec<_>>()
            .join(",")
    }

    fn start(&mut self, i: usize) {
        let addr = self.urls[i].trim_start_matches("http://").to_string();
        let command = self.files.server_command(i, &addr, &self.etcd.store_url());
        let process = Process::spawn_command(command);
        process.wait_line("API: ");
        self.servers[i] = Some(process);
    }

    fn kill9(&mut self, i: usize) {
        if let Some(mut process) = self.servers[i].take() {
            process.kill9();
            self.gone.push(process);
        }
    }

    fn stop(&mut self, i: usize) {
        if let Some(mut process) = self.servers[i].take() {
            process.terminate();
            self.gone.push(process);
        }
    }

    /// The CLI with the admin token and no client config.
    fn cli_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(wasmpod_bin());
        command
            .args(args)
            .args(["--token", &self.files.admin])
            .env("WASMPOD_CONFIG", self.files.work.path().join("no-config"))
            .env_remove("WASMPOD_SERVER")
            .env_remove("WASMPOD_TOKEN");
        command
    }

    fn cli(&self, args: &[&str]) -> Output {
        self.cli_command(args).output().expect("wasmpod runs")
    }

    fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "wasmpod {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn apply(&self, name: &str, yaml: &str) {
        let path = self.files.work.path().join(name);
        std::fs::write(&path, yaml).expect("manifest");
        self.cli_ok(&[
            "apply",
            "-f",
            path.to_str().expect("utf-8"),
            "--server",
            &self.list_from(0),
        ]);
    }

    /// `GET /api/v1/cluster` on server `i`'s URL.
    fn cluster_status(&self, i: usize) -> Option<serde_json::Value> {
        api_json(&self.urls[i], "/api/v1/cluster", Some(&self.files.admin)).ok()
    }

    /// The leader's name as any live server sees it, and that server's index.
    fn leader(&self) -> Option<String> {
        (0..3).filter(|i| self.servers[*i].is_some()).find_map(|i| {
            self.cluster_status(i)
                .and_then(|s| s["leader"]["holder"].as_str().map(str::to_string))
        })
    }

    /// The leader's name as each live server that answers sees it.
    fn holders(&self) -> Vec<String> {
        (0..3)
            .filter(|i| self.servers[*i].is_some())
            .filter_map(|i| {
                self.cluster_status(i)
                    .and_then(|s| s["leader"]["holder"].as_str().map(str::to_string))
            })
            .collect()
    }

    /// Items of a kind read through any live server.
    fn items(&self, plural: &str) -> Option<Vec<serde_json::Value>> {
        (0..3).filter(|i| self.servers[*i].is_some()).find_map(|i| {
            wasmpod_tests::list_items(&self.urls[i], plural, Some(&self.files.admin)).ok()
        })
    }
}

/// A write the API acknowledged, as the client logged it.
#[derive(Debug, Clone)]
enum Ack {
    /// ConfigMap `name` with `data.value = value`.
    ConfigMap { name: String, value: String },
    /// Deployment `scaled` at `replicas`.
    Scale { replicas: u32 },
}

/// What the writer thread saw: every attempt in order, acknowledged or not.
#[derive(Debug, Default)]
struct WriteLog {
    attempts: Vec<(Ack, bool)>,
    /// When each attempt was sent.
    sent: Vec<Instant>,
}

impl WriteLog {
    fn acked(&self) -> usize {
        self.attempts.iter().filter(|(_, ok)| *ok).count()
    }

    /// The attempts sent after `since`: (acknowledged, failed).
    fn since(&self, since: Instant) -> (usize, usize) {
        let after = self
            .attempts
            .iter()
            .zip(&self.sent)
            .filter(|(_, t)| **t >= since);
        let ok = after.clone().filter(|((_, ok), _)| *ok).count();
        (ok, after.count() - ok)
    }
}

/// Applies a new ConfigMap and scales `scaled` in turns, each through the URL list starting
/// at a different server, until `stop`; logs every attempt and whether it was acknowledged.
fn writer(
    cli: impl Fn(usize, &[&str]) -> Output + Send + 'static,
    dir: PathBuf,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<WriteLog>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut i = 0usize;
        while !stop.load(Ordering::SeqCst) {
            let sent = Instant::now();
            let (ack, out) = if i.is_multiple_of(2) {
                let name = format!("ack-{i}");
                let value = format!("v{i}");
                let path = dir.join(format!("{name}.yaml"));
                let manifest = format!(
                    "apiVersion: wasmpod.dev/v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{value: {value}}}\n"
                );
                // The work directory is gone when the test failed and dropped it: stop.
                if std::fs::write(&path, manifest).is_err() {
                    break;
                }
                let out = cli(i, &["apply", "-f", path.to_str().expect("utf-8")]);
                (Ack::ConfigMap { name, value }, out)
            } else {
                let replicas = (i / 2 % 3) as u32 + 1;
                let out = cli(
                    i,
                    &[
                        "scale",
                        "deployment",
                        "scaled",
                        "--replicas",
                        &replicas.to_string(),
                    ],
                );
                (Ack::Scale { replicas }, out)
            };
            let ok = out.status.success();
            let mut log = log.lock().expect("log");
            log.attempts.push((ack, ok));
            log.sent.push(sent);
            drop(log);
            i += 1;
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

/// Counts of a load run: requests sent and 2xx answers.
#[derive(Default)]
struct LoadCount {
    sent: AtomicU64,
    ok: AtomicU64,
}

/// GETs `/hello` on both gateways in turn (one keep-alive client) until `stop` (once `min`
/// were sent) or `max` requests.
fn load(
    gateways: Vec<String>,
    (min, max): (u64, u64),
    stop: Arc<AtomicBool>,
    count: Arc<LoadCount>,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        let mut failures = Vec::new();
        let mut n = 0u64;
        while n < max && (n < min || !stop.load(Ordering::SeqCst)) {
            let url = format!("{}/hello", gateways[n as usize % gateways.len()]);
            count.sent.fetch_add(1, Ordering::SeqCst);
            match client.get(&url).send() {
                Ok(r) if r.status().is_success() => {
                    let _ = r.bytes();
                    count.ok.fetch_add(1, Ordering::SeqCst);
                }
                Ok(r) => failures.push(format!("{url}: {}", r.status())),
                Err(e) => failures.push(format!("{url}: {e}")),
            }
            n += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        failures
    })
}

/// The counter's visit number from one GET through `gateway`.
fn counter_visit(gateway: &str) -> Option<u64> {
    let (status, body) = wasmpod_tests::http_get_with(
        &format!("{gateway}/counter"),
        &[("authorization", "Bearer s3cret")],
    );
    (status == 200)
        .then(|| body.rsplit('#').next()?.trim().parse().ok())
        .flatten()
}

/// Identity of a Running pod: if any of it changes, the pod was restarted or replaced.
#[derive(Debug, Clone, PartialEq)]
struct RunningPod {
    uid: String,
    start_time: String,
    restart_count: u64,
    node: String,
}

fn running_pods(pods: &[serde_json::Value]) -> BTreeMap<String, RunningPod> {
    pods.iter()
        .filter(|p| {
            p["status"]["phase"] == "Running" && p["metadata"]["labels"]["app"] != "crasher"
        })
        .map(|p| {
            (
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                RunningPod {
                    uid: p["metadata"]["uid"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    start_time: p["status"]["startTime"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    restart_count: p["status"]["restartCount"].as_u64().unwrap_or_default(),
                    node: p["spec"]["nodeName"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                },
            )
        })
        .collect()
}

fn worker(plane: &ControlPlane, name: &str) -> (Process, String) {
    let command = worker_command(
        &plane.list_from(0),
        &plane.files.work.path().join("join-token"),
        name,
        &plane.files.work.path().join(format!("node-{name}")),
    );
    let process = Process::spawn_command(command);
    let gateway = process.wait_line("gateway: ");
    (process, gateway)
}

#[test]
fn the_control_plane_survives_kill9_of_its_leader_and_an_etcd_member_and_the_data_plane_a_full_outage(
) {
    let mut plane = ControlPlane::new(Etcd::start(3));
    for i in 0..3 {
        plane.start(i);
    }
    wait_until("a leader and three servers", WAIT, || {
        plane
            .cluster_status(0)
            .filter(|s| s["leader"].is_object() && s["servers"].as_array().map(Vec::len) == Some(3))
    });
    let (_worker_a, gateway_a) = worker(&plane, "node-a");
    let (_worker_b, gateway_b) = worker(&plane, "node-b");
    let gateways = vec![gateway_a.clone(), gateway_b.clone()];

    plane.apply("hello.yaml", &sample_manifest("hello"));
    plane.apply("counter.yaml", &sample_manifest("counter"));
    plane.apply(
        "scaled.yaml",
        &wasmpod_tests::deployment_yaml("scaled", &components().hello, 1, "", ""),
    );
    for gateway in &gateways {
        wait_until("hello through both gateways", WAIT, || {
            let (status, _) = wasmpod_tests::http_get(&format!("{gateway}/hello"));
            (status == 200).then_some(())
        });
    }
    let first_visit = wait_until("the counter answers", WAIT, || counter_visit(&gateway_a));

    // The writer and the load run through steps 1 and 2.
    let stop_writes = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(WriteLog::default()));
    let urls: Vec<String> = (0..3).map(|i| plane.list_from(i)).collect();
    let admin = plane.files.admin.clone();
    let no_config = plane.files.work.path().join("no-config");
    let writes = writer(
        move |i, args| {
            Command::new(wasmpod_bin())
                .args(args)
                .args(["--token", &admin, "--server", &urls[i % 3]])
                .env("WASMPOD_CONFIG", &no_config)
                .env_remove("WASMPOD_SERVER")
                .env_remove("WASMPOD_TOKEN")
                .output()
                .expect("wasmpod runs")
        },
        plane.files.work.path().to_path_buf(),
        stop_writes.clone(),
        log.clone(),
    );
    let stop_load = Arc::new(AtomicBool::new(false));
    let count = Arc::new(LoadCount::default());
    let load_thread = load(
        gateways.clone(),
        (LOAD_MIN, LOAD_MAX),
        stop_load.clone(),
        count.clone(),
    );
    wait_until("a few acknowledged writes", WAIT, || {
        (log.lock().expect("log").acked() >= 4).then_some(())
    });

    // 1. kill -9 of the leading server.
    let holder = plane.leader().expect("a leader");
    let leader: usize = holder
        .strip_prefix("server-")
        .and_then(|i| i.parse().ok())
        .expect("a server-N holder");
    plane.kill9(leader);
    let killed = Instant::now();
    // Waits longer than the bound, so that a slow failover fails with its figure.
    let new_holder = wait_until("a new leader", Duration::from_secs(20), || {
        plane.holders().into_iter().find(|h| *h != holder)
    });
    let failover = killed.elapsed();
    eprintln!("fault test: leader {holder} killed, {new_holder} leads after {failover:?}");
    assert!(
        failover <= Duration::from_secs(5),
        "failover took {failover:?}"
    );
    // The writes sent once the dead server's connections are gone are all acknowledged (the
    // clients skip it); one in flight on it at the kill may fail.
    let settled = killed + Duration::from_secs(1);
    wait_until("writes after the leader's kill", WAIT, || {
        (log.lock().expect("log").since(settled).0 >= 4).then_some(())
    });
    let (ok, failed) = log.lock().expect("log").since(settled);
    eprintln!(
        "fault test: writes sent after the leader's kill: {ok} acknowledged, {failed} failed"
    );
    assert_eq!(failed, 0, "writes refused with the leader dead");
    plane.start(leader);

    // 2. kill -9 of one etcd member: writes keep being acknowledged.
    plane.etcd.kill9(1);
    let member_killed = Instant::now();
    // Every write sent once the member's in-flight requests are gone is acknowledged: each
    // server's etcd client balances over the three members, and the dead one refuses.
    let settled = member_killed + Duration::from_secs(1);
    wait_until(
        "8 writes sent with an etcd member down",
        Duration::from_secs(30),
        || {
            let (ok, failed) = log.lock().expect("log").since(settled);
            (ok + failed >= 8).then_some(())
        },
    );
    let (ok, failed) = log.lock().expect("log").since(settled);
    eprintln!(
        "fault test: with an etcd member down: {ok} writes acknowledged, {failed} failed, over {:?}",
        member_killed.elapsed()
    );
    assert_eq!(failed, 0, "writes refused with one etcd member down");

    stop_writes.store(true, Ordering::SeqCst);
    writes.join().expect("writer");
    stop_load.store(true, Ordering::SeqCst);
    let failures = load_thread.join().expect("load");
    let (sent, ok) = (
        count.sent.load(Ordering::SeqCst),
        count.ok.load(Ordering::SeqCst),
    );
    let ratio = ok as f64 / sent.max(1) as f64;
    eprintln!(
        "fault test: ingress load over steps 1-2: {ok}/{sent} 2xx ({:.3}%)",
        ratio * 100.0
    );
    assert!(sent >= LOAD_MIN, "the load sent only {sent} requests");
    assert!(ratio >= 0.999, "{ok}/{sent} 2xx; failures: {failures:?}");
    plane.etcd.restart(1);

    // 3. Every server stopped for 10 s: ingress answers, the crasher keeps being restarted.
    plane.apply("crasher.yaml", &crasher_app(&components().crasher));
    let crasher = wait_until("the crasher crashed once", WAIT, || {
        plane.items("pods")?.into_iter().find(|p| {
            p["metadata"]["labels"]["app"] == "crasher"
                && p["status"]["restartCount"].as_u64() >= Some(1)
        })
    });
    let crasher = crasher["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    let crasher_starts = |plane: &ControlPlane| {
        plane
            .cli_ok(&["logs", &crasher, "--server", &plane.list_from(0)])
            .matches("crasher starting")
            .count()
    };
    let starts_before = crasher_starts(&plane);
    // The writes have settled (scale-ups Running) before the snapshot.
    let expected_scaled = {
        let log = log.lock().expect("log");
        let last = log
            .attempts
            .iter()
            .rposition(|(a, ok)| *ok && matches!(a, Ack::Scale { .. }));
        let mut allowed: Vec<u32> = log.attempts[last.unwrap_or(0)..]
            .iter()
            .filter_map(|(a, _)| match a {
                Ack::Scale { replicas } => Some(*replicas),
                Ack::ConfigMap { .. } => None,
            })
            .collect();
        if last.is_none() {
            allowed.push(1);
        }
        allowed
    };
    let snapshot = wait_until("every pod Running and the writes settled", WAIT, || {
        let pods = plane.items("pods")?;
        let scaled = pods
            .iter()
            .filter(|p| p["metadata"]["labels"]["app"] == "scaled" && p["status"]["ready"] == true)
            .count() as u32;
        let settled = pods
            .iter()
            .filter(|p| p["metadata"]["labels"]["app"] != "crasher")
            .all(|p| p["status"]["phase"] == "Running" && p["status"]["ready"] == true);
        (settled && expected_scaled.contains(&scaled)).then(|| running_pods(&pods))
    });
    let visit_before = counter_visit(&gateway_a).expect("the counter answers");
    assert!(visit_before > first_visit);

    for i in 0..3 {
        plane.stop(i);
    }
    let down = Instant::now();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let (mut down_sent, mut down_ok) = (0u64, 0u64);
    let mut down_failures = Vec::new();
    while down.elapsed() < Duration::from_secs(10) && down_sent < DOWN_REQUESTS {
        let url = format!("{}/hello", gateways[down_sent as usize % 2]);
        down_sent += 1;
        match client.get(&url).send() {
            Ok(r) if r.status().is_success() => down_ok += 1,
            Ok(r) => down_failures.push(format!("{url}: {}", r.status())),
            Err(e) => down_failures.push(format!("{url}: {e}")),
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let visit_down = counter_visit(&gateway_b);
    if let Some(left) = Duration::from_secs(10).checked_sub(down.elapsed()) {
        std::thread::sleep(left);
    }
    eprintln!(
        "fault test: with every server down for {:?}: {down_ok}/{down_sent} 2xx",
        down.elapsed()
    );
    assert_eq!(down_ok, down_sent, "{down_failures:?}");
    assert_eq!(
        visit_down,
        Some(visit_before + 1),
        "the counter while the servers are down"
    );

    // 4. The servers back.
    for i in 0..3 {
        plane.start(i);
    }
    wait_until("a leader again", WAIT, || plane.leader());
    let starts_after = crasher_starts(&plane);
    assert!(
        starts_after >= starts_before + 2,
        "the node started the crasher {} times while the servers were down",
        starts_after - starts_before
    );
    // Let the workers re-register and the controllers pass: nothing Running is touched.
    std::thread::sleep(Duration::from_secs(5));
    let pods = plane.items("pods").expect("pods");
    let after = running_pods(&pods);
    for (name, was) in &snapshot {
        assert_eq!(
            after.get(name),
            Some(was),
            "pod {name} was Running before the outage"
        );
    }
    let configmaps: BTreeMap<String, String> = plane
        .items("configmaps")
        .expect("configmaps")
        .into_iter()
        .map(|c| {
            (
                c["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                c["data"]["value"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let log = log.lock().expect("log");
    let mut checked = 0;
    for (ack, ok) in &log.attempts {
        if let (Ack::ConfigMap { name, value }, true) = (ack, ok) {
            assert_eq!(configmaps.get(name), Some(value), "acknowledged {name}");
            checked += 1;
        }
    }
    let deployments = plane.items("deployments").expect("deployments");
    let scaled = deployments
        .iter()
        .find(|d| d["metadata"]["name"] == "scaled")
        .and_then(|d| d["spec"]["replicas"].as_u64())
        .expect("scaled") as u32;
    assert!(
        expected_scaled.contains(&scaled),
        "scaled has {scaled} replicas, the acknowledged scales allow {expected_scaled:?}"
    );
    let scales = log
        .attempts
        .iter()
        .filter(|(a, ok)| *ok && matches!(a, Ack::Scale { .. }))
        .count();
    eprintln!(
        "fault test: {} writes acknowledged ({checked} configmaps, {scales} scales) of {} attempts, all present after the outage",
        log.acked(),
        log.attempts.len()
    );
    assert_eq!(
        counter_visit(&gateway_a),
        Some(visit_before + 2),
        "the counter after the outage"
    );
}
