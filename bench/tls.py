"""TLS and HTTP/2 rows of `just bench`: the same hello deployment through one node's ingress over
plain HTTP/1.1, h2c (HTTP/2 with prior knowledge), TLS with HTTP/1.1 and TLS with HTTP/2 (ALPN),
all driven by `h2load` (Debian's nghttp2-client) in the same run, as ratios to plain HTTP/1.1.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

HOST = "localhost"


def ensure_h2load(run) -> None:
    if shutil.which("h2load") and shutil.which("openssl"):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(sudo + ["apt-get", "update"], env=env)
    run(sudo + ["apt-get", "install", "-y", "nghttp2-client", "openssl"], env=env)


def self_signed(workdir: Path) -> tuple[str, str]:
    """A self-signed certificate for `localhost`: (certificate PEM, key PEM)."""
    cert, key = workdir / "tls.crt", workdir / "tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={HOST}",
                    "-addext", f"subjectAltName=DNS:{HOST}"], check=True, capture_output=True)
    return cert.read_text(), key.read_text()


def h2load(url: str, requests: int, clients: int, h1: bool) -> float:
    """Requests per second of `h2load -n requests -c clients -m 1` (one request in flight per
    connection, as wrk does); raises if any request failed."""
    cmd = ["h2load", "-n", str(requests), "-c", str(clients), "-m", "1", url]
    if h1:
        cmd.insert(1, "--h1")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300).stdout
    rate = re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", out)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    if not rate or not done:
        raise RuntimeError(f"cannot read h2load's output:\n{out}")
    if int(done.group(3)) or int(done.group(4)):
        raise RuntimeError(f"h2load saw failures:\n{out}")
    return float(rate.group(1))


def measure(start_wasmpod, free_port, logdir: Path, hello: Path, rounds: int, log,
            requests: int = 20000, clients: int = 32) -> dict:
    """Median req/s per protocol over `rounds` interleaved rounds."""
    tls_port = free_port()
    server, api, ingress_port = start_wasmpod("tls", logdir, ["--ingress-tls-addr", f"127.0.0.1:{tls_port}"])
    try:
        cert, key = self_signed(logdir)
        digest = api.upload(hello)
        api.apply([
            {"apiVersion": "wasmpod.dev/v1", "kind": "Secret", "metadata": {"name": "bench-cert"},
             "type": "kubernetes.io/tls", "stringData": {"tls.crt": cert, "tls.key": key}},
            {"apiVersion": "wasmpod.dev/v1", "kind": "Deployment", "metadata": {"name": "hello"},
             "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "hello"}},
                      "template": {"metadata": {"labels": {"app": "hello"}}, "spec": {"component": digest}}}},
            {"apiVersion": "wasmpod.dev/v1", "kind": "Service", "metadata": {"name": "hello"},
             "spec": {"selector": {"app": "hello"}}},
            {"apiVersion": "wasmpod.dev/v1", "kind": "Ingress", "metadata": {"name": "hello"},
             "spec": {"tls": [{"hosts": [HOST], "secretName": "bench-cert"}],
                      "rules": [{"http": {"paths": [{"path": "/hello", "backend": {"service": "hello"}}]}}]}},
        ])
        plain = f"http://{HOST}:{ingress_port}/hello"
        secure = f"https://{HOST}:{tls_port}/hello"
        deadline = time.monotonic() + 60
        while True:
            try:
                h2load(secure, 10, 1, h1=False)
                break
            except (RuntimeError, subprocess.TimeoutExpired):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        runs = {"plain HTTP/1.1": (plain, True), "h2c (HTTP/2, prior knowledge)": (plain, False),
                "TLS, HTTP/1.1": (secure, True), "TLS, HTTP/2 (ALPN)": (secure, False)}
        samples: dict[str, list[float]] = {name: [] for name in runs}
        for r in range(rounds):
            for name, (url, h1) in runs.items():
                samples[name].append(h2load(url, requests, clients, h1))
            log(f"TLS round {r + 1}: " + ", ".join(f"{n} {v[-1]:,.0f} req/s" for n, v in samples.items()))
        return {"samples": samples, "requests": requests, "clients": clients}
    finally:
        server.stop()


def report(rows: dict | None) -> list[str]:
    if not rows:
        return []
    import statistics

    samples = rows["samples"]
    base = statistics.median(samples["plain HTTP/1.1"])
    lines = ["## Ingress over TLS and HTTP/2 (same run)", "",
             f"`h2load -n {rows['requests']} -c {rows['clients']} -m 1` against one hello deployment (fresh instance per "
             "request) through the same node; median of the rounds; ratio to plain HTTP/1.1.", "",
             "| protocol | req/s | ratio | rounds |", "|---|---:|---:|---|"]
    for name, values in samples.items():
        med = statistics.median(values)
        lines.append(f"| {name} | {med:,.0f} | {med / base:.2f} | {', '.join(f'{v:,.0f}' for v in values)} |")
    lines.append("")
    return lines
