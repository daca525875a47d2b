//! The end-to-end harness: starts the real `wasmpod` binary on free loopback ports with a
//! temporary data directory, drives it with the CLI and plain HTTP, and stops it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The `wasmpod` binary built beside this test (`cargo build -p wasmpod-cli`).
pub fn wasmpod_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("WASMPOD_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let bin = dir.join("wasmpod");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p wasmpod-cli` (or `just test`) first",
        bin.display()
    );
    bin
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// The wasm components the tests deploy, built once per test run.
pub struct Components {
    pub hello: PathBuf,
    pub frontend: PathBuf,
    pub backend: PathBuf,
    pub counter: PathBuf,
    pub misbehave: PathBuf,
    pub crasher: PathBuf,
}

fn build_wasm(manifest: &Path) {
    let status = Command::new("cargo")
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(manifest)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building {} failed", manifest.display());
}

pub fn components() -> &'static Components {
    static BUILT: OnceLock<Components> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = repo_root();
        let samples = root.join("sample-services");
        let tests = root.join("tests/components");
        let c = Components {
            hello: samples.join("target/wasm32-wasip2/release/hello.wasm"),
            frontend: samples.join("target/wasm32-wasip2/release/frontend.wasm"),
            backend: samples.join("target/wasm32-wasip2/release/backend.wasm"),
            counter: samples.join("target/wasm32-wasip2/release/counter.wasm"),
            misbehave: tests.join("target/wasm32-wasip2/release/misbehave.wasm"),
            crasher: tests.join("target/wasm32-wasip2/release/crasher.wasm"),
        };
        if [&c.hello, &c.frontend, &c.backend, &c.counter]
            .iter()
            .any(|p| !p.exists())
        {
            build_wasm(&samples.join("Cargo.toml"));
        }
        if !c.misbehave.exists() || !c.crasher.exists() {
            build_wasm(&tests.join("Cargo.toml"));
        }
        c
    })
}

/// A running `wasmpod up`.
pub struct Cluster {
    process: Process,
    pub api: String,
    pub ingress: String,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    /// Where test manifests and the client config are written.
    pub work: tempfile::TempDir,
}

impl Cluster {
    /// `wasmpod up` with a fresh data directory.
    pub fn up(extra: &[&str]) -> Cluster {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("data");
        let mut cluster = Cluster::up_in(&dir, extra);
        cluster._tmp = Some(tmp);
        cluster
    }

    /// `wasmpod up` on `data_dir` (kept by the caller across restarts).
    pub fn up_in(data_dir: &Path, extra: &[&str]) -> Cluster {
        let work = tempfile::tempdir().expect("tempdir");
        let mut command = Command::new(wasmpod_bin());
        command
            .args([
                "up",
                "--api-addr",
                "127.0.0.1:0",
                "--ingress-addr",
                "127.0.0.1:0",
                "--gateway-threads",
                "1",
                "--data-dir",
            ])
            .arg(data_dir)
            .args(extra)
            .env("WASMPOD_CONFIG", work.path().join("config"));
        let process = Process::spawn(command);
        // `up` prints the API line before the ingress line.
        let api = process.wait_line("API: ");
        let ingress = process.wait_line("ingress: ");
        Cluster {
            process,
            api,
            ingress,
            data_dir: data_dir.to_path_buf(),
            _tmp: None,
            work,
        }
    }

    /// Runs the CLI against this cluster.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(wasmpod_bin())
            .args(args)
            .env("WASMPOD_SERVER", &self.api)
            .env("WASMPOD_CONFIG", self.work.path().join("config"))
            .env_remove("WASMPOD_TOKEN")
            .output()
            .expect("wasmpod runs")
    }

    /// Runs the CLI and returns stdout, panicking with both streams if it fails.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        succeeded(args, self.cli(args))
    }

    /// Writes `yaml` to a file in the work directory and returns its path.
    pub fn manifest(&self, name: &str, yaml: &str) -> PathBuf {
        let path = self.work.path().join(name);
        std::fs::write(&path, yaml).expect("write manifest");
        path
    }

    pub fn apply(&self, name: &str, yaml: &str) -> Output {
        let path = self.manifest(name, yaml);
        self.cli(&["apply", "-f", path.to_str().expect("utf-8 path")])
    }

    /// GET `path` through the ingress: (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&format!("{}{path}", self.ingress))
    }

    /// Waits until GET `path` answers `status`, returning the body.
    pub fn wait_for_status(&self, path: &str, status: u16, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let (code, body) = self.get(path);
            if code == status {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "GET {path} still answers {code} ({body:?}), expected {status}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The API's JSON for a path such as `/api/v1/pods`.
    pub fn api_json(&self, path: &str) -> serde_json::Value {
        let body = reqwest::blocking::get(format!("{}{path}", self.api))
            .and_then(|r| r.text())
            .unwrap_or_default();
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null)
    }

    pub fn items(&self, plural: &str) -> Vec<serde_json::Value> {
        self.api_json(&format!("/api/v1/{plural}"))["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Stops with SIGTERM and waits for the process to exit.
    pub fn stop(&mut self) {
        self.process.terminate();
    }
}

/// The frontend/backend sample's manifest with absolute component paths.
pub fn frontend_backend() -> String {
    sample_manifest("frontend")
}

/// The `deploy.yaml` of the sample in `sample-services/<sample>`, its components built and named
/// by absolute path.
pub fn sample_manifest(sample: &str) -> String {
    components();
    let text = std::fs::read_to_string(
        repo_root()
            .join("sample-services")
            .join(sample)
            .join("deploy.yaml"),
    )
    .expect("sample manifest");
    let release = repo_root().join("sample-services/target/wasm32-wasip2/release/");
    text.replace(
        "../target/wasm32-wasip2/release/",
        &release.display().to_string(),
    )
}

/// GET with a Host header: (status, body).
pub fn http_get_host(url: &str, host: &str) -> (u16, String) {
    http_get_with(url, &[("host", host)])
}

/// GET with extra headers: (status, body).
pub fn http_get_with(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut request = client.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    match request.send() {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.text().unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// The stdout of a CLI run that must succeed; a failure panics with both streams.
fn succeeded(args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "wasmpod {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn http_get(url: &str) -> (u16, String) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    match client.get(url).send() {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.text().unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// Polls `check` until it returns Some or `timeout` passes.
pub fn wait_until<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A Deployment + Service + Ingress manifest for `component` at `path` (prefix rule).
pub fn http_app(name: &str, component: &Path, replicas: u32, path: &str) -> String {
    format!(
        r#"apiVersion: wasmpod.dev/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{component: {component}}}
---
apiVersion: wasmpod.dev/v1
kind: Service
metadata: {{name: {name}}}
spec: {{selector: {{app: {name}}}}}
---
apiVersion: wasmpod.dev/v1
kind: Ingress
metadata: {{name: {name}}}
spec:
  rules:
  - http: {{paths: [{{path: {path}, backend: {{service: {name}}}}}]}}
"#,
        component = component.display()
    )
}

/// A running process of ours that prints its addresses on stdout.
pub struct Process {
    child: Option<Child>,
    pub lines: mpsc::Receiver<String>,
}

impl Process {
    pub fn spawn_command(command: Command) -> Process {
        Process::spawn(command)
    }

    fn spawn(mut command: Command) -> Process {
        let mut child = command
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("wasmpod starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Process {
            child: Some(child),
            lines: rx,
        }
    }

    /// The rest of the first stdout line that starts with `prefix`.
    pub fn wait_line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no line starting with {prefix:?}"));
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim().to_string();
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    /// SIGTERM, then waits up to 10 s for the exit (and kills it after that).
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `kill -9`: no goodbye, no lease release.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The exit status, waiting at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A control plane alone (`wasmpod server`) and the workers that join it.
pub struct MultiNode {
    pub server: Process,
    pub api: String,
    pub join_token: String,
    pub admin_token: String,
    pub work: tempfile::TempDir,
    pub workers: Vec<(String, Process, String)>,
}

impl MultiNode {
    pub fn start() -> MultiNode {
        let work = tempfile::tempdir().expect("tempdir");
        let config = work.path().join("config");
        let mut command = Command::new(wasmpod_bin());
        command
            .args([
                "server",
                "--api-addr",
                "127.0.0.1:0",
                "--node-grace-ms",
                "1500",
                "--data-dir",
            ])
            .arg(work.path().join("server"))
            .env("WASMPOD_CONFIG", &config);
        let server = Process::spawn(command);
        let api = server.wait_line("API: ");
        let join_token_file = server.wait_line("join token file: ");
        let join_token = std::fs::read_to_string(&join_token_file)
            .expect("join token file")
            .trim()
            .to_string();
        server.wait_line("client config: ");
        let text = std::fs::read_to_string(&config).expect("client config written");
        let admin_token = text
            .lines()
            .find_map(|l| l.strip_prefix("token: "))
            .map(|t| t.trim().trim_matches('\'').trim_matches('"').to_string())
            .expect("admin token in the client config");
        MultiNode {
            server,
            api,
            join_token,
            admin_token,
            work,
            workers: Vec::new(),
        }
    }

    /// `wasmpod worker` joining with `token`, given in a file (`--token-file`).
    pub fn worker_command(&self, name: &str, token: &str, extra: &[&str]) -> Command {
        let token_file = self.work.path().join(format!("join-token-{name}"));
        std::fs::write(&token_file, token).expect("write the token file");
        let mut command = Command::new(wasmpod_bin());
        command
            .args(["worker", "--join", &self.api, "--token-file"])
            .arg(&token_file)
            .args(["--name", name])
            .args([
                "--gateway-addr",
                "127.0.0.1:0",
                "--gateway-threads",
                "1",
                "--heartbeat-ms",
                "300",
                "--data-dir",
            ])
            .arg(self.node_dir(name))
            .args(extra);
        command
    }

    /// Starts a worker and waits until it has joined; returns its gateway URL.
    pub fn add_worker(&mut self, name: &str, extra: &[&str]) -> String {
        let process = Process::spawn(self.worker_command(name, &self.join_token.clone(), extra));
        let gateway = process.wait_line("gateway: ");
        self.workers
            .push((name.to_string(), process, gateway.clone()));
        gateway
    }

    /// The data directory of worker `name`.
    pub fn node_dir(&self, name: &str) -> PathBuf {
        self.work.path().join(format!("node-{name}"))
    }

    pub fn worker(&mut self, name: &str) -> &mut Process {
        &mut self
            .workers
            .iter_mut()
            .find(|(n, _, _)| n == name)
            .expect("worker exists")
            .1
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(wasmpod_bin())
            .args(args)
            .env("WASMPOD_CONFIG", self.work.path().join("config"))
            .env_remove("WASMPOD_SERVER")
            .env_remove("WASMPOD_TOKEN")
            .output()
            .expect("wasmpod runs")
    }

    pub fn cli_ok(&self, args: &[&str]) -> String {
        succeeded(args, self.cli(args))
    }

    pub fn apply(&self, name: &str, yaml: &str) -> String {
        let path = self.work.path().join(name);
        std::fs::write(&path, yaml).expect("write manifest");
        self.cli_ok(&["apply", "-f", path.to_str().expect("utf-8")])
    }

    /// Items of a kind, read with the admin token.
    pub fn items(&self, plural: &str) -> Vec<serde_json::Value> {
        let client = reqwest::blocking::Client::new();
        let body = client
            .get(format!("{}/api/v1/{plural}", self.api))
            .bearer_auth(&self.admin_token)
            .send()
            .and_then(|r| r.text())
            .unwrap_or_default();
        let value: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        value["items"].as_array().cloned().unwrap_or_default()
    }

    /// Pods of `app` that are ready, with their node.
    pub fn ready_pods(&self, app: &str) -> Vec<(String, String)> {
        self.items("pods")
            .iter()
            .filter(|p| p["metadata"]["labels"]["app"] == app && p["status"]["ready"] == true)
            .map(|p| {
                (
                    p["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    p["spec"]["nodeName"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect()
    }
}
