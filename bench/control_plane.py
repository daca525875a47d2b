"""Control-plane rows of `just bench`: the object store under load, sled against etcd, and the
controllers' failover between API servers on one etcd.

Every row is measured against its baseline in the same run (sled for the store rows), because
the machine is shared and noisy. Servers are real `wasmpod server` / `wasmpod worker` processes
and a real etcd (Debian's etcd-server), on free loopback ports with temporary data dirs.
"""

from __future__ import annotations

import http.client
import json
import shutil
import statistics
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from procs import Process, free_port

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


def start_etcd(logdir: Path, name: str = "etcd") -> tuple[Process, str]:
    """One etcd member on loopback; returns it and its client URL."""
    client, peer = free_port(), free_port()
    data = logdir / f"{name}-data"
    proc = Process(name, [ETCD, "--name", name, "--data-dir", data,
                       "--listen-client-urls", f"http://127.0.0.1:{client}",
                       "--advertise-client-urls", f"http://127.0.0.1:{client}",
                       "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                       "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                       "--initial-cluster", f"{name}=http://127.0.0.1:{peer}",
                       "--initial-cluster-token", f"wasmpod-bench-{client}",
                       # wasmpod commits a batch (an apply, a scheduler pass) as one transaction.
                       "--max-txn-ops", "100000", "--max-request-bytes", "33554432",
                       "--log-level", "warn"], logdir)
    url = f"http://127.0.0.1:{client}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if b"true" in resp.read():
                    return proc, url
        except OSError:
            pass
        time.sleep(0.1)
    proc.stop()
    raise RuntimeError(f"etcd did not become healthy: see {proc.log_path}")


class Api:
    """The wasmpod HTTP API with the admin token."""

    def __init__(self, base: str, token: str):
        self.base = base
        self.token = token

    def call(self, method: str, path: str, body: bytes | None = None, ctype: str = "application/json"):
        headers = {"authorization": f"Bearer {self.token}"}
        if body is not None:
            headers["content-type"] = ctype
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read() or b"null")

    def apply(self, objects: list[dict]) -> None:
        self.call("POST", "/api/v1/apply", json.dumps({"objects": objects}).encode())


@dataclass
class ServerProc:
    proc: Process
    api: Api
    data_dir: Path


def start_server(wasmpod: Path, logdir: Path, name: str, store: str | None,
                 shared: Path | None = None, prefix: str | None = None) -> ServerProc:
    """`wasmpod server` on a free port, on sled (store None) or `--store etcd://...` (under the key
    prefix `prefix`, so runs on one etcd do not see each other). Servers of one cluster share
    `shared`'s tokens and encryption key (copied into each data dir), as the README says."""
    data = logdir / f"{name}-data"
    data.mkdir(parents=True, exist_ok=True)
    if shared is not None:
        for file in ("tokens.yaml", "secrets.key"):
            if (shared / file).exists():
                shutil.copy2(shared / file, data / file)
    cmd = [wasmpod, "server", "--data-dir", data, "--api-addr", f"127.0.0.1:{free_port()}",
           "--no-client-config", "--node-grace-ms", "3000", "--name", name, "--insecure-http"]
    if store:
        cmd += ["--store", store]
    if prefix:
        cmd += ["--store-prefix", prefix]
    proc = Process(name, cmd, logdir)
    base = proc.wait_line("API: ")
    tokens = (data / "tokens.yaml").read_text()
    admin = next(line.split(":", 1)[1].strip().strip("'\"") for line in tokens.splitlines()
                 if line.startswith("admin:"))
    return ServerProc(proc, Api(base, admin), data)


def configmap(name: str, value: str) -> dict:
    return {"apiVersion": "wasmpod.dev/v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"value": value}}


def measure_apply(api: Api, count: int = 500, clients: int = 8, tag: str = "a") -> float:
    """`count` small objects, one apply request each, from `clients` concurrent clients: objects/s."""
    names = [f"bench-{tag}-{i}" for i in range(count)]
    errors: list[BaseException] = []

    def worker(part: list[str]) -> None:
        try:
            for n in part:
                api.apply([configmap(n, n)])
        except BaseException as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(names[i::clients],)) for i in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} apply requests failed, first: {errors[0]}")
    return count / elapsed


def measure_watch_latency(api: Api, writes: int = 200) -> tuple[float, float]:
    """Write one ConfigMap at a time and time until its event arrives on a watch: p50, p99 in ms."""
    listing = api.call("GET", "/api/v1/configmaps")
    host, port = api.base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("GET", f"/api/v1/configmaps?watch=true&revision={listing['revision']}",
                 headers={"authorization": f"Bearer {api.token}"})
    stream = conn.getresponse()
    if stream.status != 200:
        raise RuntimeError(f"watch answered {stream.status}")
    latencies = []
    try:
        for i in range(writes):
            name = f"watched-{i}"
            t0 = time.monotonic()
            api.apply([configmap(name, str(i))])
            while True:
                line = stream.readline()
                if not line:
                    raise RuntimeError("the watch stream ended")
                event = json.loads(line)
                if (event.get("object") or {}).get("metadata", {}).get("name") == name:
                    break
            latencies.append((time.monotonic() - t0) * 1e3)
    finally:
        conn.close()
    latencies.sort()
    return statistics.median(latencies), latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]


def start_worker(wasmpod: Path, logdir: Path, server: ServerProc, name: str, pods: int) -> Process:
    token_file = server.data_dir / "join-token"
    proc = Process(f"worker-{name}", [wasmpod, "worker", "--join", server.api.base, "--token-file", token_file,
                                   "--name", name, "--gateway-addr", "127.0.0.1:0",
                                   "--capacity", f"pods={pods}", "--data-dir", logdir / f"node-{name}"], logdir)
    proc.wait_line("gateway: ")
    return proc


def measure_schedule(wasmpod: Path, logdir: Path, hello: Path, store: str | None, count: int, tag: str) -> float:
    """Seconds from applying a `count`-replica Deployment to every pod bound to a node."""
    server = start_server(wasmpod, logdir, f"schedule-{tag}", store, prefix=f"/schedule-{tag}/")
    worker = None
    try:
        worker = start_worker(wasmpod, logdir, server, f"sched-{tag}", count + 100)
        digest = server.api.call("POST", "/api/v1/blobs", hello.read_bytes(), "application/wasm")["digest"]
        t0 = time.monotonic()
        server.api.apply([{
            "apiVersion": "wasmpod.dev/v1", "kind": "Deployment",
            "metadata": {"name": "many"},
            "spec": {"replicas": count, "selector": {"matchLabels": {"app": "many"}},
                     "template": {"metadata": {"labels": {"app": "many"}}, "spec": {"component": digest}}},
        }])
        while time.monotonic() - t0 < 300:
            pods = server.api.call("GET", "/api/v1/pods")["items"]
            if sum(1 for p in pods if p["spec"].get("nodeName")) >= count:
                return time.monotonic() - t0
            time.sleep(0.05)
        raise RuntimeError(f"{count} pods were not scheduled within 300 s ({tag})")
    finally:
        if worker:
            worker.stop()
        server.proc.stop()


def measure_failover(wasmpod: Path, logdir: Path, hello: Path, etcd_url: str, rounds: int = 3) -> list[float]:
    """Three servers on one etcd. Kill -9 the server holding the controllers' lease, scale a
    Deployment through a survivor at once, and time until a controller acts on it (a pod is made)."""
    results = []
    for r in range(rounds):
        store = f"etcd://{etcd_url.removeprefix('http://')}"
        prefix = f"/failover-{r}/"
        first = start_server(wasmpod, logdir, f"ha{r}-0", store, prefix=prefix)
        servers = [first] + [start_server(wasmpod, logdir, f"ha{r}-{i}", store, shared=first.data_dir,
                                          prefix=prefix) for i in (1, 2)]
        try:
            api = servers[0].api
            digest = api.call("POST", "/api/v1/blobs", hello.read_bytes(), "application/wasm")["digest"]
            for s in servers[1:]:
                s.api.call("POST", "/api/v1/blobs", hello.read_bytes(), "application/wasm")
            holder = wait_leader(api, len(servers))
            leader = next(s for s in servers if s.proc.name == holder)
            survivor = next(s for s in servers if s is not leader)
            survivor.api.apply([{
                "apiVersion": "wasmpod.dev/v1", "kind": "Deployment", "metadata": {"name": "watched"},
                "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "watched"}},
                         "template": {"metadata": {"labels": {"app": "watched"}}, "spec": {"component": digest}}},
            }])
            leader.proc.kill9()
            t0 = time.monotonic()
            survivor.api.call("POST", "/api/v1/deployments/watched/scale", json.dumps({"replicas": 1}).encode())
            while time.monotonic() - t0 < 60:
                pods = survivor.api.call("GET", "/api/v1/pods")["items"]
                if any(p["metadata"]["name"].startswith("watched-") for p in pods):
                    break
                time.sleep(0.02)
            else:
                raise RuntimeError("no controller acted within 60 s of the leader's kill")
            results.append(time.monotonic() - t0)
        finally:
            for s in servers:
                s.proc.stop()
    return results


def wait_leader(api: Api, servers: int, timeout: float = 30) -> str:
    """The name of the server holding the controllers' lease (`GET /api/v1/cluster`: `leader`
    with `holder`, `url`, `since`; `servers` with every live server), once all `servers` are live."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = api.call("GET", "/api/v1/cluster")
        holder = (info.get("leader") or {}).get("holder")
        if holder and len(info.get("servers") or []) == servers:
            return holder
        time.sleep(0.1)
    raise RuntimeError("no server holds the controllers' lease")


def run(wasmpod: Path, logdir: Path, hello: Path, schedule: int, log) -> dict:
    """Every control-plane row; returns the figures for the report."""
    etcd, etcd_url = start_etcd(logdir)
    store = f"etcd://{etcd_url.removeprefix('http://')}"
    rows: dict = {}
    try:
        for tag, backend in (("sled", None), ("etcd", store)):
            server = start_server(wasmpod, logdir, f"store-{tag}", backend, prefix=backend and "/store/")
            try:
                rows[f"apply_{tag}"] = measure_apply(server.api, tag=tag)
                rows[f"watch_{tag}"] = measure_watch_latency(server.api)
            finally:
                server.proc.stop()
            p50, p99 = rows[f"watch_{tag}"]
            log(f"{tag}: apply {rows[f'apply_{tag}']:.0f} objects/s; write->watch p50 {p50:.2f} ms p99 {p99:.2f} ms")
        if schedule:
            for tag, backend in (("sled", None), ("etcd", store)):
                rows[f"schedule_{tag}"] = measure_schedule(wasmpod, logdir, hello, backend, schedule, tag)
                log(f"{tag}: {schedule} pods scheduled in {rows[f'schedule_{tag}']:.2f} s")
        rows["failover"] = measure_failover(wasmpod, logdir, hello, etcd_url)
        log(f"failover after kill -9 of the leader: {', '.join(f'{s:.2f} s' for s in rows['failover'])}")
    finally:
        etcd.stop()
    rows["schedule_count"] = schedule
    return rows


def report(rows: dict) -> list[str]:
    """The control-plane section of the results file."""
    if not rows:
        return []
    lines = ["## Control plane: sled against a single-member etcd (same run)", "",
             "| row | sled | etcd | etcd / sled |", "|---|---|---|---|"]
    a_s, a_e = rows["apply_sled"], rows["apply_etcd"]
    lines.append(f"| apply, 500 objects from 8 clients (objects/s) | {a_s:.0f} | {a_e:.0f} | {a_e / a_s:.2f} |")
    (s50, s99), (e50, e99) = rows["watch_sled"], rows["watch_etcd"]
    lines.append(f"| write -> watch event p50 (ms) | {s50:.2f} | {e50:.2f} | {e50 / s50:.2f} |")
    lines.append(f"| write -> watch event p99 (ms) | {s99:.2f} | {e99:.2f} | {e99 / s99:.2f} |")
    if rows.get("schedule_sled"):
        n = rows["schedule_count"]
        ss, se = rows["schedule_sled"], rows["schedule_etcd"]
        lines.append(f"| {n} pods scheduled (s) | {ss:.2f} | {se:.2f} | {se / ss:.2f} |")
    lines.append("")
    f = rows.get("failover") or []
    if f:
        lines.append(f"Controllers failover after `kill -9` of the leading server (three servers, one etcd), "
                     f"kill to a controller acting on a scale: median {statistics.median(f):.2f} s, "
                     f"max {max(f):.2f} s over {len(f)} rounds (target ≤ 5 s).")
        lines.append("")
    return lines
