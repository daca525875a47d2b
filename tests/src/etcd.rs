//! A real etcd (`/usr/bin/etcd`, Debian's `etcd-server`, installed by `just deps`) for the tests:
//! one or three members on free loopback ports with temporary data directories, killed on drop
//! (and, through a small shell watchdog, when the test binary dies without dropping them: a
//! shared one lives in a `static`, which is never dropped).

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One member of the test cluster.
struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

/// An etcd cluster of one or more members.
pub struct Etcd {
    members: Vec<Member>,
    initial_cluster: String,
    token: String,
    dir: tempfile::TempDir,
}

/// The etcd binary: `$WASMPOD_ETCD`, else `etcd` on the PATH.
pub fn etcd_bin() -> PathBuf {
    std::env::var_os("WASMPOD_ETCD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("etcd"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Etcd {
    /// Starts `members` members and waits until every one answers its health check.
    pub fn start(members: usize) -> Etcd {
        let dir = tempfile::Builder::new()
            .prefix("wasmpod-etcd")
            .tempdir()
            .expect("etcd tempdir");
        let members: Vec<Member> = (0..members)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: free_port(),
                peer_port: free_port(),
                child: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        let token = format!(
            "wasmpod-test-{}",
            dir.path()
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("x")
        );
        let mut etcd = Etcd {
            members,
            initial_cluster,
            token,
            dir,
        };
        for i in 0..etcd.members.len() {
            etcd.spawn(i);
        }
        for i in 0..etcd.members.len() {
            etcd.wait_healthy(i);
        }
        etcd
    }

    fn spawn(&mut self, i: usize) {
        let member = &self.members[i];
        let client = format!("http://127.0.0.1:{}", member.client_port);
        let peer = format!("http://127.0.0.1:{}", member.peer_port);
        let log = std::fs::File::create(self.dir.path().join(format!("{}.log", member.name)))
            .expect("etcd log");
        // sh runs etcd and kills it when this test process is gone; both share a process group
        // that kill9 ends at once.
        let watchdog = r#"parent=$1; shift; "$@" & child=$!
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.5; done
kill -9 "$child" 2>/dev/null; wait"#;
        let child = Command::new("sh")
            .args(["-c", watchdog, "sh", &std::process::id().to_string()])
            .arg(etcd_bin())
            .args(["--name", &member.name, "--data-dir"])
            .arg(self.dir.path().join(&member.name))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", &self.token])
            // wasmpod commits a batch (an apply, a scheduler pass) as one transaction.
            .args(["--max-txn-ops", "100000"])
            .args(["--max-request-bytes", "33554432"])
            .args(["--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{} does not start ({e}): install it with `just deps` (Debian's etcd-server)",
                    etcd_bin().display()
                )
            });
        self.members[i].child = Some(child);
    }

    fn wait_healthy(&self, i: usize) {
        let url = format!("http://127.0.0.1:{}/health", self.members[i].client_port);
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        let started = Instant::now();
        loop {
            if let Ok(response) = client.get(&url).send() {
                if response.text().is_ok_and(|t| t.contains("\"true\"")) {
                    return;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "etcd member {} is not healthy after 30 s; its log:\n{}",
                self.members[i].name,
                std::fs::read_to_string(
                    self.dir
                        .path()
                        .join(format!("{}.log", self.members[i].name))
                )
                .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The client endpoints, `http://127.0.0.1:PORT`.
    pub fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("http://127.0.0.1:{}", m.client_port))
            .collect()
    }

    /// What `wasmpod server --store` takes: `etcd://127.0.0.1:P1,127.0.0.1:P2,...`.
    pub fn store_url(&self) -> String {
        let hosts: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.client_port))
            .collect();
        format!("etcd://{}", hosts.join(","))
    }

    /// `kill -9` of member `i` (its data directory stays, for [`Etcd::restart`]).
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            // The whole group: the watchdog shell and etcd.
            let _ = Command::new("kill")
                .args(["-9", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops member `i` (SIGSTOP): it keeps its connections and answers nothing until
    /// [`Etcd::resume`], as a member stalled on its disk would.
    pub fn pause(&self, i: usize) {
        self.signal(i, "-STOP");
    }

    /// Lets a paused member `i` run again (SIGCONT).
    pub fn resume(&self, i: usize) {
        self.signal(i, "-CONT");
    }

    fn signal(&self, i: usize, signal: &str) {
        if let Some(child) = &self.members[i].child {
            // The whole group: the watchdog shell and etcd.
            let status = Command::new("kill")
                .args([signal, "--", &format!("-{}", child.id())])
                .status()
                .expect("kill runs");
            assert!(status.success(), "kill {signal} of etcd member {i}");
        }
    }

    /// Starts member `i` again on its data directory and waits until it is healthy.
    pub fn restart(&mut self, i: usize) {
        self.kill9(i);
        self.spawn(i);
        self.wait_healthy(i);
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill9(i);
        }
    }
}
