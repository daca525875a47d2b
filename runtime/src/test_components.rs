//! Test support: the wasm components of `tests/components` and `sample-services`, built once per
//! test process (cargo makes this a no-op when they are fresh), and a shared runtime.

use crate::{CompiledComponent, Runtime, RuntimeConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn build(workspace: &str) {
    let manifest = repo_root().join(workspace).join("Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(&manifest)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .output()
        .expect("running cargo");
    assert!(
        output.status.success(),
        "building {} failed (is the wasm32-wasip2 target installed? `rustup target add \
         wasm32-wasip2`):\n{}",
        manifest.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Path of a built test component: `misbehave`, `crasher` or `hello`.
pub(crate) fn wasm_path(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        build("tests/components");
        build("sample-services");
    });
    let workspace = if name == "hello" {
        "sample-services"
    } else {
        "tests/components"
    };
    repo_root()
        .join(workspace)
        .join("target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"))
}

pub(crate) fn wasm(name: &str) -> Vec<u8> {
    let path = wasm_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The compile cache of the tests: in the build's own target dir (`target/debug/`, beside the
/// `deps/` folder holding the test binary), so runs of different checkouts never share it and
/// nothing is left in the system temp dir.
pub(crate) fn cache_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(std::path::Path::parent)
        .expect("the test binary sits in target/<profile>/deps")
        .join("runtime-test-cache")
}

/// A runtime shared by the tests (a small pool), caching in the build's target dir.
pub(crate) fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let mut config = RuntimeConfig::new(cache_dir());
        config.max_instances = 64;
        config.max_memory_per_instance = 128 * 1024 * 1024;
        Runtime::new(config).expect("test runtime")
    })
}

/// A compiled test component (compiled once per process, cached on disk across runs).
pub(crate) fn component(name: &str) -> CompiledComponent {
    static CACHE: OnceLock<std::sync::Mutex<Vec<(String, CompiledComponent)>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().expect("component cache lock");
    if let Some((_, c)) = cache.iter().find(|(n, _)| n == name) {
        return c.clone();
    }
    let compiled = load(runtime(), name);
    cache.push((name.to_string(), compiled.clone()));
    compiled
}

/// Test component `name` compiled for `runtime` (from the on-disk cache after the first time).
pub(crate) fn load(runtime: &Runtime, name: &str) -> CompiledComponent {
    let bytes = wasm(name);
    let digest = {
        use sha2::Digest as _;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&bytes)))
    };
    runtime
        .load_component(&digest, &bytes)
        .unwrap_or_else(|e| panic!("compiling test component {name}: {e}"))
}
