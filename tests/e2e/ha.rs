//! Several `wasmpod server`s sharing one etcd: one of them leads the controllers (an etcd
//! lease), an upload acknowledged by one is kept by another, a server that misses a blob fetches
//! it from a peer, and the CLI fails over between servers.
//!
//! Until the etcd object store lands each server here keeps its objects in its own sled store;
//! the election, the membership and the blobs do not depend on it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wasmpod_tests::{components, wait_until, wasmpod_bin, Process};

const WAIT: Duration = Duration::from_secs(20);

/// One etcd member on free loopback ports with a temporary data directory, killed on drop.
struct Etcd {
    child: Child,
    endpoint: String,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Etcd {
    fn start() -> Etcd {
        let dir = tempfile::tempdir().expect("tempdir");
        let (client, peer) = (free_port(), free_port());
        let child = Command::new("/usr/bin/etcd")
            .args(["--name", "e2e", "--data-dir"])
            .arg(dir.path())
            .arg(format!("--listen-client-urls=http://127.0.0.1:{client}"))
            .arg(format!("--advertise-client-urls=http://127.0.0.1:{client}"))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
            .arg(format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{peer}"
            ))
            .arg(format!("--initial-cluster=e2e=http://127.0.0.1:{peer}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start /usr/bin/etcd");
        let endpoint = format!("127.0.0.1:{client}");
        wait_until("etcd answers", WAIT, || {
            reqwest::blocking::get(format!("http://{endpoint}/health"))
                .ok()
                .filter(|r| r.status().is_success())
        });
        Etcd {
            child,
            endpoint,
            _dir: dir,
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Servers of one control plane: the same tokens and encryption key in every data directory.
struct Servers {
    servers: Vec<(Process, String)>,
    admin: String,
    work: tempfile::TempDir,
    etcd: Etcd,
}

impl Servers {
    fn new() -> Servers {
        let work = tempfile::tempdir().expect("tempdir");
        let admin = "a".repeat(48);
        std::fs::write(
            work.path().join("tokens.yaml"),
            format!("admin: {admin}\njoin: {}\n", "j".repeat(48)),
        )
        .expect("tokens");
        std::fs::write(work.path().join("secrets.key"), [7u8; 32]).expect("key");
        Servers {
            servers: Vec::new(),
            admin,
            work,
            etcd: Etcd::start(),
        }
    }

    fn data_dir(&self, i: usize) -> PathBuf {
        self.work.path().join(format!("server-{i}"))
    }

    /// Starts server `i` and returns its API URL.
    fn start(&mut self, i: usize) -> String {
        let dir = self.data_dir(i);
        std::fs::create_dir_all(&dir).expect("data dir");
        std::fs::copy(
            self.work.path().join("tokens.yaml"),
            dir.join("tokens.yaml"),
        )
        .expect("copy");
        let mut command = Command::new(wasmpod_bin());
        command
            .args(["server", "--api-addr", "127.0.0.1:0", "--no-client-config"])
            .arg("--data-dir")
            .arg(&dir)
            .arg("--encryption-key")
            .arg(self.work.path().join("secrets.key"))
            .args(["--store", &format!("etcd://{}", self.etcd.endpoint)])
            .args(["--name", &format!("server-{i}")]);
        let process = Process::spawn_command(command);
        let api = process.wait_line("API: ");
        self.servers.push((process, api.clone()));
        api
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(wasmpod_bin())
            .args(args)
            .args(["--token", &self.admin])
            .env("WASMPOD_CONFIG", self.work.path().join("no-config"))
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
    let token = servers.admin.clone();
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
