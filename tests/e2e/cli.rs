//! The CLI's promises: `up -f`, `apply -f DIR` and `-f -`, `scale statefulset`, the scheduler's
//! cpu and pod-count limits seen through `get nodes` and `describe`, `--encryption-key`, `up`
//! beyond loopback requiring a token (and where the CLI takes it from), `--workers` port
//! numbering, and `wasmpod build`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use wasmpod_tests::{
    components, data_volume_lines, http_app, http_call, http_get, name_of, pods_of,
    statefulset_doc, wait_until, wasmpod_bin, Cluster, Process,
};

const WAIT: Duration = Duration::from_secs(40);

fn config_map(name: &str) -> String {
    format!(
        "apiVersion: wasmpod.dev/v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{k: v}}\n"
    )
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Uploads a component and returns `sha256:<digest>` (StatefulSets name components by digest).
fn upload(api: &str, component: &Path) -> String {
    let bytes = std::fs::read(component).expect("component built");
    let response = reqwest::blocking::Client::new()
        .post(format!("{api}/api/v1/blobs"))
        .header("content-type", "application/wasm")
        .body(bytes)
        .send()
        .expect("upload");
    assert_eq!(response.status().as_u16(), 200);
    let value: serde_json::Value = response.json().expect("json");
    value["digest"].as_str().expect("digest").to_string()
}

fn statefulset(digest: &str) -> String {
    let (pod, set) = data_volume_lines("1Mi");
    statefulset_doc("web", digest, 1, &pod, &set)
}

fn pending_message(cluster: &Cluster, app: &str) -> String {
    wait_until(&format!("a pod of {app} unschedulable"), WAIT, || {
        pods_of(&cluster.items("pods"), app).iter().find_map(|p| {
            (p["status"]["reason"] == "Unschedulable").then(|| {
                p["status"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
        })
    })
}

/// The line of `table` that starts with `first`.
fn row<'a>(table: &'a str, first: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no row {first} in:\n{table}"))
}

#[test]
fn up_applies_files_dirs_and_stdin_scales_sets_and_limits_placement() {
    let inputs = tempfile::tempdir().expect("tempdir");
    let hello = inputs.path().join("hello.yaml");
    std::fs::write(&hello, http_app("hello", &components().hello, 1, "/hello")).expect("write");
    let key = inputs.path().join("secrets.key");
    std::fs::write(&key, rand_bytes()).expect("key");
    let hello_arg = hello.display().to_string();
    let key_arg = key.display().to_string();
    let extra = [
        "-f",
        hello_arg.as_str(),
        "--capacity",
        "cpu=500m,pods=4",
        "--encryption-key",
        key_arg.as_str(),
    ];
    let mut cluster = Cluster::up(&extra);

    // `up -f`: applied at start, served.
    assert_eq!(
        cluster.wait_for_status("/hello", 200, WAIT),
        "Hello from wasmpod!\n"
    );

    // `apply -f DIR`: every .yaml/.yml below it, nothing else; `-f -`: standard input.
    let dir = cluster.work.path().join("manifests");
    std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
    std::fs::write(dir.join("a.yaml"), config_map("from-a")).expect("write");
    std::fs::write(dir.join("b.yml"), config_map("from-b")).expect("write");
    std::fs::write(dir.join("sub/c.yaml"), config_map("from-sub")).expect("write");
    std::fs::write(dir.join("notes.txt"), "kind: [not a manifest").expect("write");
    let out = cluster.cli_ok(&["apply", "-f", dir.to_str().expect("utf-8")]);
    for name in ["from-a", "from-b", "from-sub"] {
        assert!(out.contains(&format!("configmap/{name} created")), "{out}");
    }
    let out = cluster.cli_with(&["apply", "-f", "-"], &[], &config_map("from-stdin"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("configmap/from-stdin created"));
    let names: Vec<String> = cluster.items("configmaps").iter().map(name_of).collect();
    assert_eq!(names.len(), 4, "{names:?}");

    // `scale statefulset`: up adds the next ordinal, down removes the highest and keeps claims.
    let digest = upload(&cluster.api, &components().misbehave);
    let out = cluster.apply("web.yaml", &statefulset(&digest));
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cluster.cli_ok(&["scale", "statefulset", "web", "--replicas", "2"]);
    assert!(out.contains("statefulset/web scaled to 2"), "{out}");
    wait_until("web-0 and web-1 ready", WAIT, || {
        let pods = pods_of(&cluster.items("pods"), "web");
        (pods.len() == 2 && pods.iter().all(|p| p["status"]["ready"] == true)).then_some(())
    });
    cluster.cli_ok(&["scale", "sts", "web", "--replicas", "1"]);
    wait_until("web-1 gone", WAIT, || {
        let names: Vec<String> = pods_of(&cluster.items("pods"), "web")
            .iter()
            .map(name_of)
            .collect();
        (names == ["web-0"]).then_some(())
    });
    assert_eq!(cluster.items("persistentvolumeclaims").len(), 2);
    let refused = cluster.cli(&["scale", "service", "hello", "--replicas", "2"]);
    assert!(!refused.status.success());

    // The scheduler's cpu limit: 2 x 300m on a 500m node places one.
    let hog = http_app("hog", &components().hello, 2, "/hog").replace(
        "spec: {component:",
        "spec: {resources: {requests: {cpu: 300m}}, component:",
    );
    cluster.apply("hog.yaml", &hog);
    assert_eq!(
        pending_message(&cluster, "hog"),
        "0/1 nodes are available: 1 insufficient cpu"
    );
    // The pod-count limit: hello, web-0 and one hog make 3 of 4; 2 more place one.
    cluster.apply(
        "many.yaml",
        &http_app("many", &components().hello, 2, "/many"),
    );
    assert_eq!(
        pending_message(&cluster, "many"),
        "0/1 nodes are available: 1 too many pods"
    );

    // `get nodes`: capacity and what the placed pods reserve.
    let nodes = cluster.cli_ok(&["get", "nodes"]);
    let local = row(&nodes, "local-1");
    assert!(
        local.contains("cpu=500m,") && local.contains(",pods=4"),
        "capacity: {nodes}"
    );
    assert!(local.contains("cpu=300m,"), "allocated: {nodes}");
    let pods_column = nodes
        .lines()
        .next()
        .and_then(|h| h.split_whitespace().position(|c| c == "PODS"))
        .expect("PODS column");
    assert_eq!(
        local.split_whitespace().nth(pods_column),
        Some("4"),
        "{nodes}"
    );

    // `describe` shows the object's own events, and only those.
    let pending = pods_of(&cluster.items("pods"), "hog")
        .into_iter()
        .find(|p| p["status"]["reason"] == "Unschedulable")
        .expect("pending hog");
    let described = cluster.cli_ok(&["describe", "pod", &name_of(&pending)]);
    let events = described
        .split("Events:")
        .nth(1)
        .expect("an Events section");
    assert!(
        events.contains("FailedScheduling") && events.contains("insufficient cpu"),
        "{described}"
    );
    assert!(
        !events.contains("Scheduled "),
        "another pod's events: {described}"
    );
    let described = cluster.cli_ok(&["describe", "deployment", "hog"]);
    let events = described
        .split("Events:")
        .nth(1)
        .expect("an Events section");
    assert!(events.contains("ScaledUp"), "{described}");
    assert!(!events.contains("FailedScheduling"), "{described}");

    // `--encryption-key`: secrets sealed with that key, none made in the data dir; the same key
    // opens them after a restart.
    cluster.cli_ok(&[
        "create",
        "secret",
        "generic",
        "s",
        "--from-literal",
        "pw=hunter2",
    ]);
    assert!(!cluster.data_dir.join("secrets.key").exists());
    cluster.stop();
    let data = cluster.data_dir.clone();
    let mut again = Cluster::up_in(&data, &["--encryption-key", key_arg.as_str()]);
    let shown = again.cli_ok(&["get", "secret", "s", "-o", "yaml", "--show-secrets"]);
    assert!(shown.contains("aHVudGVyMg=="), "{shown}");
    again.stop();
    // Another key cannot open them; a key of the wrong size is refused at start.
    let other = inputs.path().join("other.key");
    std::fs::write(&other, rand_bytes()).expect("key");
    let wrong = Cluster::up_in(&data, &["--encryption-key", other.to_str().expect("utf-8")]);
    let out = wrong.cli(&["get", "secret", "s", "-o", "yaml", "--show-secrets"]);
    assert!(
        !out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("aHVudGVyMg=="),
        "read with another key: {}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    drop(wrong);
    let short = inputs.path().join("short.key");
    std::fs::write(&short, b"too short").expect("key");
    let out = Command::new(wasmpod_bin())
        .args([
            "up",
            "--api-addr",
            "127.0.0.1:0",
            "--ingress-addr",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data)
        .arg("--encryption-key")
        .arg(&short)
        .output()
        .expect("wasmpod runs");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("32 bytes"), "{}", stderr(&out));
}

fn rand_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    let mut f = std::fs::File::open("/dev/urandom").expect("urandom");
    std::io::Read::read_exact(&mut f, &mut bytes).expect("random bytes");
    bytes
}

/// Three consecutive free loopback ports.
fn three_free_ports() -> u16 {
    for _ in 0..20 {
        let first = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = first.local_addr().expect("addr").port();
        if port > 65_000 {
            continue;
        }
        if (1..3).all(|i| TcpListener::bind(("127.0.0.1", port + i)).is_ok()) {
            return port;
        }
    }
    panic!("no three consecutive free ports");
}

/// Runs the CLI with exactly the given environment for server, token and config.
fn cli_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(wasmpod_bin());
    command
        .args(args)
        .env_remove("WASMPOD_SERVER")
        .env_remove("WASMPOD_TOKEN")
        .env_remove("WASMPOD_CONFIG");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("wasmpod runs")
}

#[test]
fn up_beyond_loopback_needs_a_token_and_numbers_worker_ports() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let port = three_free_ports();
    let mut command = Command::new(wasmpod_bin());
    command
        .args([
            "up",
            "--api-addr",
            "0.0.0.0:0",
            "--workers",
            "3",
            "--gateway-threads",
            "1",
        ])
        .arg("--ingress-addr")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(&data)
        .env("WASMPOD_CONFIG", tmp.path().join("unused-config"));
    let up = Process::spawn_command(command);
    let api = up.wait_line("API: ");
    assert_eq!(
        up.wait_line("ingress: "),
        format!("http://127.0.0.1:{port}")
    );
    assert_eq!(
        up.wait_line("node local-2: "),
        format!("http://127.0.0.1:{}", port + 1)
    );
    assert_eq!(
        up.wait_line("node local-3: "),
        format!("http://127.0.0.1:{}", port + 2)
    );

    // The API wants a token; the admin token is in the data dir.
    let anonymous = http_call("GET", &format!("{api}/api/v1/pods"), &[], None);
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    let tokens = std::fs::read_to_string(data.join("tokens.yaml")).expect("tokens.yaml");
    let admin = tokens
        .lines()
        .find_map(|l| l.strip_prefix("admin: "))
        .map(|t| t.trim().trim_matches('\'').trim_matches('"').to_string())
        .expect("admin token");

    // Where the CLI takes the token from: --token, then WASMPOD_TOKEN, then the client config
    // (only for the config's own server).
    let config = tmp.path().join("config");
    let write_config = |server: &str, token: &str| {
        std::fs::write(&config, format!("server: {server}\ntoken: {token}\n")).expect("config");
    };
    let cfg = config.to_str().expect("utf-8");
    let get = ["get", "nodes"];
    write_config(&api, &admin);
    let nodes = wait_until(
        "three Ready nodes, read with the config's token",
        WAIT,
        || {
            let ok = cli_env(&get, &[("WASMPOD_CONFIG", cfg)]);
            assert!(ok.status.success(), "config token: {}", stderr(&ok));
            let nodes = String::from_utf8_lossy(&ok.stdout).into_owned();
            let ready = nodes
                .lines()
                .filter(|l| l.split_whitespace().nth(1) == Some("Ready"))
                .count();
            (ready == 3).then_some(nodes)
        },
    );
    let nowhere = tmp.path().join("no-config");
    let no_token = cli_env(
        &get,
        &[
            ("WASMPOD_SERVER", &api),
            ("WASMPOD_CONFIG", nowhere.to_str().expect("utf-8")),
        ],
    );
    assert!(!no_token.status.success());
    write_config(&api, "wrong");
    assert!(!cli_env(&get, &[("WASMPOD_CONFIG", cfg)]).status.success());
    let env_wins = cli_env(&get, &[("WASMPOD_CONFIG", cfg), ("WASMPOD_TOKEN", &admin)]);
    assert!(
        env_wins.status.success(),
        "WASMPOD_TOKEN over the config: {}",
        stderr(&env_wins)
    );
    write_config(&api, &admin);
    let env_first = cli_env(&get, &[("WASMPOD_CONFIG", cfg), ("WASMPOD_TOKEN", "wrong")]);
    assert!(
        !env_first.status.success(),
        "WASMPOD_TOKEN comes before the config"
    );
    let flag = ["get", "nodes", "--token", admin.as_str()];
    let flag_wins = cli_env(
        &flag,
        &[("WASMPOD_CONFIG", cfg), ("WASMPOD_TOKEN", "wrong")],
    );
    assert!(
        flag_wins.status.success(),
        "--token over WASMPOD_TOKEN: {}",
        stderr(&flag_wins)
    );
    write_config("http://127.0.0.1:1", &admin);
    let elsewhere = cli_env(&get, &[("WASMPOD_CONFIG", cfg), ("WASMPOD_SERVER", &api)]);
    assert!(
        !elsewhere.status.success(),
        "the config's token went to another server"
    );

    // Node i's gateway listens on the ingress port + i - 1 and serves ingress.
    for i in 1..=3u16 {
        let line = row(&nodes, &format!("local-{i}"));
        assert!(line.contains("Ready"), "{nodes}");
        assert!(
            line.contains(&format!("127.0.0.1:{}", port + i - 1)),
            "{nodes}"
        );
        let url = format!("http://127.0.0.1:{}/nothing", port + i - 1);
        let body = wait_until("the gateway answering", WAIT, || {
            let (status, body) = http_get(&url);
            (status == 404).then_some(body)
        });
        assert!(body.contains("no ingress rule"), "{body}");
    }
}

/// `wasmpod` with PATH set to `path` (and pip kept offline), in `dir`.
fn build(dir: &Path, args: &[&str], path: &str) -> Output {
    Command::new(wasmpod_bin())
        .arg("build")
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("PIP_NO_INDEX", "1")
        .env("PIP_FIND_LINKS", "")
        .output()
        .expect("wasmpod runs")
}

fn new_project(parent: &Path, name: &str, lang: &str) -> PathBuf {
    let out = Command::new(wasmpod_bin())
        .args(["new", name, "--lang", lang, "--dir"])
        .arg(parent)
        .output()
        .expect("wasmpod runs");
    assert!(out.status.success(), "{}", stderr(&out));
    parent.join(name)
}

#[test]
fn build_skips_what_is_up_to_date_forces_and_names_missing_toolchains() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = std::env::var("PATH").unwrap_or_default();
    let py = new_project(tmp.path(), "svc", "python");
    // A component newer than every source: nothing to do, no toolchain installed.
    std::fs::write(py.join("svc.wasm"), b"\0asm stand-in").expect("write");
    let out = build(&py, &[], &path);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("svc.wasm is up to date"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("component: svc.wasm"),
        "{}",
        stderr(&out)
    );
    assert!(!py.join(".toolchains").exists());
    // `--force` builds anyway (here it gets as far as installing the pinned toolchain, which
    // fails offline).
    let forced = build(&py, &["--force"], &path);
    assert!(!forced.status.success());
    assert!(
        stderr(&forced).contains("installing componentize-py==0.25.1"),
        "{}",
        stderr(&forced)
    );
    assert!(
        stderr(&forced).contains("`python3 build.py` failed"),
        "{}",
        stderr(&forced)
    );
    // A source newer than the component: built again.
    std::thread::sleep(Duration::from_millis(20));
    let app = std::fs::read_to_string(py.join("app.py")).expect("app.py");
    std::fs::write(py.join("app.py"), format!("{app}\n# changed\n")).expect("write");
    let stale = build(&py, &[], &path);
    assert!(
        !stale.status.success() && stderr(&stale).contains("installing componentize-py"),
        "{}",
        stderr(&stale)
    );

    // No toolchain on PATH: an error that names how to install it, for every language.
    let empty = tmp.path().join("empty-bin");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let empty = empty.to_str().expect("utf-8");
    let js = new_project(tmp.path(), "web", "js");
    let rust = new_project(tmp.path(), "api", "rust");
    for (dir, needle) in [
        (&py, "python3 is missing: install Python 3.10+ with pip"),
        (&js, "node is missing: install Node.js 18+ with npm"),
        (&rust, "cargo is missing: install Rust with rustup"),
    ] {
        let out = build(dir, &[], empty);
        assert!(!out.status.success(), "{}", dir.display());
        assert!(
            stderr(&out).contains(needle),
            "{}: {}",
            dir.display(),
            stderr(&out)
        );
    }
}
