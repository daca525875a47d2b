#!/usr/bin/env python3
"""Builds this project into a `wasi:http/proxy` component: `python3 build.py` (what `wasmpod build`
and `just sample-py` run). Idempotent; `--force` rebuilds even when the output is up to date.

1. Installs the pinned toolchain, componentize-py 0.25.1 from PyPI, into .toolchains/ (pip
   `--target`, nothing global) when it is missing.
2. Takes the standard WASI WIT from the wasmtime-wasi-http 48.0.8 crate's wit/ (found in the cargo
   registry, or in $WASMPOD_WIT): world `wasi:http/proxy@0.2.12`, the one wasmpod runs.
3. componentize-py: the module `app` (its `IncomingHandler` class) -> <project name>.wasm (about
   18 MB: CPython and its standard library, pre-initialised with the app).
"""

import glob
import os
import re
import subprocess
import sys
import time

TOOLCHAIN = "componentize-py"
TOOLCHAIN_VERSION = "0.25.1"
WIT_CRATE = "wasmtime-wasi-http-48.0.8"
WORLD = "wasi:http/proxy@0.2.12"
MODULE = "app"

ROOT = os.path.dirname(os.path.abspath(__file__))
TOOLCHAIN_DIR = os.path.join(ROOT, ".toolchains", f"{TOOLCHAIN}-{TOOLCHAIN_VERSION}")


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def project_name() -> str:
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        match = re.search(r'^name\s*=\s*"([^"]+)"', f.read(), re.MULTILINE)
    if not match:
        fail("pyproject.toml has no [project] name")
    return match.group(1)


def mtime(path: str) -> float:
    return os.path.getmtime(path) if os.path.exists(path) else 0.0


def sources() -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in ("build", "__pycache__")]
        found += [os.path.join(dirpath, f) for f in filenames if f.endswith(".py")]
    return found + [os.path.join(ROOT, "pyproject.toml")]


def install_toolchain() -> None:
    marker = os.path.join(TOOLCHAIN_DIR, f"componentize_py-{TOOLCHAIN_VERSION}.dist-info")
    if os.path.isdir(marker):
        return
    spec = f"{TOOLCHAIN}=={TOOLCHAIN_VERSION}"
    print(f"installing {spec} (PyPI, pinned) into {os.path.relpath(TOOLCHAIN_DIR)}...", file=sys.stderr)
    pip = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    try:
        env = dict(os.environ, PIP_ROOT_USER_ACTION="ignore")
        done = subprocess.run([*pip, "--upgrade", "--target", TOOLCHAIN_DIR, spec], env=env, check=False)
    except OSError as e:
        fail(f"cannot run pip ({e})")
    if done.returncode != 0:
        fail(
            f"installing {spec} failed. It needs pip for Python 3.10+ (Debian: `apt-get install "
            f"python3-pip`); the command was: {sys.executable} -m pip install --target "
            f"{TOOLCHAIN_DIR} {spec}"
        )


def find_wit() -> str:
    candidates = []
    if os.environ.get("WASMPOD_WIT"):
        candidates.append(os.environ["WASMPOD_WIT"])
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


def main() -> None:
    if sys.version_info < (3, 10):
        fail(f"Python 3.10+ is needed (this is {sys.version.split()[0]})")
    name = project_name()
    out = os.path.join(ROOT, f"{name}.wasm")
    built = mtime(out)
    if "--force" not in sys.argv and built > 0 and all(mtime(f) <= built for f in sources()):
        print(f"{os.path.relpath(out)} is up to date", file=sys.stderr)
        return
    install_toolchain()
    wit = find_wit()
    print(f"{TOOLCHAIN} {TOOLCHAIN_VERSION}: module {MODULE}, world {WORLD} (WIT from {wit})...", file=sys.stderr)
    started = time.monotonic()
    run = "import sys; from componentize_py import script; sys.argv[0] = 'componentize-py'; sys.exit(script())"
    env = dict(os.environ, PYTHONPATH=TOOLCHAIN_DIR)
    args = ["-d", wit, "-w", WORLD, "componentize", "-p", ROOT, MODULE, "-o", out]
    done = subprocess.run([sys.executable, "-c", run, *args], cwd=ROOT, env=env, check=False)
    if done.returncode != 0:
        fail(f"{TOOLCHAIN} failed (exit {done.returncode})")
    size = os.path.getsize(out) / 1e6
    print(f"wrote {os.path.relpath(out)} ({size:.1f} MB) in {time.monotonic() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
