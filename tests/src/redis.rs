//! A real Redis (`redis-server`, Debian's `redis-server` package, installed by `just deps`) for
//! the tests: one server on a free loopback port with a temporary directory, no persistence,
//! optionally with a password; killed on drop (and, through a small shell watchdog, when the
//! test binary dies without dropping it).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Redis {
    pub port: u16,
    password: Option<String>,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Redis {
    /// A server without a password.
    pub fn start() -> Redis {
        Redis::spawn(None)
    }

    /// A server that requires `password` (`--requirepass`).
    pub fn with_password(password: &str) -> Redis {
        Redis::spawn(Some(password.to_string()))
    }

    fn spawn(password: Option<String>) -> Redis {
        let dir = tempfile::Builder::new()
            .prefix("wasmpod-redis")
            .tempdir()
            .expect("redis tempdir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let watchdog = r#"parent=$1; shift; "$@" & child=$!
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.5; done
kill -9 "$child" 2>/dev/null; wait"#;
        let mut command = Command::new("sh");
        command
            .args(["-c", watchdog, "sh", &std::process::id().to_string()])
            .arg("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--dir"])
            .arg(dir.path())
            .args(["--save", "", "--appendonly", "no"]);
        if let Some(p) = &password {
            command.args(["--requirepass", p]);
        }
        let log = std::fs::File::create(dir.path().join("redis.log")).expect("redis log");
        let child = command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("sh runs");
        let redis = Redis {
            port,
            password,
            child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while redis.command(&["PING"]).as_deref() != Ok("+PONG") {
            assert!(
                Instant::now() < deadline,
                "redis-server does not answer on port {port}: install it with `just deps` (Debian's redis-server)"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }

    /// `redis://127.0.0.1:PORT/0`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// One command (authenticated when the server has a password); its first reply line.
    pub fn command(&self, args: &[&str]) -> Result<String, String> {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
        let mut reader = BufReader::new(stream);
        let mut send = |args: &[&str]| -> Result<String, String> {
            let mut text = format!("*{}\r\n", args.len());
            for a in args {
                text.push_str(&format!("${}\r\n{a}\r\n", a.len()));
            }
            writer
                .write_all(text.as_bytes())
                .map_err(|e| e.to_string())?;
            let mut line = String::new();
            reader.read_line(&mut line).map_err(|e| e.to_string())?;
            let line = line.trim_end().to_string();
            if let Some(len) = line.strip_prefix('$').and_then(|n| n.parse::<i64>().ok()) {
                if len < 0 {
                    return Ok("(nil)".into());
                }
                let mut value = String::new();
                reader.read_line(&mut value).map_err(|e| e.to_string())?;
                return Ok(value.trim_end().to_string());
            }
            Ok(line)
        };
        if let Some(p) = &self.password {
            send(&["AUTH", p])?;
        }
        send(args)
    }

    /// `GET key` straight from the server.
    pub fn get(&self, key: &str) -> String {
        self.command(&["GET", key]).expect("redis GET")
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        // The process group: sh and redis-server.
        let _ = Command::new("kill")
            .args(["-9", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
