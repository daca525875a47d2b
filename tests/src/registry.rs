//! A real OCI registry for the tests: Debian's `docker-registry` (the CNCF distribution
//! registry, installed by `just deps`), started on a free loopback port with a temporary storage
//! directory, open or behind htpasswd basic auth, killed on drop (and, through a small shell
//! watchdog, when the test binary dies without dropping it). Its access log (one line per
//! request) is kept, so tests can count what the nodes pulled.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The registry binary: `$WASMPOD_DOCKER_REGISTRY`, else `docker-registry` on the PATH.
pub fn registry_bin() -> PathBuf {
    std::env::var_os("WASMPOD_DOCKER_REGISTRY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("docker-registry"))
}

pub struct Registry {
    /// `127.0.0.1:PORT`: what references and `--insecure-registry` name.
    pub host: String,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

/// A user of an authenticated registry.
pub struct User<'a> {
    pub name: &'a str,
    pub password: &'a str,
}

impl Registry {
    /// An open registry (anyone may pull and push).
    pub fn open() -> Registry {
        Registry::start(None)
    }

    /// A registry that asks for basic auth, with one user.
    pub fn with_user(user: User) -> Registry {
        Registry::start(Some(user))
    }

    fn start(user: Option<User>) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("wasmpod-registry")
            .tempdir()
            .expect("registry tempdir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let host = format!("127.0.0.1:{port}");
        let storage = dir.path().join("storage");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            storage.display()
        );
        if let Some(user) = user {
            let hash = bcrypt::hash(user.password, 4).expect("bcrypt");
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{}:{hash}\n", user.name)).expect("htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: wasmpod-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("registry config");
        let log = std::fs::File::create(dir.path().join("registry.log")).expect("registry log");
        let watchdog = r#"parent=$1; shift; "$@" & child=$!
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.5; done
kill -9 "$child" 2>/dev/null; wait"#;
        let child = Command::new("sh")
            .args(["-c", watchdog, "sh", &std::process::id().to_string()])
            .arg(registry_bin())
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("registry log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{} does not start ({e}): install it with `just deps` (Debian's docker-registry)",
                    registry_bin().display()
                )
            });
        let registry = Registry {
            host,
            child: Some(child),
            dir,
        };
        registry.wait_up();
        registry
    }

    fn wait_up(&self) {
        let url = format!("http://{}/v2/", self.host);
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // 200 (open) or 401 (auth): the registry is serving.
            if let Ok(r) = client.get(&url).send() {
                if matches!(r.status().as_u16(), 200 | 401) {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the registry did not start; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Everything the registry logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// How many requests the access log shows for `method path` (e.g. a blob GET).
    pub fn requests(&self, method: &str, path: &str) -> usize {
        let needle = format!("\"{method} {path} ");
        self.log().lines().filter(|l| l.contains(&needle)).count()
    }

    /// Where blob `digest` (`sha256:...`) lies in the registry's storage.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The watchdog shell leads the process group: end the group.
            let group = child.id() as i32;
            let _ = Command::new("kill")
                .args(["-9", "--", &format!("-{group}")])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
