//! A headless Chromium driven over the Chrome DevTools Protocol, for the dashboard's test: the
//! browser starts with `--remote-debugging-port=0` (its port read from the `DevTools listening on
//! ws://...` line it prints), a page's websocket takes JSON commands (`Page.navigate`,
//! `Runtime.evaluate`, `Page.captureScreenshot`) and answers them by id. Everything is bounded:
//! each answer within [`ANSWER`], each wait within the caller's timeout.

use base64::Engine as _;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

/// How long the browser has to answer one command.
const ANSWER: Duration = Duration::from_secs(30);
/// The viewport (and so the screenshots' size).
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 860;

/// A running headless Chromium with one page under control.
pub struct Browser {
    child: Child,
    socket: WebSocket<TcpStream>,
    next_id: u64,
    /// Exceptions and console errors the page reported, in order.
    errors: Vec<String>,
    _profile: tempfile::TempDir,
}

/// `chromium` on the PATH (Debian's package; `just deps` installs it).
pub fn chromium() -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromium"))
            .find(|candidate| candidate.is_file())
    })
}

impl Browser {
    /// Starts headless Chromium with a fresh profile and attaches to its first page.
    pub fn start() -> Browser {
        let program = chromium().expect("chromium is not installed: run `just deps`");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut command = Command::new(program);
        command
            .args([
                "--headless=new",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-extensions",
                "--hide-scrollbars",
                "--force-color-profile=srgb",
                &format!("--window-size={WIDTH},{HEIGHT}"),
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()));
        if is_root() {
            command.arg("--no-sandbox");
        }
        let mut child = command
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let browser_url = match rx.recv_timeout(ANSWER) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("chromium printed no DevTools address within {ANSWER:?}");
            }
        };
        let host = browser_url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .expect("host:port in the DevTools address")
            .to_string();
        let page_url = first_page(&host);
        let stream = TcpStream::connect(&host).expect("connect to DevTools");
        stream.set_read_timeout(Some(ANSWER)).expect("read timeout");
        let (socket, _) = tungstenite::client(page_url.as_str(), stream).expect("CDP handshake");
        let mut browser = Browser {
            child,
            socket,
            next_id: 0,
            errors: Vec::new(),
            _profile: profile,
        };
        browser.call("Page.enable", json!({}));
        browser.call("Runtime.enable", json!({}));
        browser.call("Log.enable", json!({}));
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": false}),
        );
        browser
    }

    /// Sends one command and returns its `result`, keeping the page's errors from the events
    /// that arrive meanwhile.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let command = json!({"id": id, "method": method, "params": params});
        self.socket
            .send(Message::text(command.to_string()))
            .unwrap_or_else(|e| panic!("{method}: send: {e}"));
        let deadline = Instant::now() + ANSWER;
        loop {
            assert!(Instant::now() < deadline, "{method}: no answer");
            let message = self
                .socket
                .read()
                .unwrap_or_else(|e| panic!("{method}: read: {e}"));
            let Message::Text(text) = message else {
                continue;
            };
            let value: Value = serde_json::from_str(text.as_str()).expect("CDP sends JSON");
            if value["id"].as_u64() == Some(id) {
                if let Some(error) = value.get("error") {
                    panic!("{method} failed: {error}");
                }
                return value["result"].clone();
            }
            self.note_event(&value);
        }
    }

    fn note_event(&mut self, event: &Value) {
        match event["method"].as_str() {
            Some("Runtime.exceptionThrown") => {
                let details = &event["params"]["exceptionDetails"];
                self.errors.push(format!(
                    "exception: {} {}",
                    details["text"], details["exception"]["description"]
                ));
            }
            // A Content-Security-Policy violation, a blocked script ... (a refused request is the
            // network's entry and may be what a test wants: the page handles it).
            Some("Log.entryAdded")
                if event["params"]["entry"]["level"] == "error"
                    && event["params"]["entry"]["source"] != "network" =>
            {
                self.errors
                    .push(format!("log: {}", event["params"]["entry"]["text"]));
            }
            Some("Runtime.consoleAPICalled") if event["params"]["type"] == "error" => {
                self.errors
                    .push(format!("console.error: {}", event["params"]["args"]));
            }
            _ => {}
        }
    }

    /// What the page reported going wrong so far (exceptions, console errors, policy
    /// violations).
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// Opens `url` and waits until its document has loaded.
    pub fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for(
            &format!("loading {url}"),
            "document.readyState === 'complete' && location.href !== 'about:blank'",
            ANSWER,
        );
    }

    /// The value of a JavaScript expression (awaited if it is a promise), as JSON.
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(details) = result.get("exceptionDetails") {
            panic!("{expression}: {}", details["exception"]["description"]);
        }
        result["result"]["value"].clone()
    }

    /// Polls `expression` until it is truthy (not false, null, 0 or ""); returns its value.
    pub fn wait_for(&mut self, what: &str, expression: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.eval(expression);
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: `{expression}` still {value} after {timeout:?}; page errors: {:?}",
                self.errors
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The visible text of the element `selector` (empty when there is none).
    pub fn text(&mut self, selector: &str) -> String {
        let selector = serde_json::to_string(selector).expect("a string");
        self.eval(&format!(
            "document.querySelector({selector})?.innerText ?? ''"
        ))
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Waits until the element `selector` shows text containing `needle`; returns the text.
    pub fn wait_text(&mut self, selector: &str, needle: &str, timeout: Duration) -> String {
        let sel = serde_json::to_string(selector).expect("a string");
        let want = serde_json::to_string(needle).expect("a string");
        self.wait_for(
            &format!("{needle:?} in {selector}"),
            &format!(
                "(() => {{ const t = document.querySelector({sel})?.innerText ?? ''; \
                 return t.includes({want}) ? t : ''; }})()"
            ),
            timeout,
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Types `value` into the input `selector` as a user would (firing `input`).
    pub fn fill(&mut self, selector: &str, value: &str) {
        let sel = serde_json::to_string(selector).expect("a string");
        let value = serde_json::to_string(value).expect("a string");
        self.eval(&format!(
            "(() => {{ const e = document.querySelector({sel}); e.focus(); e.value = {value}; \
             e.dispatchEvent(new Event('input', {{bubbles: true}})); return true; }})()"
        ));
    }

    /// Clicks the element `selector`.
    pub fn click(&mut self, selector: &str) {
        let sel = serde_json::to_string(selector).expect("a string");
        let clicked = self.eval(&format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return false; \
             e.click(); return true; }})()"
        ));
        assert_eq!(clicked, Value::Bool(true), "nothing to click at {selector}");
    }

    /// Writes a PNG of the viewport to `path`.
    pub fn screenshot(&mut self, path: &Path) {
        let result = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let data = result["data"].as_str().expect("screenshot data");
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("base64 PNG");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.socket.close(None);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The websocket of the browser's first page target (`/json/list` on the DevTools port).
fn first_page(host: &str) -> String {
    let deadline = Instant::now() + ANSWER;
    loop {
        let targets: Value = reqwest::blocking::get(format!("http://{host}/json/list"))
            .and_then(|r| r.json())
            .unwrap_or(Value::Null);
        let page = targets.as_array().and_then(|list| {
            list.iter()
                .find(|t| t["type"] == "page")
                .and_then(|t| t["webSocketDebuggerUrl"].as_str())
                .map(str::to_string)
        });
        if let Some(url) = page {
            return url;
        }
        assert!(Instant::now() < deadline, "chromium shows no page target");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
