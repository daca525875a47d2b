# wasmpod — the commands a user and CI run. `cargo install just` once, then `just up` / `just test`.

set shell := ["bash", "-euo", "pipefail", "-c"]

wasm_target := "wasm32-wasip2"

# Build everything, start a local cluster with the sample services, print where they answer.
up *ARGS: deps toolchain samples
    cargo build --workspace
    ./target/debug/wasmpod up -f sample-services/hello/deploy.yaml -f sample-services/frontend/deploy.yaml -f sample-services/counter/deploy.yaml -f sample-services/hello-js/deploy.yaml -f sample-services/hello-py/deploy.yaml -f sample-services/hello-c/deploy.yaml {{ARGS}}

# The whole test suite: unit tests beside the code, the store contract (sled and etcd), end-to-end tests in tests/.
test: deps toolchain samples test-components
    # --all-targets: the binary the e2e tests start is built with the same features as the tests
    # (the test crates' dev-dependencies), so `cargo test` compiles nothing twice.
    cargo build --workspace --all-targets
    cargo test --workspace --no-fail-fast

# The property tests (parsers: manifests, quantities, selectors, origins, traceparent; the API's
# handlers with random bodies over a real socket) with many more cases than `just test` runs
# (256 per parser, 64 requests); CASES=1000000 for a longer run.
fuzz CASES="100000": deps
    PROPTEST_CASES={{CASES}} cargo test --workspace --lib -- parsers_never_panic handlers_answer_random_bodies

# protoc (etcd-client's build needs it), etcd, Redis, Prometheus, curl with HTTP/2, chromium
# (the dashboard test drives it headless) and docker-registry (the OCI tests' registry) from
# Debian, when missing: the tests start and use them.
deps:
    #!/usr/bin/env bash
    set -euo pipefail
    missing=()
    command -v protoc >/dev/null || missing+=(protobuf-compiler)
    command -v etcd >/dev/null || missing+=(etcd-server)
    command -v redis-server >/dev/null || missing+=(redis-server)
    command -v prometheus >/dev/null || missing+=(prometheus)
    command -v curl >/dev/null || missing+=(curl)
    command -v chromium >/dev/null || missing+=(chromium)
    command -v docker-registry >/dev/null || missing+=(docker-registry)
    [ ${#missing[@]} -eq 0 ] && exit 0
    command -v apt-get >/dev/null || { echo "error: install ${missing[*]} (protoc, etcd 3.4+, redis-server, prometheus, docker-registry) with your package manager" >&2; exit 1; }
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing ${missing[*]} (apt-get)"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${missing[@]}"

# Install the wasm target if it is missing (idempotent).
toolchain:
    @rustup target list --installed | grep -qx {{wasm_target}} || rustup target add {{wasm_target}}

# The sample services, built to components.
samples: toolchain sample-js sample-py sample-c
    cargo build --release --target {{wasm_target}} --manifest-path sample-services/Cargo.toml

# The components the tests deploy (traps, loops, crashing commands ...).
test-components: toolchain
    cargo build --release --target {{wasm_target}} --manifest-path tests/components/Cargo.toml

# Lints as CI would run them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# `just bench 1000` measures density at 1,000 deployments only; flags: `python3 bench/bench.py --help`.
# Benchmark against `wasmtime serve` and axum, deploy, restart, scheduling, density -> bench/results/.
bench density="1000,10000" *ARGS: deps toolchain
    python3 bench/bench.py --density {{density}} {{ARGS}}

# The JavaScript sample with componentize-js (npm, pinned by its package-lock.json) -> hello-js.wasm.
sample-js: wasi-wit
    @command -v npm >/dev/null || { echo "error: npm is missing: install Node.js 18+ with npm (Debian: apt-get install nodejs npm)" >&2; exit 1; }
    node sample-services/hello-js/build.mjs

# The Python sample with componentize-py==0.25.1 (PyPI, into its .toolchains/) -> hello-py.wasm.
sample-py: wasi-wit
    @command -v python3 >/dev/null || { echo "error: python3 is missing: install Python 3.10+ with pip (Debian: apt-get install python3 python3-pip)" >&2; exit 1; }
    python3 sample-services/hello-py/build.py

# The C sample with wit-bindgen (crates.io), zig and wasm-tools (PyPI), pinned, into its .toolchains/.
sample-c: wasi-wit
    @command -v python3 >/dev/null || { echo "error: python3 is missing: install Python 3.10+ with pip (Debian: apt-get install python3 python3-pip)" >&2; exit 1; }
    python3 sample-services/hello-c/build.py

# Fetch the crates if needed: JS and Python builds take WASI's WIT from wasmtime-wasi-http's wit/.
wasi-wit:
    @ls ${CARGO_HOME:-$HOME/.cargo}/registry/src/*/wasmtime-wasi-http-48.0.8/wit/deps/http.wit >/dev/null 2>&1 || cargo fetch --quiet
