"""OCI row of `just bench`: deploy -> first 200 of the hello component pulled from an OCI registry
(Debian's docker-registry on loopback, plain HTTP through `--insecure-registry`) on a node with a
cold cache, against the same component uploaded from a file (upload + apply), each run on a fresh
`wasmpod up` (empty component and compile caches), interleaved; the ratio is of the same run.
`python3 bench/bench.py --only-oci --skip-setup` runs just this.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from pathlib import Path

from procs import Process, free_port


def _start_registry(logdir: Path) -> tuple[Process, str]:
    exe = shutil.which("docker-registry")
    if not exe:
        raise RuntimeError("docker-registry is missing: `just deps` installs it (Debian's docker-registry)")
    host = f"127.0.0.1:{free_port()}"
    storage = logdir / "registry-storage"
    config = logdir / "registry.yml"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {storage}\nhttp:\n  addr: {host}\n")
    return Process("docker-registry", [exe, "serve", config], logdir), host


def _first_200(http_get, port: int, path: str, t0: float, timeout: float = 60) -> float:
    while True:
        try:
            status, _ = http_get(port, path, timeout=2)
        except OSError:
            status = 0
        if status == 200:
            return (time.monotonic() - t0) * 1e3
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"{path} never answered 200")
        time.sleep(0.0005)


def measure(wasmpod: Path, start_wasmpod, helpers, logdir: Path, hello: Path, runs: int, log) -> dict:
    """`helpers`: (deployment, service, ingress, http_get, wait_for) from bench.py."""
    deployment, service, ingress, http_get, wait_for = helpers
    registry, host = _start_registry(logdir)
    try:
        wait_for_registry(host, wait_for)
        reference = f"{host}/bench/hello:v1"
        digest = subprocess.run([str(wasmpod), "push", str(hello), reference, "--insecure"], check=True,
                                capture_output=True, text=True).stdout.strip()
        log(f"pushed {reference} ({digest})")
        rows: dict[str, list[float]] = {"file": [], "oci": []}
        for i in range(runs):
            for arm in ("file", "oci"):
                wp, api, port = start_wasmpod(f"oci-{arm}-{i}", logdir, ["--insecure-registry", host])
                try:
                    api.apply([service("hello"), ingress("hello", "/hello", "hello")])
                    time.sleep(0.3)  # the routing table settles on "no endpoints" first
                    t0 = time.monotonic()
                    if arm == "file":
                        component = api.upload(hello)
                    else:
                        component = f"oci://{reference}"
                    api.apply([deployment("hello", component)])
                    rows[arm].append(_first_200(http_get, port, "/hello", t0))
                    log(f"deploy -> 200, cold node, {arm} #{i + 1}: {rows[arm][-1]:.1f} ms")
                finally:
                    wp.stop()
        return rows
    finally:
        registry.stop()


def wait_for_registry(host: str, wait_for) -> None:
    port = int(host.rsplit(":", 1)[1])
    wait_for(port, "/v2/", 20)


def report(rows: dict | None, binary: str) -> list[str]:
    if not rows:
        return []
    file_ms = statistics.median(rows["file"])
    oci_ms = statistics.median(rows["oci"])
    return [
        "## Components from an OCI registry",
        "",
        f"Deploy -> first 200 on a fresh `wasmpod up` (cold component and compile caches), median of "
        f"{len(rows['oci'])} interleaved runs; docker-registry on loopback over plain HTTP. Binary: {binary}.",
        "",
        "| component from | deploy -> 200 (median) | runs (ms) |",
        "|---|---|---|",
        f"| file (upload + apply) | {file_ms:.1f} ms | {', '.join(f'{v:.0f}' for v in rows['file'])} |",
        f"| oci:// tag (apply resolves, node pulls) | {oci_ms:.1f} ms | {', '.join(f'{v:.0f}' for v in rows['oci'])} |",
        f"| ratio oci / file | {oci_ms / file_ms:.2f} | |",
        "",
    ]
