#!/usr/bin/env python3
"""`just bench`: wasmpod against `wasmtime serve` 48.0.8 and a native axum hello, on this machine.

Installs what it needs (wrk, wasmtime-cli 48.0.8 under bench/cache/wasmtime, the release build of
wasmpod, the sample and test components, bench/axum-hello), then measures:

- throughput: the same `wrk -t1 -cC -dDs --latency` load against every server, interleaved, for
  R rounds; median req/s, p50/p99 latency, and server CPU per request from /proc/PID/stat
  ((utime + stime) delta / requests; for wasmpod the whole `wasmpod up` process);
- a same-node service call (ingress -> frontend -> backend, in process) against the backend called
  directly through ingress (`wrk -c1`, p50);
- deploy -> first 200 OK with a warm compile cache;
- time from a crashing command pod's trap to its restart, the backoff delay taken out;
- time to schedule 1,000 pods (one Deployment, replicas 1000);
- density: 1,000 and 10,000 idle HTTP deployments on one worker (`--density`), and its RSS;
- a burst: 2,000 keep-alive clients at once on one hello deployment (`wrk -t2 -c2000`, `--burst`),
  req/s, p99 and errors against the 32-client run (requests beyond the instance pool wait their
  turn: there must be no errors). `--only-burst` runs just this and the 32-client run;
- the cross-node hop over node-to-node TLS against the plain hop, p50 and p99 (bench/node_tls.py,
  `--only-node-tls`);
- hello's p99 and max latency while each hostile guest attacks on the same node, against hello
  alone (bench/attacks.py, `--only-attacks`);
- autoscaling (bench/autoscale.py, `--only-autoscale`): first request to a service scaled to zero
  (Rust and the 13 MB JavaScript sample) against a warm request, and a load step from 1 to 200
  clients against the same scale done by hand;
- deploy -> first 200 from an `oci://` reference (docker-registry on loopback, cold node cache)
  against the same component uploaded from a file (bench/oci.py, `--only-oci`);
- key-value (bench/keyvalue.py, `--only-keyvalue`): one `get` and one `increment` per request on
  the embedded store and on Redis, against hello in the same run.

`--debug-build` measures target/debug/wasmpod instead of the release build (and builds nothing).

Prints a table and writes it with machine info to bench/results/<date>-<shortsha>.md.
Python 3.11, standard library only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import attacks as attacks_bench
import autoscale as autoscale_bench
import control_plane
from wasmpod_api import Api
import node_tls as node_tls_bench
import oci as oci_bench
import keyvalue as keyvalue_bench
import tls as tls_bench
from procs import Process as Server
from procs import free_port

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
CACHE = BENCH / "cache"
WASMTIME_VERSION = "48.0.8"
WASMTIME = CACHE / "wasmtime" / "bin" / "wasmtime"
WASMPOD = ROOT / "target" / "release" / "wasmpod"
AXUM = BENCH / "axum-hello" / "target" / "release" / "axum-hello"
SAMPLES = ROOT / "sample-services" / "target" / "wasm32-wasip2" / "release"
TEST_COMPONENTS = ROOT / "tests" / "components" / "target" / "wasm32-wasip2" / "release"
HELLO_BODY = b"Hello from wasmpod!\n"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kw) -> None:
    log("$ " + " ".join(str(c) for c in cmd))
    subprocess.run(cmd, check=True, **kw)


# ---------------------------------------------------------------------------------------------
# Setup (idempotent)
# ---------------------------------------------------------------------------------------------


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # A fresh machine may have no package lists yet.
    run(sudo + ["apt-get", "update"], env=env)
    run(sudo + ["apt-get", "install", "-y", "wrk"], env=env)


def ensure_wasmtime() -> None:
    if WASMTIME.exists():
        out = subprocess.run([WASMTIME, "--version"], capture_output=True, text=True).stdout
        if WASMTIME_VERSION in out:
            return
    run(["cargo", "install", "wasmtime-cli", "--version", WASMTIME_VERSION, "--locked",
         "--root", str(CACHE / "wasmtime")])


def build_all() -> None:
    nice = ["nice", "-n", "5"]
    run(nice + ["cargo", "build", "--release", "-p", "wasmpod-cli"], cwd=ROOT)
    for manifest in ("sample-services/Cargo.toml", "tests/components/Cargo.toml"):
        run(nice + ["cargo", "build", "--release", "--target", "wasm32-wasip2", "--manifest-path", manifest],
            cwd=ROOT)
    run(nice + ["cargo", "build", "--release", "--manifest-path", "bench/axum-hello/Cargo.toml"], cwd=ROOT)


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def wait_for(port: int, path: str, timeout: float, expect: bytes | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            status, body = http_get(port, path)
            if status == 200 and (expect is None or body == expect):
                return
            last = (status, body[:200])
        except OSError as e:
            last = e
        time.sleep(0.05)
    raise RuntimeError(f"127.0.0.1:{port}{path} did not answer 200 within {timeout}s (last: {last})")


def deployment(name: str, digest: str, replicas: int = 1, **spec) -> dict:
    return {
        "apiVersion": "wasmpod.dev/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"component": digest, **spec}},
        },
    }


def service(name: str, app: str | None = None) -> dict:
    return {"apiVersion": "wasmpod.dev/v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": app or name}}}


def ingress(name: str, path: str, svc: str) -> dict:
    return {"apiVersion": "wasmpod.dev/v1", "kind": "Ingress", "metadata": {"name": name},
            "spec": {"rules": [{"http": {"paths": [{"path": path, "backend": {"service": svc}}]}}]}}


def start_wasmpod(name: str, logdir: Path, extra: list[str] = (), binary: Path | None = None) -> tuple[Server, Api, int]:
    api_port, ingress_port = free_port(), free_port()
    data = logdir / f"{name}-data"
    server = Server(name, [binary or WASMPOD, "up", "--data-dir", data, "--api-addr", f"127.0.0.1:{api_port}",
                           "--ingress-addr", f"127.0.0.1:{ingress_port}", *extra], logdir)
    wait_for(api_port, "/healthz", 30)
    return server, Api(api_port), ingress_port


# ---------------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------------


@dataclass
class Sample:
    rps: float
    p50_us: float
    p99_us: float
    cpu_us_per_req: float
    requests: int
    errors: int


@dataclass
class Target:
    name: str
    server: Server
    port: int
    path: str
    samples: list[Sample] = field(default_factory=list)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples)


def parse_duration_us(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"cannot parse wrk duration {text!r}")
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6}[m.group(2)]


def wrk(port: int, path: str, connections: int, seconds: int, server: Server, threads: int = 1) -> Sample:
    cpu0 = server.cpu_seconds()
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
                          f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
    cpu1 = server.cpu_seconds()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in m.groups())
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    return Sample(rps=rps, p50_us=parse_duration_us(lat["50"]), p99_us=parse_duration_us(lat["99"]),
                  cpu_us_per_req=(cpu1 - cpu0) * 1e6 / max(requests, 1), requests=requests, errors=errors)


def measure_throughput(targets: list[Target], rounds: int, seconds: int, connections: int) -> None:
    for t in targets:
        log(f"warm-up {t.name}")
        wrk(t.port, t.path, connections, 2, t.server)
    for r in range(rounds):
        for t in targets:
            s = wrk(t.port, t.path, connections, seconds, t.server)
            t.samples.append(s)
            log(f"round {r + 1}/{rounds} {t.name}: {s.rps:,.0f} req/s, p50 {s.p50_us:.0f} us, "
                f"p99 {s.p99_us:.0f} us, {s.cpu_us_per_req:.1f} us CPU/req, {s.errors} errors")


@dataclass
class Compared:
    label: str
    binary: Path


def parse_compare(text: str) -> Compared:
    label, sep, path = text.partition("=")
    binary = Path(path)
    if not sep or not label or not binary.is_file():
        raise SystemExit(f"error: --compare {text!r}: expected LABEL=PATH of a wasmpod binary")
    return Compared(label, binary.resolve())


def start_compared(compares: list[Compared], logdir: Path, hello: Path, servers: list[Server]) -> list[Target]:
    """Each compared binary as its own `wasmpod up` serving hello at /hello, measured in the same
    interleaved rounds as this build: an A/B within one run, immune to the machine's day-to-day noise."""
    targets = []
    for i, c in enumerate(compares):
        server, api, port = start_wasmpod(f"compare-{i}", logdir, binary=c.binary)
        servers.append(server)
        api.apply([deployment("hello", api.upload(hello)), service("hello"), ingress("hello", "/hello", "hello")])
        wait_for(port, "/hello", 60, HELLO_BODY)
        targets.append(Target(f"wasmpod {c.label} (fresh instance)", server, port, "/hello"))
    return targets


def measure_burst(target: Target, clients: int, seconds: int) -> Sample:
    """`clients` keep-alive connections at once on one deployment: far more requests in flight
    than the instance pool holds, so most wait in the pod's queue."""
    log(f"burst: {clients} clients on {target.name}")
    s = wrk(target.port, target.path, clients, seconds, target.server, threads=2)
    log(f"burst {clients} clients: {s.rps:,.0f} req/s, p50 {s.p50_us:.0f} us, p99 {s.p99_us:.0f} us, {s.errors} errors")
    return s


# ---------------------------------------------------------------------------------------------
# Control-plane measurements
# ---------------------------------------------------------------------------------------------


def measure_deploy(api: Api, ingress_port: int, digest: str, runs: int = 5) -> list[float]:
    """Apply a new Deployment of an already compiled component; poll its ingress path until 200."""
    times = []
    for i in range(runs):
        name = f"deploy-{i}"
        api.apply([service(name), ingress(name, f"/{name}", name)])
        time.sleep(0.3)  # let the routing table settle on "no endpoints" first
        t0 = time.monotonic()
        api.apply([deployment(name, digest)])
        while True:
            try:
                status, _ = http_get(ingress_port, f"/{name}", timeout=2)
            except OSError:
                status = 0
            if status == 200:
                break
            if time.monotonic() - t0 > 30:
                raise RuntimeError(f"{name} never answered 200")
            time.sleep(0.0005)
        times.append((time.monotonic() - t0) * 1e3)
        log(f"deploy -> 200 #{i + 1}: {times[-1]:.1f} ms")
    return times


def parse_time(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def measure_restart(api: Api, digest: str, restarts: int = 3) -> list[float]:
    """A crashing command pod (trap 10 ms after start). For each crash, the pod status holds
    `lastTermination.finishedAt` (when the worker saw the trap) and the message `restarting in D ms`;
    after the restart it holds the new `startTime`. Both come from the worker's clock.
    Restart latency = startTime - finishedAt - D."""
    env = [{"name": "CRASH_MODE", "value": "trap"}, {"name": "CRASH_AFTER_MS", "value": "10"}]
    api.apply([deployment("crasher", digest, env=env, restartPolicy="Always")])
    deadline = time.monotonic() + 60
    name = None
    while name is None and time.monotonic() < deadline:
        for p in api.pods():
            if p["metadata"].get("labels", {}).get("app") == "crasher":
                name = p["metadata"]["name"]
        time.sleep(0.01)
    if name is None:
        raise RuntimeError("the crasher pod was never created")
    samples: list[float] = []
    pending: tuple[float, float] | None = None  # (finishedAt, delay seconds) of the last crash
    seen_finish: set[float] = set()
    while len(samples) < restarts and time.monotonic() < deadline:
        st = api.pod(name).get("status", {})
        term = st.get("lastTermination")
        if st.get("reason") == "CrashLoopBackOff" and term:
            finished = parse_time(term["finishedAt"])
            m = re.search(r"restarting in (\d+) ms", st.get("message", ""))
            if m and finished not in seen_finish:
                seen_finish.add(finished)
                pending = (finished, int(m.group(1)) / 1e3)
        if pending and st.get("startTime") and parse_time(st["startTime"]) > pending[0]:
            latency = (parse_time(st["startTime"]) - pending[0] - pending[1]) * 1e3
            samples.append(latency)
            log(f"restart #{len(samples)}: backoff {pending[1] * 1e3:.0f} ms, trap -> restart beyond it {latency:.2f} ms")
            pending = None
        time.sleep(0.002)
    api.call("DELETE", "/api/v1/deployments/crasher")
    return samples


def measure_schedule(logdir: Path, hello: Path, count: int = 1000) -> dict:
    server, api, _ = start_wasmpod("schedule", logdir, ["--capacity", f"pods={count + 100}"])
    try:
        digest = api.upload(hello)
        t0 = time.monotonic()
        api.apply([deployment("many", digest, replicas=count)])
        scheduled_at = running_at = None
        while time.monotonic() - t0 < 300:
            pods = api.pods()
            bound = sum(1 for p in pods if p["spec"].get("nodeName"))
            ready = sum(1 for p in pods if p.get("status", {}).get("ready"))
            now = time.monotonic()
            if scheduled_at is None and bound >= count:
                scheduled_at = now - t0
                log(f"{count} pods scheduled in {scheduled_at:.2f} s")
            if ready >= count:
                running_at = now - t0
                log(f"{count} pods running in {running_at:.2f} s")
                break
            time.sleep(0.02)
        return {"count": count, "scheduled_s": scheduled_at, "running_s": running_at}
    finally:
        server.stop()


def measure_cross_node(logdir: Path, rounds: int) -> dict:
    """frontend on node local-1 calling backend on node local-2 (through local-2's gateway),
    against the same pair on one node; both through local-1's ingress, `wrk -c1`, p50."""
    server, api, ingress_port = start_wasmpod("cross-node", logdir, ["--workers", "2"])

    def cordon(node: str, on: bool) -> None:
        run([WASMPOD, "cordon" if on else "uncordon", node, "--server", api.base], stdout=subprocess.DEVNULL)

    def wait_ready(app: str, node: str, count: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pods = [p for p in api.pods() if p["metadata"].get("labels", {}).get("app") == app]
            if len(pods) == count and all(p.get("status", {}).get("ready") and p["spec"].get("nodeName") == node for p in pods):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{app} not ready on {node}")

    try:
        front, back = api.upload(SAMPLES / "frontend.wasm"), api.upload(SAMPLES / "backend.wasm")
        cordon("local-2", True)
        api.apply([deployment("frontend", front), service("frontend"), ingress("frontend", "/frontend", "frontend"),
                   deployment("near", back), service("near"), ingress("near", "/near", "near")])
        wait_ready("frontend", "local-1", 1)
        wait_ready("near", "local-1", 1)
        cordon("local-2", False)
        cordon("local-1", True)
        api.apply([deployment("backend", back), service("backend"), ingress("far", "/items", "backend")])
        wait_ready("backend", "local-2", 1)
        cordon("local-1", False)
        wait_for(ingress_port, "/frontend", 60)
        cross, direct_far, direct_near = [], [], []
        for r in range(rounds):
            cross.append(wrk(ingress_port, "/frontend", 1, 5, server))
            direct_far.append(wrk(ingress_port, "/items", 1, 5, server))
            direct_near.append(wrk(ingress_port, "/near", 1, 5, server))
            log(f"cross-node round {r + 1}: frontend->backend(other node) p50 {cross[-1].p50_us:.0f} us, "
                f"backend on other node via ingress {direct_far[-1].p50_us:.0f} us, backend on this node {direct_near[-1].p50_us:.0f} us")
        return {
            "cross_p50": statistics.median(s.p50_us for s in cross),
            "far_p50": statistics.median(s.p50_us for s in direct_far),
            "near_p50": statistics.median(s.p50_us for s in direct_near),
        }
    finally:
        server.stop()


def measure_density(logdir: Path, hello: Path, count: int) -> dict:
    # Capacity sized so the scheduler places them all: this measures the worker, not admission.
    server, api, _ = start_wasmpod(f"density-{count}", logdir,
                                   ["--capacity", f"pods={count + 100},memory={count // 100 + 4}Gi"])
    try:
        digest = api.upload(hello)
        time.sleep(1)
        rss0 = server.rss_bytes()
        t0 = time.monotonic()
        batch = 200
        for i in range(0, count, batch):
            api.apply([deployment(f"idle-{j}", digest) for j in range(i, min(i + batch, count))])
        ready = 0
        timeout = 120 + count * 0.05
        last_report = t0
        while time.monotonic() - t0 < timeout:
            pods = api.pods()
            ready = sum(1 for p in pods if p.get("status", {}).get("ready"))
            if ready >= count:
                break
            if time.monotonic() - last_report >= 10:
                last_report = time.monotonic()
                log(f"density {count}: {ready} ready after {last_report - t0:.0f} s")
            time.sleep(0.5)
        elapsed = time.monotonic() - t0
        time.sleep(2)
        rss = server.rss_bytes()
        log(f"density: {ready}/{count} ready after {elapsed:.1f} s, RSS {rss / 2**20:.0f} MiB (idle {rss0 / 2**20:.0f} MiB)")
        return {"count": count, "ready": ready, "seconds": elapsed, "rss": rss, "rss0": rss0}
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def sh(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT).stdout.strip()
    except OSError:
        return "?"


def machine_info() -> list[str]:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    dirty = " (uncommitted changes)" if sh(["git", "status", "--porcelain", "--untracked-files=no"]) else ""
    return [
        f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- commit: {sh(['git', 'rev-parse', '--short', 'HEAD'])}{dirty}",
        f"- machine: {cpu}, {os.cpu_count()} CPUs, {mem:,} MiB RAM, Linux {platform.release()}",
        f"- {sh(['rustc', '--version'])}; {sh([str(WASMTIME), '--version'])}; {sh(['wrk', '-v']).splitlines()[0] if sh(['wrk', '-v']) else 'wrk'}",
    ]


def fmt_us(us: float) -> str:
    return f"{us / 1e3:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**missed**")


def report(args, targets: list[Target], svc: dict | None, deploy: list[float], restart: list[float],
           sched: dict | None, density: list[dict] | None, cross: dict | None = None,
           burst: Sample | None = None, sections: list[str] = ()) -> str:
    by = {t.name: t for t in targets}
    if not targets:
        # A partial run (--only-tls, --only-control-plane): its sections only.
        return "\n".join(["# wasmpod benchmark", "", *machine_info(), "", *sections]) + "\n"
    lines = ["# wasmpod benchmark", "", *machine_info(), "",
             f"Load: `wrk -t1 -c{args.connections} -d{args.duration}s --latency`, {args.rounds} rounds interleaved, "
             "median of the rounds. Server CPU per request: (utime + stime) of the server process over the run "
             "(/proc/PID/stat) / requests; for wasmpod the whole `wasmpod up` process (control plane + worker). "
             "Client and servers share the machine.", "",
             "| server | req/s | p50 | p99 | server CPU / req | errors |", "|---|---:|---:|---:|---:|---:|"]
    for t in targets:
        lines.append(f"| {t.name} | {t.median('rps'):,.0f} | {fmt_us(t.median('p50_us'))} | {fmt_us(t.median('p99_us'))} "
                     f"| {t.median('cpu_us_per_req'):.0f} µs | {sum(s.errors for s in t.samples)} |")
    ws, wp, ax = by.get("wasmtime serve (defaults)"), by.get("wasmpod (fresh instance)"), by.get("axum (native)")
    wr = by.get("wasmpod (instanceReuse 1000)")
    lines += ["", "Per round (req/s | CPU µs/req):", ""]
    for t in targets:
        lines.append(f"- {t.name}: " + ", ".join(f"{s.rps:,.0f} | {s.cpu_us_per_req:.0f}" for s in t.samples))
    lines += ["", "Ratios (medians of this run):", ""]
    targets_rows = []
    if wp and ws:
        cpu_ratio = wp.median("cpu_us_per_req") / ws.median("cpu_us_per_req")
        rps_ratio = wp.median("rps") / ws.median("rps")
        lines.append(f"- wasmpod / wasmtime serve: req/s {rps_ratio:.2f}x, CPU per request {cpu_ratio:.2f}x")
        targets_rows.append(("fresh instance: CPU/req <= 0.25x wasmtime serve", f"{cpu_ratio:.2f}x", cpu_ratio <= 0.25))
        targets_rows.append(("fresh instance: req/s >= 4x wasmtime serve", f"{rps_ratio:.2f}x", rps_ratio >= 4))
    for t in targets:
        if t is wp or not (t.name.startswith("wasmpod ") and t.name.endswith("(fresh instance)")):
            continue
        label = t.name.removeprefix("wasmpod ").removesuffix(" (fresh instance)")
        if ws:
            lines.append(f"- wasmpod {label} / wasmtime serve: req/s {t.median('rps') / ws.median('rps'):.2f}x, "
                         f"CPU per request {t.median('cpu_us_per_req') / ws.median('cpu_us_per_req'):.2f}x")
        if wp:
            lines.append(f"- wasmpod (this build) / wasmpod {label}: req/s {wp.median('rps') / t.median('rps'):.2f}x, "
                         f"CPU per request {wp.median('cpu_us_per_req') / t.median('cpu_us_per_req'):.2f}x")
    if wp and ax:
        lines.append(f"- wasmpod / axum: req/s {wp.median('rps') / ax.median('rps'):.2f}x, "
                     f"CPU per request {wp.median('cpu_us_per_req') / ax.median('cpu_us_per_req'):.2f}x")
    if wr and ax:
        r = wr.median("rps") / ax.median("rps")
        lines.append(f"- wasmpod with instance reuse / axum: req/s {r:.2f}x")
        targets_rows.append(("instance reuse: req/s >= 0.6x axum", f"{r:.2f}x", r >= 0.6))

    lines += ["", "## Platform", "", "| measurement | result |", "|---|---|"]
    if burst and wp:
        lines.append(f"| burst: {args.burst:,} keep-alive clients on one hello deployment (`wrk -t2 -c{args.burst} "
                     f"-d{args.duration}s`), fresh instances | {burst.rps:,.0f} req/s, p99 {fmt_us(burst.p99_us)}, "
                     f"{burst.errors} errors; {args.connections} clients: {wp.median('rps'):,.0f} req/s, "
                     f"p99 {fmt_us(wp.median('p99_us'))} |")
        targets_rows.append((f"{args.burst:,}-client burst: no errors (requests wait for an instance)",
                             f"{burst.errors} errors", burst.errors == 0))
    if svc:
        lines.append(f"| same-node service call (`wrk -t1 -c1`, p50): ingress -> frontend -> backend vs ingress -> backend "
                     f"| {fmt_us(svc['frontend_p50'])} vs {fmt_us(svc['backend_p50'])}: +{svc['delta_us']:.0f} µs |")
        lines.append(f"| same-node service call, the frontend reusing its instance (`instanceReuse`) "
                     f"| {fmt_us(svc['reuse_p50'])}: +{svc['reuse_p50'] - svc['backend_p50']:.0f} µs over the "
                     f"backend alone |")
        targets_rows.append(("same-node service call adds <= 20 µs p50", f"+{svc['delta_us']:.0f} µs", svc["delta_us"] <= 20))
    else:
        lines.append("| same-node service call | n/a (no frontend sample) |")
    if cross:
        lines.append(f"| cross-node service call (`wrk -t1 -c1`, p50): ingress -> frontend (node 1) -> backend (node 2) "
                     f"| {fmt_us(cross['cross_p50'])}; backend through node 1's ingress: on node 2 {fmt_us(cross['far_p50'])}, "
                     f"on node 1 {fmt_us(cross['near_p50'])}: the node hop adds {cross['far_p50'] - cross['near_p50']:.0f} µs |")
    if deploy:
        med = statistics.median(deploy)
        lines.append(f"| deploy -> first 200 OK, warm compile cache (median of {len(deploy)}) | {med:.0f} ms "
                     f"(min {min(deploy):.0f}, max {max(deploy):.0f}) |")
        targets_rows.append(("deploy -> first 200 <= 100 ms (warm cache)", f"{med:.0f} ms", med <= 100))
    if restart:
        med = statistics.median(restart)
        lines.append(f"| crashing command pod: trap -> restart, backoff delay subtracted (median of {len(restart)}) "
                     f"| {med:.1f} ms ({', '.join(f'{x:.1f}' for x in restart)}) |")
    if sched:
        s = sched["scheduled_s"]
        lines.append(f"| schedule {sched['count']} pods (Deployment replicas {sched['count']} -> all have spec.nodeName) "
                     f"| {s:.2f} s (all running: {sched['running_s'] or float('nan'):.2f} s) |" if s else
                     f"| schedule {sched['count']} pods | not done within 300 s |")
        targets_rows.append((f"{sched['count']} pods scheduled <= 2 s", f"{s:.2f} s" if s else "timeout", bool(s and s <= 2)))
    for d in density or []:
        per = (d["rss"] - d["rss0"]) / max(d["ready"], 1) / 1024
        lines.append(f"| density: idle HTTP deployments on one worker | {d['ready']:,} of {d['count']:,} running after "
                     f"{d['seconds']:.0f} s; RSS {d['rss'] / 2**20:.0f} MiB ({d['rss0'] / 2**20:.0f} MiB empty, "
                     f"~{per:.0f} KiB per deployment) |")
    big = [d for d in density or [] if d["count"] >= 10000]
    if big:
        d = big[0]
        targets_rows.append(("10,000 idle deployments under 1 GiB RSS", f"{d['rss'] / 2**20:.0f} MiB",
                             d["ready"] >= d["count"] and d["rss"] < 2**30))
    elif density:
        d = density[-1]
        per = (d["rss"] - d["rss0"]) / max(d["ready"], 1)
        projected = d["rss0"] + per * 10000
        targets_rows.append(("10,000 idle deployments under 1 GiB RSS",
                             f"not run (linear projection from {d['count']:,}: {projected / 2**20:.0f} MiB)", None))
    lines += ["", *sections]
    if restart:
        lines += ["", "Trap -> restart: the pod status holds `lastTermination.finishedAt` (the worker's clock when "
                  "the trap surfaced) and `restarting in D ms`; after the restart it holds the new `startTime` (same "
                  "clock). Reported: startTime - finishedAt - D, polled every 2 ms."]
    if not targets_rows:
        return "\n".join(lines) + "\n"
    lines += ["", "## Targets (issue 6)", "", "| target | this run | |", "|---|---|---|"]
    for name, value, ok in targets_rows:
        lines.append(f"| {name} | {value} | {verdict(ok)} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------


class _Done(Exception):
    """A partial run (`--only-burst`) is complete."""


def run_keyvalue(hello: Path, logdir: Path, args) -> dict:
    """get + increment per request on the embedded store and on Redis, against hello."""
    return keyvalue_bench.measure(start_wasmpod, free_port, wait_for, wrk, log, logdir, hello,
                                  TEST_COMPONENTS / "kvtest.wasm", args.rounds, args.duration, args.connections)


def run_oci(hello: Path, logdir: Path, rounds: int) -> dict:
    """Deploy -> first 200 from an OCI reference against the same component uploaded from a file."""
    helpers = (deployment, service, ingress, http_get, wait_for)
    return oci_bench.measure(WASMPOD, start_wasmpod, helpers, logdir, hello, max(rounds, 5), log)


def run_autoscale(hello: Path, logdir: Path) -> dict:
    """The autoscaling rows, with the 13 MB JavaScript sample when it is built."""
    js = ROOT / "sample-services" / "hello-js" / "hello-js.wasm"
    return autoscale_bench.run(WASMPOD.resolve(), logdir, hello, js if js.exists() else None,
                               TEST_COMPONENTS / "misbehave.wasm", 10, log)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--density", default="1000,10000",
                    help="comma-separated counts of idle deployments for the density test (0: skip)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--schedule", type=int, default=1000, help="pods for the scheduling test (0: skip)")
    ap.add_argument("--skip-setup", action="store_true", help="do not install or build anything")
    ap.add_argument("--only-load", action="store_true", help="throughput only")
    ap.add_argument("--burst", type=int, default=2000, help="clients of the burst run (0: skip)")
    ap.add_argument("--only-burst", action="store_true",
                    help="wasmpod only: the throughput run and the burst (no other servers)")
    ap.add_argument("--only-tls", action="store_true", help="only the TLS / HTTP/2 ingress rows")
    ap.add_argument("--only-control-plane", action="store_true",
                    help="only the control-plane rows (sled against etcd, failover)")
    ap.add_argument("--only-node-tls", action="store_true",
                    help="only the cross-node hop over node-to-node TLS against the plain hop")
    ap.add_argument("--only-attacks", action="store_true",
                    help="only hello's latency beside each hostile guest")
    ap.add_argument("--debug-build", action="store_true",
                    help="measure target/debug/wasmpod (the debug build) instead of the release build")
    ap.add_argument("--only-autoscale", action="store_true",
                    help="only the autoscaling rows (scale to zero and back, a load step)")
    ap.add_argument("--only-oci", action="store_true",
                    help="only deploy -> 200 from an OCI registry against a file upload (cold node cache)")
    ap.add_argument("--only-keyvalue", action="store_true",
                    help="only the key-value rows (get + increment per request, embedded and Redis, against hello)")
    ap.add_argument("--compare", action="append", default=[], metavar="LABEL=PATH",
                    help="also measure the wasmpod binary at PATH (e.g. an older commit's release build) in the "
                         "throughput rounds, interleaved with this build's, as 'wasmpod LABEL (fresh instance)'")
    ap.add_argument("--out", type=Path, default=BENCH / "results")
    args = ap.parse_args()
    compares = [parse_compare(c) for c in args.compare]
    global WASMPOD
    if args.debug_build:
        WASMPOD = ROOT / "target" / "debug" / "wasmpod"
        args.skip_setup = True
    here = sys.modules[__name__]

    if not args.skip_setup:
        tls_bench.ensure_h2load(run)
        ensure_wrk()
        ensure_wasmtime()
        build_all()
    hello = SAMPLES / "hello.wasm"
    crasher = TEST_COMPONENTS / "crasher.wasm"
    has_frontend = (SAMPLES / "frontend.wasm").exists() and (ROOT / "sample-services/frontend/deploy.yaml").exists()

    CACHE.mkdir(parents=True, exist_ok=True)
    logdir = Path(tempfile.mkdtemp(prefix="run-", dir=CACHE))
    log(f"logs and data in {logdir}")
    servers: list[Server] = []
    targets: list[Target] = []
    svc = sched = density = cross = burst = tls_rows = node_tls_rows = attack_rows = oci_rows = None
    plane_rows: dict = {}
    autoscale_rows: dict | None = None
    kv_rows = None
    deploy: list[float] = []
    restart: list[float] = []
    try:
        if args.only_tls:
            tls_rows = tls_bench.measure(start_wasmpod, free_port, logdir, hello, args.rounds, log)
            raise _Done()
        if args.only_autoscale:
            autoscale_rows = run_autoscale(hello, logdir)
            raise _Done()
        if args.only_oci:
            oci_rows = run_oci(hello, logdir, args.rounds)
            raise _Done()
        if args.only_keyvalue:
            kv_rows = run_keyvalue(hello, logdir, args)
            raise _Done()
        if args.only_node_tls or args.only_attacks:
            if args.only_node_tls:
                node_tls_rows = node_tls_bench.measure(here, logdir, hello, args.rounds, 1, 5, log)
            if args.only_attacks:
                attack_rows = attacks_bench.measure(here, logdir, hello, TEST_COMPONENTS / "misbehave.wasm",
                                                    args.rounds, 4, 5, log)
            raise _Done()
        if args.only_control_plane:
            plane_rows = control_plane.run(WASMPOD, logdir, hello, args.schedule, log)
            raise _Done()
        if args.only_burst:
            wp, api, ingress_port = start_wasmpod("wasmpod", logdir)
            servers.append(wp)
            api.apply([deployment("hello", api.upload(hello)), service("hello"), ingress("hello", "/hello", "hello")])
            wait_for(ingress_port, "/hello", 60, HELLO_BODY)
            targets = [Target("wasmpod (fresh instance)", wp, ingress_port, "/hello"),
                       *start_compared(compares, logdir, hello, servers)]
            measure_throughput(targets, args.rounds, args.duration, args.connections)
            if args.burst:
                burst = measure_burst(targets[0], args.burst, args.duration)
            raise _Done()
        ax_port, ws_port, wsr_port = free_port(), free_port(), free_port()
        axum = Server("axum", [AXUM, f"127.0.0.1:{ax_port}"], logdir)
        wserve = Server("wasmtime-serve", [WASMTIME, "serve", "-S", "cli=y", "--addr", f"127.0.0.1:{ws_port}", hello], logdir)
        wserve_reuse = Server("wasmtime-serve-reuse", [WASMTIME, "serve", "-S", "cli=y", "--max-instance-reuse-count",
                                                       "1000", "--addr", f"127.0.0.1:{wsr_port}", hello], logdir)
        servers += [axum, wserve, wserve_reuse]
        wp, api, ingress_port = start_wasmpod("wasmpod", logdir)
        servers.append(wp)
        digest = api.upload(hello)
        api.apply([deployment("hello", digest), service("hello"), ingress("hello", "/hello", "hello"),
                   deployment("hello-reuse", digest, instanceReuse={"maxRequests": 1000}), service("hello-reuse"),
                   ingress("hello-reuse", "/reuse", "hello-reuse")])
        if has_frontend:
            run([WASMPOD, "apply", "-f", "sample-services/frontend/deploy.yaml", "--server", api.base], cwd=ROOT,
                stdout=subprocess.DEVNULL)
            front_digest = api.upload(SAMPLES / "frontend.wasm")
            # The same frontend reusing its instance: how much of the call's cost is the
            # frontend's own fresh instance.
            api.apply([ingress("backend-direct", "/items", "backend"),
                       deployment("frontend-reuse", front_digest, instanceReuse={"maxRequests": 1000}),
                       service("frontend-reuse"), ingress("frontend-reuse", "/frontend-reuse", "frontend-reuse")])
        for port, path in ((ax_port, "/hello"), (ws_port, "/hello"), (wsr_port, "/hello"),
                           (ingress_port, "/hello"), (ingress_port, "/reuse")):
            wait_for(port, path, 60, HELLO_BODY)
        targets = [
            Target("axum (native)", axum, ax_port, "/hello"),
            Target("wasmtime serve (defaults)", wserve, ws_port, "/hello"),
            Target("wasmtime serve --max-instance-reuse-count 1000", wserve_reuse, wsr_port, "/hello"),
            Target("wasmpod (fresh instance)", wp, ingress_port, "/hello"),
            Target("wasmpod (instanceReuse 1000)", wp, ingress_port, "/reuse"),
            *start_compared(compares, logdir, hello, servers),
        ]
        measure_throughput(targets, args.rounds, args.duration, args.connections)
        if args.burst:
            burst = measure_burst(targets[3], args.burst, args.duration)

        if not args.only_load:
            if has_frontend:
                wait_for(ingress_port, "/frontend", 60)
                wait_for(ingress_port, "/items", 60)
                wait_for(ingress_port, "/frontend-reuse", 60)
                front, back, front_reuse = [], [], []
                for r in range(args.rounds):
                    front.append(wrk(ingress_port, "/frontend", 1, 5, wp))
                    back.append(wrk(ingress_port, "/items", 1, 5, wp))
                    front_reuse.append(wrk(ingress_port, "/frontend-reuse", 1, 5, wp))
                    log(f"service call round {r + 1}: frontend p50 {front[-1].p50_us:.0f} us, "
                        f"backend direct p50 {back[-1].p50_us:.0f} us, "
                        f"frontend reusing its instance p50 {front_reuse[-1].p50_us:.0f} us")
                fp = statistics.median(s.p50_us for s in front)
                bp = statistics.median(s.p50_us for s in back)
                rp = statistics.median(s.p50_us for s in front_reuse)
                svc = {"frontend_p50": fp, "backend_p50": bp, "delta_us": fp - bp, "reuse_p50": rp}
            else:
                log("n/a (no frontend sample)")
            deploy = measure_deploy(api, ingress_port, digest)
            if has_frontend:
                try:
                    cross = measure_cross_node(logdir, args.rounds)
                except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
                    log(f"cross-node measurement failed: {e}")
            restart = measure_restart(api, api.upload(crasher))
        for s in servers:
            s.stop()
        servers = []
        if not args.only_load:
            tls_rows = tls_bench.measure(start_wasmpod, free_port, logdir, hello, args.rounds, log)
            node_tls_rows = node_tls_bench.measure(here, logdir, hello, args.rounds, 1, 5, log)
            attack_rows = attacks_bench.measure(here, logdir, hello, TEST_COMPONENTS / "misbehave.wasm",
                                                args.rounds, 4, 5, log)
            plane_rows = control_plane.run(WASMPOD, logdir, hello, args.schedule, log)
            autoscale_rows = run_autoscale(hello, logdir)
            oci_rows = run_oci(hello, logdir, args.rounds)
            kv_rows = run_keyvalue(hello, logdir, args)
        for s in servers:
            s.stop()
        servers = []
        if not args.only_load:
            if args.schedule:
                sched = measure_schedule(logdir, hello, args.schedule)
            counts = [int(c) for c in args.density.split(",") if int(c) > 0]
            density = [measure_density(logdir, hello, c) for c in counts]
    except _Done:
        pass
    finally:
        for s in servers:
            s.stop()

    sections = [*tls_bench.report(tls_rows), *node_tls_bench.report(node_tls_rows, fmt_us),
                *attacks_bench.report(attack_rows, fmt_us), *control_plane.report(plane_rows),
                *autoscale_bench.report(autoscale_rows),
                *oci_bench.report(oci_rows, "target/debug/wasmpod" if args.debug_build else "the release build"),
                *keyvalue_bench.report(kv_rows, "target/debug/wasmpod" if args.debug_build else "release")]
    if args.debug_build:
        sections = ["Measured with the DEBUG build (target/debug/wasmpod): absolute numbers are far from a "
                    "release build's; the ratios within the run are what the rows are for.", "", *sections]
    text = report(args, targets, svc, deploy, restart, sched, density, cross, burst, sections)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    sha = sh(["git", "rev-parse", "--short", "HEAD"]) or "nogit"
    out = args.out / f"{dt.date.today().isoformat()}-{sha}.md"
    out.write_text(text)
    log(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    shutil.rmtree(logdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
