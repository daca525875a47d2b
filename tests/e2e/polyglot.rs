//! Services in other languages: the JavaScript sample (componentize-js), the Python sample
//! (componentize-py) and the C sample (wit-bindgen, zig, wasm-tools), built from source by their
//! real toolchains once per run, deployed beside the Rust `hello`, called through ingress, each
//! calling another language's service by name (Python -> JavaScript -> Rust, C -> Rust). The JS
//! and Python components are 13–19 MB: uploaded, compiled once per node and data directory, and
//! started from the compile cache after a restart.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};
use wasmpod_tests::{components, repo_root, Cluster};

/// Cold compiles of two large components on a loaded 2-core machine take a while.
const WAIT: Duration = Duration::from_secs(240);

struct Built {
    js: PathBuf,
    py: PathBuf,
    c: PathBuf,
}

/// Runs a sample's own build (it installs its pinned toolchain, and returns at once when the
/// component is up to date, as after `just samples`).
fn build(program: &str, script: &Path) {
    let started = Instant::now();
    let status = Command::new(program)
        .arg(script)
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {program} (needed to build {}): {e}",
                script.display()
            )
        });
    assert!(status.success(), "`{program} {}` failed", script.display());
    eprintln!(
        "{program} {}: {:.1} s",
        script.display(),
        started.elapsed().as_secs_f64()
    );
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let samples = repo_root().join("sample-services");
        build("node", &samples.join("hello-js/build.mjs"));
        build("python3", &samples.join("hello-py/build.py"));
        build("python3", &samples.join("hello-c/build.py"));
        Built {
            js: samples.join("hello-js/hello-js.wasm"),
            py: samples.join("hello-py/hello-py.wasm"),
            c: samples.join("hello-c/hello-c.wasm"),
        }
    })
}

/// The four samples' manifests in one, with absolute component paths and greetings of our own.
fn manifest() -> String {
    let (c, b) = (components(), built());
    let read =
        |path: &str| std::fs::read_to_string(repo_root().join(path)).expect("sample manifest");
    let hello = read("sample-services/hello/deploy.yaml").replace(
        "../target/wasm32-wasip2/release/hello.wasm",
        &c.hello.display().to_string(),
    );
    let js = read("sample-services/hello-js/deploy.yaml")
        .replace("./hello-js.wasm", &b.js.display().to_string())
        .replace(
            "value: Hello from JavaScript!",
            "value: JS greeting from the pod spec",
        );
    let py = read("sample-services/hello-py/deploy.yaml")
        .replace("./hello-py.wasm", &b.py.display().to_string())
        .replace(
            "value: Hello from Python!",
            "value: Python greeting from the pod spec",
        );
    let c_sample = read("sample-services/hello-c/deploy.yaml")
        .replace("./hello-c.wasm", &b.c.display().to_string())
        .replace(
            "value: Hello from C!",
            "value: C greeting from the pod spec",
        );
    format!("{hello}\n---\n{js}\n---\n{py}\n---\n{c_sample}")
}

/// Every compiled artifact in the data directory's cache, with its modification time.
fn compiled(data_dir: &Path) -> Vec<(PathBuf, SystemTime)> {
    let mut found = Vec::new();
    for dir in std::fs::read_dir(data_dir.join("compiled"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for file in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Ok(modified) = file.metadata().and_then(|m| m.modified()) {
                found.push((file.path(), modified));
            }
        }
    }
    found.sort();
    found
}

fn mb(path: &Path) -> f64 {
    std::fs::metadata(path)
        .map(|m| m.len() as f64 / 1e6)
        .unwrap_or_default()
}

#[test]
fn js_and_python_services_built_from_source_call_other_languages_by_name() {
    let b = built();
    assert!(
        mb(&b.js) > 5.0 && mb(&b.py) > 5.0,
        "large components: js {} MB, py {} MB",
        mb(&b.js),
        mb(&b.py)
    );
    let mut cluster = Cluster::up(&[]);

    // Upload (the CLI shows it) and apply.
    let started = Instant::now();
    let out = cluster.apply("polyglot.yaml", &manifest());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let upload = started.elapsed();
    for name in ["hello-js.wasm", "hello-py.wasm"] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains("uploading") && l.contains(name) && l.contains(" MB")),
            "{stderr}"
        );
    }

    // Python -> JavaScript -> Rust, each by service name, each with its config from the pod spec.
    let body = cluster.wait_for_status("/py", 200, WAIT);
    let cold = started.elapsed();
    assert!(
        body.starts_with("Python greeting from the pod spec\n"),
        "{body}"
    );
    assert!(
        body.contains("http://hello-js/js answered 200:\nJS greeting from the pod spec (GET /js)"),
        "{body}"
    );
    assert!(
        body.contains("http://hello/hello answered 200:\nHello from wasmpod!"),
        "{body}"
    );
    let c_body = cluster.wait_for_status("/c", 200, WAIT);
    assert!(
        c_body.starts_with(
            "C greeting from the pod spec\nhttp://hello/hello answered 200:\nHello from wasmpod!"
        ),
        "{c_body}"
    );
    let js = cluster.wait_for_status("/js/anything", 200, WAIT);
    assert!(
        js.starts_with("JS greeting from the pod spec (GET /js/anything)\n"),
        "{js}"
    );
    assert!(
        js.contains("http://hello/hello answered 200:\nHello from wasmpod!"),
        "{js}"
    );

    // Many requests: each a fresh instance of a 13–19 MB component, none slow.
    let started = Instant::now();
    for _ in 0..20 {
        let (code, body) = cluster.get("/py");
        assert_eq!(code, 200, "{body}");
    }
    let per_request = started.elapsed() / 20;
    eprintln!(
        "js {:.1} MB, py {:.1} MB: upload + apply {:.2} s, until /py answered (cold compile) {:.1} s, \
         /py -> /js -> /hello {:.1} ms per request",
        mb(&b.js),
        mb(&b.py),
        upload.as_secs_f64(),
        cold.as_secs_f64(),
        per_request.as_secs_f64() * 1e3
    );

    // Restart on the same data directory: the services answer again from the compile cache,
    // without compiling anything again.
    let cache = compiled(&cluster.data_dir);
    assert!(cache.len() >= 3, "compiled artifacts: {cache:?}");
    cluster.stop();
    let started = Instant::now();
    let again = Cluster::up_in(&cluster.data_dir, &[]);
    let body = again.wait_for_status("/py", 200, WAIT);
    assert!(body.contains("Hello from wasmpod!"), "{body}");
    let warm = started.elapsed();
    eprintln!(
        "after a restart /py answered in {:.1} s (cold: {:.1} s)",
        warm.as_secs_f64(),
        cold.as_secs_f64()
    );
    assert_eq!(
        compiled(&cluster.data_dir),
        cache,
        "a restart reuses the compiled components"
    );
}
