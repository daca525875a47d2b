//! The end-to-end harness: starts the real `wasmpod` binary on free loopback ports with a
//! temporary data directory, drives it with the CLI and plain HTTP, and stops it.

mod cluster_api;
pub use cluster_api::ClusterApi;
pub mod browser;
pub mod etcd;
pub mod otlp;
pub mod prometheus;
pub mod raw_http;
pub mod redis;
pub mod registry;
pub mod servers;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
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
    pub unlinkable: PathBuf,
    /// Drives `wasi:keyvalue` from its request (tests/components/kvtest).
    pub kvtest: PathBuf,
    /// A command using `wasi:keyvalue` (tests/components/kvtest, `src/bin/kvcommand.rs`).
    pub kvcommand: PathBuf,
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
            unlinkable: tests.join("target/wasm32-wasip2/release/unlinkable.wasm"),
            kvtest: tests.join("target/wasm32-wasip2/release/kvtest.wasm"),
            kvcommand: tests.join("target/wasm32-wasip2/release/kvcommand.wasm"),
        };
        if [&c.hello, &c.frontend, &c.backend, &c.counter]
            .iter()
            .any(|p| !p.exists())
        {
            build_wasm(&samples.join("Cargo.toml"));
        }
        if [
            &c.misbehave,
            &c.crasher,
            &c.unlinkable,
            &c.kvtest,
            &c.kvcommand,
        ]
        .iter()
        .any(|p| !p.exists())
        {
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
    /// What `wasmpod up` printed up to its `ingress:` line.
    up_output: Vec<String>,
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
        // `up` prints the API line (and the dashboard's) before the ingress line.
        let up_output = process.lines_until("ingress: ");
        let printed = |prefix: &str| {
            up_output
                .iter()
                .find_map(|line| line.strip_prefix(prefix))
                .map(|rest| rest.trim().to_string())
                .unwrap_or_else(|| panic!("`wasmpod up` printed no {prefix:?} line: {up_output:?}"))
        };
        let (api, ingress) = (printed("API: "), printed("ingress: "));
        Cluster {
            process,
            api,
            ingress,
            data_dir: data_dir.to_path_buf(),
            _tmp: None,
            work,
            up_output,
        }
    }

    /// The lines `wasmpod up` printed when it started, up to and with its `ingress:` line.
    pub fn up_output(&self) -> &[String] {
        &self.up_output
    }

    /// The process id of `wasmpod up` (control plane and nodes in one process).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The rest of the next line `wasmpod up` prints that starts with `prefix` (lines before it
    /// are skipped).
    pub fn wait_line(&self, prefix: &str) -> String {
        self.process.wait_line(prefix)
    }

    /// The CLI command for this cluster, not yet started (to run several at once).
    pub fn cli_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(wasmpod_bin());
        command
            .args(args)
            .env("WASMPOD_SERVER", &self.api)
            .env("WASMPOD_CONFIG", self.work.path().join("config"))
            .env_remove("WASMPOD_TOKEN");
        command
    }

    /// Runs the CLI with extra environment variables and `stdin` as its standard input.
    pub fn cli_with(&self, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
        use std::io::Write as _;
        let mut command = self.cli_command(args);
        command
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("wasmpod runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wasmpod exits")
    }

    /// Runs the CLI against this cluster.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_command(args).output().expect("wasmpod runs")
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

    /// The API's JSON for a path such as `/api/v1/pods`; any failure (connection, status, body)
    /// fails the test, so an "is empty" check cannot pass on a down API or a wrong path.
    pub fn api_json(&self, path: &str) -> serde_json::Value {
        api_json(&self.api, path, None).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The items of a kind; a failed read fails the test.
    pub fn items(&self, plural: &str) -> Vec<serde_json::Value> {
        list_items(&self.api, plural, None).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The items of a kind, or why they could not be read (for polls across a restart).
    pub fn try_items(&self, plural: &str) -> Result<Vec<serde_json::Value>, String> {
        list_items(&self.api, plural, None)
    }

    /// Stops with SIGTERM and waits for the process to exit.
    pub fn stop(&mut self) {
        self.process.terminate();
    }

    /// `kill -9`: the control plane and its worker die with no flush and no goodbye.
    pub fn kill9(&mut self) {
        self.process.kill9();
    }
}

/// The cluster CAs (PEM) this harness's API reads trust, by API URL.
static TRUSTED_CAS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Makes the harness's API reads of `api` trust the cluster CA `pem`.
pub fn trust_ca(api: &str, pem: &str) {
    TRUSTED_CAS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push((api.to_string(), pem.to_string()));
}

/// A blocking client that trusts the cluster CA registered for `api`, if any.
pub fn trusting_client(api: &str) -> reqwest::blocking::ClientBuilder {
    let mut builder = reqwest::blocking::Client::builder();
    for (url, pem) in TRUSTED_CAS.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        if api.starts_with(url.as_str()) {
            let ca = reqwest::Certificate::from_pem(pem.as_bytes()).expect("a PEM CA");
            builder = builder.add_root_certificate(ca);
        }
    }
    builder
}

/// GET `path` on the API at `api` and decode its JSON: an Err names the path and what failed
/// (connection, status with body, or a body that is not JSON).
pub fn api_json(api: &str, path: &str, token: Option<&str>) -> Result<serde_json::Value, String> {
    let client = trusting_client(api)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("http client: {e}"))?;
    let mut request = client.get(format!("{api}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .map_err(|e| format!("GET {path} on {api} failed: {e}"))?;
    let status = response.status();
    let body = response
        .text()
        .map_err(|e| format!("GET {path}: reading the body failed: {e}"))?;
    if !status.is_success() {
        return Err(format!("GET {path} answered {status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("GET {path} answered no JSON ({e}): {body}"))
}

/// The `items` of a list; a response without an `items` array is an error, not an empty list.
pub fn list_items(
    api: &str,
    plural: &str,
    token: Option<&str>,
) -> Result<Vec<serde_json::Value>, String> {
    let path = format!("/api/v1/{plural}");
    let value = api_json(api, &path, token)?;
    value["items"]
        .as_array()
        .cloned()
        .ok_or_else(|| format!("GET {path} answered no items array: {value}"))
}

/// [`frontend_backend`] with the frontends placed on nodes labelled `role=front` and the
/// backends on `role=back`, so every frontend call crosses nodes.
pub fn frontend_backend_across_nodes() -> String {
    frontend_backend()
        .replace(
            "readinessProbe:",
            "nodeSelector: {role: back}\n      readinessProbe:",
        )
        .replace(
            "spec: {component:",
            "spec: {nodeSelector: {role: front}, component:",
        )
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

/// Takes `look` every 20 ms until `done` holds for one of them (within `timeout`), and returns
/// every look taken: for tests that check each step a controller took on the way.
pub fn looks_until<T: std::fmt::Debug>(
    what: &str,
    timeout: Duration,
    mut look: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> Vec<T> {
    let started = Instant::now();
    let mut seen = Vec::new();
    loop {
        assert!(started.elapsed() < timeout, "{what}: not done: {seen:?}");
        let now = look();
        let finished = done(&now);
        seen.push(now);
        if finished {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a harness Deployment's pod spec has besides its `component`.
#[derive(Debug, Clone, Copy)]
pub enum PodSpecExtra<'a> {
    /// YAML flow-map entries, each starting with `, ` (`", env: [...]"`).
    Flow(&'a str),
    /// Block lines of the pod spec, indented six spaces.
    Lines(&'a str),
}

/// The one Deployment builder of the harness: `replicas` pods of `component`, labelled
/// `app: NAME` plus `labels` (flow entries starting with `, `), with `extra` in their spec.
pub fn deployment_doc(
    name: &str,
    component: &Path,
    replicas: u32,
    labels: &str,
    extra: PodSpecExtra,
) -> String {
    let component = component.display();
    let spec = match extra {
        PodSpecExtra::Flow(entries) => format!("    spec: {{component: {component}{entries}}}\n"),
        PodSpecExtra::Lines(lines) => {
            let newline = if lines.is_empty() || lines.ends_with('\n') {
                ""
            } else {
                "\n"
            };
            format!("    spec:\n      component: {component}\n{lines}{newline}")
        }
    };
    format!(
        r#"apiVersion: wasmpod.dev/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}{labels}}}}}
{spec}---
"#
    )
}

/// [`deployment_doc`] with `spec` as flow-map entries (each starting with `, `).
pub fn deployment_yaml(
    name: &str,
    component: &Path,
    replicas: u32,
    labels: &str,
    spec: &str,
) -> String {
    deployment_doc(name, component, replicas, labels, PodSpecExtra::Flow(spec))
}

/// The one StatefulSet builder of the harness: `replicas` pods of `component` labelled
/// `app: NAME`, governed by service NAME, with `pod` (block lines of the pod spec, indented six
/// spaces) and `set` (block lines of the set's spec after its template, indented two); each
/// empty or ending with a newline.
pub fn statefulset_doc(name: &str, component: &str, replicas: u32, pod: &str, set: &str) -> String {
    format!(
        r#"apiVersion: wasmpod.dev/v1
kind: StatefulSet
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  serviceName: {name}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      component: {component}
{pod}{set}"#
    )
}

/// [`statefulset_doc`]'s `pod` and `set` lines for a claim `data` of `size` per pod, mounted at
/// `/data`.
pub fn data_volume_lines(size: &str) -> (String, String) {
    (
        "      volumeMounts: [{name: data, mountPath: /data}]\n".to_string(),
        format!(
            "  volumeClaimTemplates:\n  - metadata: {{name: data}}\n    \
             spec: {{resources: {{requests: {{storage: {size}}}}}}}\n"
        ),
    )
}

/// A Service selecting `app: NAME` and an Ingress routing `path` (prefix rule) to it, each
/// document ending with a `---` separator, as [`deployment_doc`]'s.
pub fn service_and_ingress(name: &str, path: &str) -> String {
    format!(
        r#"apiVersion: wasmpod.dev/v1
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
---
"#
    )
}

/// A Deployment + Service + Ingress manifest for `component` at `path` (prefix rule).
pub fn http_app(name: &str, component: &Path, replicas: u32, path: &str) -> String {
    let manifest =
        deployment_yaml(name, component, replicas, "", "") + &service_and_ingress(name, path);
    // Ends with its last document, so a test may append `---` and more (documents are counted).
    match manifest.strip_suffix("---\n") {
        Some(documents) => documents.to_string(),
        None => manifest,
    }
}

/// A running process of ours that prints its addresses on stdout. Its stderr goes to a log in
/// its own temporary directory, and its stdout lines are kept too: when a test fails while the
/// process runs, the tail of both is printed. It exits when the test binary dies
/// (`WASMPOD_EXIT_WITH_PARENT`), so a killed run leaves nothing behind.
pub struct Process {
    child: Option<Child>,
    pub lines: mpsc::Receiver<String>,
    stdout_tail: Arc<Mutex<VecDeque<String>>>,
    log: PathBuf,
    _log_dir: tempfile::TempDir,
}

/// How many lines of a failed test's process output are printed.
const TAIL_LINES: usize = 40;

impl Process {
    pub fn spawn_command(command: Command) -> Process {
        Process::spawn(command)
    }

    fn spawn(mut command: Command) -> Process {
        let log_dir = tempfile::Builder::new()
            .prefix("wasmpod-test-log")
            .tempdir()
            .expect("log tempdir");
        let log = log_dir.path().join("stderr.log");
        let stderr = std::fs::File::create(&log).expect("stderr log");
        let mut child = command
            .env("RUST_LOG", "info")
            .env("WASMPOD_EXIT_WITH_PARENT", "1")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("wasmpod starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        let stdout_tail = Arc::new(Mutex::new(VecDeque::new()));
        let tail = stdout_tail.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(mut tail) = tail.lock() {
                    if tail.len() == TAIL_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(line.clone());
                }
                // The receiver may be gone (the test stopped reading); keep the tail going.
                let _ = tx.send(line);
            }
        });
        Process {
            child: Some(child),
            lines: rx,
            stdout_tail,
            log,
            _log_dir: log_dir,
        }
    }

    /// The last lines this process wrote to stderr (its log).
    pub fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
    }

    /// Prints what the process wrote, for a test that is failing.
    fn print_tail(&self) {
        let program = self
            .child
            .as_ref()
            .map(|c| format!("process {}", c.id()))
            .unwrap_or_else(|| "process".to_string());
        let stdout: Vec<String> = self
            .stdout_tail
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default();
        eprintln!(
            "---- {program} stdout (last {TAIL_LINES} lines) ----\n{}\n---- {program} stderr (last {TAIL_LINES} lines) ----\n{}\n----",
            stdout.join("\n"),
            self.stderr_tail()
        );
    }

    /// The stdout lines up to and with the first that starts with `prefix` (within 60 s).
    pub fn lines_until(&self, prefix: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no line starting with {prefix:?} after {lines:?}"));
            let last = line.starts_with(prefix);
            lines.push(line);
            if last {
                return lines;
            }
        }
    }

    /// The rest of the first stdout line that starts with `prefix`.
    pub fn wait_line(&self, prefix: &str) -> String {
        let lines = self.lines_until(prefix);
        let last = lines.last().map(String::as_str).unwrap_or_default();
        last.strip_prefix(prefix).unwrap_or(last).trim().to_string()
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
                .stderr(Stdio::null())
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
    /// A process still running when its test ends gets SIGTERM, so it cleans up what it keeps
    /// outside its data directory (a node's secret files in `/dev/shm`), as in production.
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.print_tail();
        }
        self.terminate();
    }
}

/// A control plane alone (`wasmpod server`) and the workers that join it.
/// Fields drop in order: the workers stop first, then the server, and only then is the data
/// directory removed.
pub struct MultiNode {
    pub workers: Vec<(String, Process, String)>,
    pub server: Process,
    pub api: String,
    pub join_token: String,
    pub admin_token: String,
    /// The cluster CA's pin, when the API is served over TLS (`start_tls`).
    pub ca_pin: Option<String>,
    pub work: tempfile::TempDir,
}

impl MultiNode {
    pub fn start() -> MultiNode {
        MultiNode::start_with(&[])
    }

    /// The `wasmpod server` of this cluster, listening on `api_addr`, with `extra` flags (plain
    /// HTTP unless `tls`).
    fn server_command(work: &Path, api_addr: &str, tls: bool, extra: &[&str]) -> Command {
        let mut command = Command::new(wasmpod_bin());
        command
            .args([
                "server",
                "--api-addr",
                api_addr,
                "--node-grace-ms",
                "1500",
                "--data-dir",
            ])
            .arg(work.join("server"))
            .args(extra)
            .env("WASMPOD_CONFIG", work.join("config"));
        if !tls {
            command.arg("--insecure-http");
        }
        command
    }

    /// A server started with `extra` flags (`--store etcd://...`), and no workers yet.
    pub fn start_with(extra: &[&str]) -> MultiNode {
        MultiNode::start_server(false, extra)
    }

    /// A server serving its API over TLS with the cluster CA (trusted by this harness's API
    /// reads, and pinned by the workers it starts), and no workers yet.
    pub fn start_tls(extra: &[&str]) -> MultiNode {
        MultiNode::start_server(true, extra)
    }

    fn start_server(tls: bool, extra: &[&str]) -> MultiNode {
        let work = tempfile::tempdir().expect("tempdir");
        let config = work.path().join("config");
        let server = Process::spawn(MultiNode::server_command(
            work.path(),
            "127.0.0.1:0",
            tls,
            extra,
        ));
        let api = server.wait_line("API: ");
        let join_token_file = server.wait_line("join token file: ");
        let ca_pin = tls.then(|| {
            let line = server.wait_line("cluster CA: ");
            let (path, pin) = line.split_once(" (").expect("cluster CA: PATH (PIN)");
            let pem = std::fs::read_to_string(path).expect("the CA certificate file");
            trust_ca(&api, &pem);
            pin.trim_end_matches(')').to_string()
        });
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
            ca_pin,
            work,
            workers: Vec::new(),
        }
    }

    /// Stops the server (`kill -9`) and starts it again on the same address and data directory
    /// with `extra` flags; waits until it listens.
    pub fn restart_server(&mut self, extra: &[&str]) {
        self.server.kill9();
        let addr = self
            .api
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .to_string();
        self.server = Process::spawn(MultiNode::server_command(
            self.work.path(),
            &addr,
            self.ca_pin.is_some(),
            extra,
        ));
        self.server.wait_line("API: ");
    }

    /// `wasmpod worker` joining with `token`, given in a file (`--token-file`).
    pub fn worker_command(&self, name: &str, token: &str, extra: &[&str]) -> Command {
        let token_file = self.work.path().join(format!("join-token-{name}"));
        std::fs::write(&token_file, token).expect("write the token file");
        let mut command = worker_command(&self.api, &token_file, name, &self.node_dir(name));
        command.args(extra);
        if let Some(pin) = &self.ca_pin {
            command.args(["--ca-cert-hash", pin]);
        }
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

    /// Items of a kind, read with the admin token; a failed read fails the test.
    pub fn items(&self, plural: &str) -> Vec<serde_json::Value> {
        list_items(&self.api, plural, Some(&self.admin_token)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The items of a kind, or why they could not be read (for polls across a restart).
    pub fn try_items(&self, plural: &str) -> Result<Vec<serde_json::Value>, String> {
        list_items(&self.api, plural, Some(&self.admin_token))
    }

    /// Pods of `app` that are ready, with their node.
    pub fn ready_pods(&self, app: &str) -> Vec<(String, String)> {
        self.pods_of_app(app)
            .into_iter()
            .filter(|p| p.status.ready)
            .map(|p| {
                let node = p.spec.node_name.clone().unwrap_or_default();
                (p.metadata.name.to_string(), node)
            })
            .collect()
    }
}

// ---- helpers for the promise tests (rollout, traffic, command pods, volumes, CLI) ----

/// An HTTP answer: status (0 when the request could not be sent), headers and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    /// The value of response header `name`, empty when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// Sends `method url` with `headers` and an optional body; a transport error is status 0.
pub fn http_call(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Reply {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("HTTP method");
    let mut request = client.request(method, url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    match request.send() {
        Ok(r) => Reply {
            status: r.status().as_u16(),
            headers: r.headers().clone(),
            body: r.text().unwrap_or_default(),
        },
        Err(e) => Reply {
            status: 0,
            headers: Default::default(),
            body: e.to_string(),
        },
    }
}

/// The pods among `pods` labelled `app=<app>`.
pub fn pods_of(pods: &[serde_json::Value], app: &str) -> Vec<serde_json::Value> {
    pods.iter()
        .filter(|p| p["metadata"]["labels"]["app"] == app)
        .cloned()
        .collect()
}

/// `metadata.name` of an API object.
pub fn name_of(object: &serde_json::Value) -> String {
    object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Every file or directory named `name` below `root`.
pub fn find_paths(root: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == name) {
                found.push(path.clone());
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(path);
            }
        }
    }
    found
}

/// One service `tier` (exposed at `/` by an ingress) over one-replica deployments of the
/// misbehave component, each named by its first field and answering `/env/WHO` with its name (so
/// a response says which pod served it); the second field is extra pod-spec YAML lines.
pub fn who_deployments(tier: &str, deployments: &[(&str, &str)]) -> String {
    let component = &components().misbehave;
    let mut yaml = String::new();
    for (name, extra) in deployments {
        let lines = format!("      env: [{{name: WHO, value: {name}}}]\n{extra}");
        let labels = format!(", tier: {tier}");
        yaml.push_str(&deployment_doc(
            name,
            component,
            1,
            &labels,
            PodSpecExtra::Lines(&lines),
        ));
    }
    yaml.push_str(&format!(
        "apiVersion: wasmpod.dev/v1\nkind: Service\nmetadata: {{name: {tier}}}\nspec: {{selector: {{tier: {tier}}}}}\n---\napiVersion: wasmpod.dev/v1\nkind: Ingress\nmetadata: {{name: {tier}}}\nspec:\n  rules:\n  - http: {{paths: [{{path: /, backend: {{service: {tier}}}}}]}}\n"
    ));
    yaml
}

/// `wasmpod worker NAME` joining `join` (one URL or a comma list) with the join token in
/// `token_file`, its gateway on a free port, one gateway thread, a 300 ms heartbeat.
pub fn worker_command(join: &str, token_file: &Path, name: &str, data_dir: &Path) -> Command {
    let mut command = Command::new(wasmpod_bin());
    command
        .args(["worker", "--join", join, "--token-file"])
        .arg(token_file)
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
        .arg(data_dir);
    command
}

/// A command pod that crashes 20 ms after each start (`exit`), configured through a ConfigMap
/// (`crash-config`) so a test can change how it crashes.
pub fn crasher_app(component: &Path) -> String {
    format!(
        r#"apiVersion: wasmpod.dev/v1
kind: ConfigMap
metadata: {{name: crash-config}}
data: {{CRASH_MODE: exit, CRASH_AFTER_MS: "20"}}
---
apiVersion: wasmpod.dev/v1
kind: Deployment
metadata: {{name: crasher}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: crasher}}}}
  template:
    metadata: {{labels: {{app: crasher}}}}
    spec:
      component: {component}
      envFrom: [{{configMapRef: {{name: crash-config}}}}]
"#,
        component = component.display()
    )
}
