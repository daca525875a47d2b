//! Several `wasmpod server`s sharing one etcd: one of them leads the controllers (an etcd
//! lease), an upload acknowledged by one is kept by another, a server that misses a blob fetches
//! it from a peer, and the CLI fails over between servers.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use wasmpod_tests::etcd::Etcd;
use wasmpod_tests::servers::ServerFiles;
use wasmpod_tests::{components, http_app, http_get, wait_until, wasmpod_bin, Process};

const WAIT: Duration = Duration::from_secs(20);

/// Servers of one control plane: the same tokens and encryption key in every data directory.
struct Servers {
    servers: Vec<(Process, String)>,
    files: ServerFiles,
    etcd: Etcd,
}

impl Servers {
    fn new() -> Servers {
        Servers {
            servers: Vec::new(),
            files: ServerFiles::new(7),
            etcd: Etcd::start(1),
        }
    }

    /// Starts server `i` and returns its API URL.
    fn start(&mut self, i: usize) -> String {
        let command = self
            .files
            .server_command(i, "127.0.0.1:0", &self.etcd.store_url());
        let process = Process::spawn_command(command);
        let api = process.wait_line("API: ");
        self.servers.push((process, api.clone()));
        api
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(wasmpod_bin())
            .args(args)
            .args(["--token", &self.files.admin])
            .env("WASMPOD_CONFIG", self.files.work.path().join("no-config"))
            .env_remove("WASMPOD_SERVER")
            .output()
            .expect("wasmpod runs")
    }

    fn leases(&self, server: &str) -> Option<serde_json::Value> {
        let out = self.cli(&["get", "leases", "-o", "json", "--server", server]);
        out.status
            .success()
            .then(|| serde_json::from_slice(&out.stdout).ok())
            .flatten()
    }
}

fn blob(api: &str, token: &str, digest: &str) -> (u16, Vec<u8>) {
    let answer = reqwest::blocking::Client::new()
        .get(format!("{api}/api/v1/blobs/{digest}"))
        .bearer_auth(token)
        .send()
        .expect("the server answers");
    let status = answer.status().as_u16();
    (status, answer.bytes().expect("body").to_vec())
}

fn upload(api: &str, token: &str, path: &Path) -> (u16, String) {
    let answer = reqwest::blocking::Client::new()
        .post(format!("{api}/api/v1/blobs"))
        .bearer_auth(token)
        .body(std::fs::read(path).expect("component"))
        .send()
        .expect("the server answers");
    let status = answer.status().as_u16();
    let body: serde_json::Value = answer.json().unwrap_or_default();
    (
        status,
        body["digest"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn one_server_leads_and_another_takes_over_within_5s_after_kill9() {
    let mut servers = Servers::new();
    let a = servers.start(0);
    let b = servers.start(1);
    let both = format!("{a},{b}");
    let status = wait_until("a leader and two servers", WAIT, || {
        servers
            .leases(&both)
            .filter(|s| s["leader"].is_object() && s["servers"].as_array().map(Vec::len) == Some(2))
    });
    let holder = status["leader"]["holder"]
        .as_str()
        .expect("holder")
        .to_string();
    assert_eq!(status["leader"]["leaseTtlSeconds"], 3, "{status}");
    // Only the leader runs the controllers.
    let leader = if holder == "server-0" { 0 } else { 1 };
    let follower_log = servers.servers[1 - leader].0.stderr_tail();
    assert!(
        !follower_log.contains("starting the controllers"),
        "{follower_log}"
    );
    servers.servers[leader].0.kill9();
    let killed = Instant::now();
    let survivor = servers.servers[1 - leader].1.clone();
    // Through the list (the dead one first): the CLI fails over, and the survivor leads.
    let list = if leader == 0 {
        both.clone()
    } else {
        format!("{b},{a}")
    };
    wait_until("the survivor leads", Duration::from_secs(5), || {
        servers
            .leases(&list)
            .filter(|s| s["leader"]["holder"] != holder.as_str() && s["leader"].is_object())
    });
    let failover = killed.elapsed();
    assert!(
        failover <= Duration::from_secs(5),
        "failover took {failover:?}"
    );
    let status = servers.leases(&survivor).expect("status");
    assert_eq!(
        status["servers"].as_array().map(Vec::len),
        Some(1),
        "{status}"
    );
    let log = servers.servers[1 - leader].0.stderr_tail();
    assert!(log.contains("starting the controllers"), "{log}");
}

#[test]
fn an_acknowledged_upload_survives_the_server_that_took_it_and_a_miss_is_fetched_from_a_peer() {
    let mut servers = Servers::new();
    let token = servers.files.admin.clone();
    let a = servers.start(0);
    // Alone: the upload is kept here only.
    let (status, hello) = upload(&a, &token, &components().hello);
    assert_eq!(status, 200);
    let b = servers.start(1);
    wait_until("two servers registered", WAIT, || {
        servers
            .leases(&a)
            .filter(|s| s["servers"].as_array().map(Vec::len) == Some(2))
    });
    // b never got hello: it fetches it from a, checks it and keeps it.
    let (status, bytes) = blob(&b, &token, &hello);
    assert_eq!(status, 200);
    assert_eq!(bytes, std::fs::read(&components().hello).expect("hello"));
    // With two servers, an upload to a is copied to b before it is acknowledged.
    let (status, counter) = upload(&a, &token, &components().counter);
    assert_eq!(status, 200);
    servers.servers[0].0.kill9();
    let (status, bytes) = blob(&b, &token, &counter);
    assert_eq!(
        status, 200,
        "the acknowledged upload is lost with its server"
    );
    assert_eq!(
        bytes,
        std::fs::read(&components().counter).expect("counter")
    );
    // Peers authenticate with the token derived from the shared key; a wrong one gets nothing.
    let (status, _) = blob(&b, "not-the-peer-token", &counter);
    assert_eq!(status, 401);
}

/// `wasmpod worker --join A,B` with the shared join token; returns its gateway URL.
fn worker(servers: &mut Servers, name: &str, join: &str) -> (Process, String) {
    let token_file = servers.files.work.path().join("join-token");
    std::fs::write(&token_file, "j".repeat(48)).expect("token file");
    let mut command = Command::new(wasmpod_bin());
    command
        .args(["worker", "--join", join, "--token-file"])
        .arg(&token_file)
        .args([
            "--name",
            name,
            "--gateway-addr",
            "127.0.0.1:0",
            "--gateway-threads",
            "1",
        ])
        .args(["--heartbeat-ms", "300", "--data-dir"])
        .arg(servers.files.work.path().join(format!("node-{name}")));
    let process = Process::spawn_command(command);
    let gateway = process.wait_line("gateway: ");
    (process, gateway)
}

#[test]
fn two_servers_on_one_etcd_survive_kill9_of_the_leader_with_a_worker_joined_to_both() {
    let mut servers = Servers::new();
    let a = servers.start(0);
    let b = servers.start(1);
    let both = format!("{a},{b}");
    let status = wait_until("a leader", WAIT, || {
        servers.leases(&both).filter(|s| s["leader"].is_object())
    });
    let holder = status["leader"]["holder"]
        .as_str()
        .expect("holder")
        .to_string();
    let leader = if holder == "server-0" { 0 } else { 1 };
    // The worker talks to the leader first, so its loss forces the worker to fail over.
    let follower_url = servers.servers[1 - leader].1.clone();
    let leader_first = format!("{},{follower_url}", servers.servers[leader].1);
    let (_worker, gateway) = worker(&mut servers, "node-a", &leader_first);
    // Applied through the follower: the leader's controllers and scheduler act on it.
    let manifest = servers.files.work.path().join("hello.yaml");
    std::fs::write(
        &manifest,
        http_app("hello", &components().hello, 1, "/hello"),
    )
    .expect("yaml");
    let out = servers.cli(&[
        "apply",
        "-f",
        manifest.to_str().expect("utf-8"),
        "--server",
        &follower_url,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(
        "hello answers through ingress",
        Duration::from_secs(60),
        || {
            let (status, body) = http_get(&format!("{gateway}/hello"));
            (status == 200).then_some(body)
        },
    );
    servers.servers[leader].0.kill9();
    // The data plane keeps serving; the survivor takes the controllers over.
    let (status, _) = http_get(&format!("{gateway}/hello"));
    assert_eq!(status, 200);
    wait_until("the survivor leads", Duration::from_secs(6), || {
        servers
            .leases(&both)
            .filter(|s| s["leader"].is_object() && s["leader"]["holder"] != holder.as_str())
    });
    // A scale through the list (the dead server may be first) reaches the survivor, whose
    // controllers create the replica, and the worker (failed over to it) runs it.
    let out = servers.cli(&[
        "scale",
        "deployment",
        "hello",
        "--replicas",
        "2",
        "--server",
        &both,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(
        "2 running replicas after the failover",
        Duration::from_secs(60),
        || {
            let out = servers.cli(&["get", "pods", "-o", "json", "--server", &leader_first]);
            let pods: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            let running = pods["items"]
                .as_array()?
                .iter()
                .filter(|p| p["status"]["phase"] == "Running" && p["status"]["ready"] == true)
                .count();
            (running == 2).then_some(())
        },
    );
    let (status, _) = http_get(&format!("{gateway}/hello"));
    assert_eq!(status, 200);
}
