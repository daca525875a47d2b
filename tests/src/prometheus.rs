//! A real Prometheus (`/usr/bin/prometheus`, Debian's `prometheus`, installed by `just deps`) for
//! the tests: started on a free loopback port with a temporary data directory and a generated
//! scrape configuration (every target scraped each second), killed on drop and, through a small
//! shell watchdog, when the test binary dies without dropping it. A system service the package
//! may have started is not used.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The prometheus binary: `$WASMPOD_PROMETHEUS`, else `prometheus` on the PATH.
pub fn prometheus_bin() -> PathBuf {
    std::env::var_os("WASMPOD_PROMETHEUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("prometheus"))
}

/// One scrape job: `host:port` targets, the bearer token file sent with each scrape, and the
/// files of a mutual-TLS scrape (`https`).
pub struct ScrapeJob {
    pub name: String,
    pub targets: Vec<String>,
    pub credentials_file: Option<PathBuf>,
    pub tls: Option<ScrapeTls>,
}

/// A scrape over TLS: the CA the targets' certificates are checked against, and the client
/// certificate and key Prometheus presents (`tls_config`).
pub struct ScrapeTls {
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

pub struct Prometheus {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    dir: tempfile::TempDir,
    http: reqwest::blocking::Client,
}

/// The scrape configuration for `jobs`, every target scraped each second.
pub fn scrape_config(jobs: &[ScrapeJob]) -> String {
    let mut yaml = String::from(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n",
    );
    for job in jobs {
        yaml.push_str(&format!("  - job_name: {:?}\n", job.name));
        if let Some(file) = &job.credentials_file {
            yaml.push_str(&format!(
                "    authorization:\n      credentials_file: {:?}\n",
                file.display().to_string()
            ));
        }
        if let Some(tls) = &job.tls {
            yaml.push_str("    scheme: https\n    tls_config:\n");
            for (key, file) in [
                ("ca_file", &tls.ca_file),
                ("cert_file", &tls.cert_file),
                ("key_file", &tls.key_file),
            ] {
                yaml.push_str(&format!("      {key}: {:?}\n", file.display().to_string()));
            }
        }
        let targets: Vec<String> = job.targets.iter().map(|t| format!("{t:?}")).collect();
        yaml.push_str(&format!(
            "    static_configs:\n      - targets: [{}]\n",
            targets.join(", ")
        ));
    }
    yaml
}

impl Prometheus {
    /// Starts Prometheus scraping `jobs` and waits until it is ready.
    pub fn start(jobs: &[ScrapeJob]) -> Prometheus {
        let dir = tempfile::Builder::new()
            .prefix("wasmpod-prometheus")
            .tempdir()
            .expect("prometheus tempdir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, scrape_config(jobs)).expect("write prometheus.yml");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
        let watchdog = r#"parent=$1; shift; "$@" & child=$!
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.5; done
kill -9 "$child" 2>/dev/null; wait"#;
        let child = Command::new("sh")
            .args(["-c", watchdog, "sh", &std::process::id().to_string()])
            .arg(prometheus_bin())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{} does not start ({e}): install it with `just deps` (Debian's prometheus)",
                    prometheus_bin().display()
                )
            });
        let prometheus = Prometheus {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
            dir,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("http client"),
        };
        prometheus.wait_ready();
        prometheus
    }

    fn wait_ready(&self) {
        let started = Instant::now();
        loop {
            let ready = self
                .http
                .get(format!("{}/-/ready", self.url))
                .send()
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "prometheus is not ready after 30 s; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What Prometheus logged (for a failure message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// An instant query (`/api/v1/query`): each series' labels and value.
    pub fn query(&self, promql: &str) -> Result<Vec<(serde_json::Value, f64)>, String> {
        let response = self
            .http
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", promql)])
            .send()
            .map_err(|e| format!("query {promql}: {e}"))?;
        let body: serde_json::Value = response
            .json()
            .map_err(|e| format!("query {promql}: {e}"))?;
        if body["status"] != "success" {
            return Err(format!("query {promql}: {body}"));
        }
        let results = body["data"]["result"]
            .as_array()
            .ok_or_else(|| format!("query {promql}: no result in {body}"))?;
        results
            .iter()
            .map(|r| {
                let value = r["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .ok_or_else(|| format!("query {promql}: a value that is no number: {r}"))?;
                Ok((r["metric"].clone(), value))
            })
            .collect()
    }

    /// The scrape targets and their health (`/api/v1/targets`), for failure messages.
    pub fn targets(&self) -> String {
        self.http
            .get(format!("{}/api/v1/targets", self.url))
            .send()
            .and_then(|r| r.text())
            .unwrap_or_else(|e| e.to_string())
    }

    /// Polls `promql` until `check` accepts its series; panics after `timeout` with the last
    /// answer, the targets' health and Prometheus' log.
    pub fn wait_for<T>(
        &self,
        what: &str,
        promql: &str,
        timeout: Duration,
        mut check: impl FnMut(&[(serde_json::Value, f64)]) -> Option<T>,
    ) -> T {
        let started = Instant::now();
        loop {
            let last = match self.query(promql) {
                Ok(series) => match check(&series) {
                    Some(found) => return found,
                    None => Ok(series),
                },
                Err(e) => Err(e),
            };
            if started.elapsed() > timeout {
                panic!(
                    "{what}: {promql} did not get there in {timeout:?}; last answer {last:?}\ntargets: {}\nlog:\n{}",
                    self.targets(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-9", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
