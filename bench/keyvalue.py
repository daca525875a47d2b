"""Key-value rows of `just bench` (`--only-keyvalue` runs just these): a guest doing one
`wasi:keyvalue` `get` and one `increment` per request (tests/components/kvtest, `/visit`) on the
embedded store and on a Redis store (a `redis-server` started here on a free loopback port, no
persistence), against the hello component's req/s in the same run and through the same node,
interleaved, median of the rounds.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
from pathlib import Path

NS_REDIS = "kvbench-redis"


def _redis(logdir: Path, port: int) -> subprocess.Popen:
    if not shutil.which("redis-server"):
        raise RuntimeError("redis-server is missing: `just deps` installs Debian's redis-server")
    log = open(logdir / "redis.log", "wb")
    return subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(logdir),
                             "--save", "", "--appendonly", "no"], stdout=log, stderr=subprocess.STDOUT)


def _objects(namespace: str | None, name: str, digest: str, path: str, store_spec: dict | None) -> list[dict]:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    template_spec = {"component": digest, **({"keyValueStores": ["default"]} if store_spec else {})}
    objects = []
    if namespace:
        objects.append({"apiVersion": "wasmpod.dev/v1", "kind": "Namespace", "metadata": {"name": namespace}})
    if store_spec:
        store_meta = {"name": "default", **({"namespace": namespace} if namespace else {})}
        objects.append({"apiVersion": "wasmpod.dev/v1", "kind": "KeyValueStore", "metadata": store_meta,
                        "spec": store_spec})
    objects += [
        {"apiVersion": "wasmpod.dev/v1", "kind": "Deployment", "metadata": {**meta, "labels": {"app": name}},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                  "template": {"metadata": {"labels": {"app": name}}, "spec": template_spec}}},
        {"apiVersion": "wasmpod.dev/v1", "kind": "Service", "metadata": meta, "spec": {"selector": {"app": name}}},
        {"apiVersion": "wasmpod.dev/v1", "kind": "Ingress", "metadata": meta,
         "spec": {"rules": [{"http": {"paths": [{"path": path, "backend": {"service": name}}]}}]}},
    ]
    return objects


def measure(start_wasmpod, free_port, wait_for, wrk, log, logdir: Path, hello: Path, kvtest: Path,
            rounds: int, seconds: int, connections: int) -> dict:
    """Samples (req/s, p50, CPU/request) per row over `rounds` interleaved rounds."""
    redis_port = free_port()
    redis = _redis(logdir, redis_port)
    server, api, ingress_port = start_wasmpod("keyvalue", logdir)
    try:
        hello_digest, kv_digest = api.upload(hello), api.upload(kvtest)
        api.apply(_objects(None, "hello", hello_digest, "/hello", None)
                  + _objects(None, "kv-embedded", kv_digest, "/visit/embedded", {"embedded": {}})
                  + _objects(NS_REDIS, "kv-redis", kv_digest, "/visit/redis",
                             {"redis": {"url": f"redis://127.0.0.1:{redis_port}/0"}}))
        rows = {"hello (no key-value)": "/hello", "get + increment, embedded": "/visit/embedded",
                "get + increment, Redis": "/visit/redis"}
        for path in rows.values():
            wait_for(ingress_port, path, 60)
        samples: dict[str, list] = {name: [] for name in rows}
        for name, path in rows.items():
            wrk(ingress_port, path, connections, 2, server)
        for r in range(rounds):
            for name, path in rows.items():
                samples[name].append(wrk(ingress_port, path, connections, seconds, server))
            log(f"key-value round {r + 1}: " + ", ".join(f"{n} {s[-1].rps:,.0f} req/s" for n, s in samples.items()))
        return {"samples": samples, "connections": connections, "seconds": seconds}
    finally:
        server.stop()
        redis.terminate()
        try:
            redis.wait(timeout=10)
        except subprocess.TimeoutExpired:
            redis.kill()


def report(rows: dict | None, build: str) -> list[str]:
    if not rows:
        return []
    samples = rows["samples"]

    def med(name: str, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in samples[name])

    base = med("hello (no key-value)", "rps")
    lines = ["## Key-value (same run)", "",
             f"`wrk -t1 -c{rows['connections']} -d{rows['seconds']}s` through one node's ingress, fresh instance per "
             "request; the key-value rows do one `get` and one `increment` (wasi:keyvalue) per request "
             "(tests/components/kvtest `/visit`). Embedded: a sled tree in the node's data directory, every write "
             "flushed before it is acknowledged. Redis: a local `redis-server` without persistence. "
             f"Median of the rounds; ratio to hello. wasmpod build: {build}.", "",
             "| row | req/s | ratio | p50 | server CPU / req | errors | rounds (req/s) |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for name, values in samples.items():
        rps = med(name, "rps")
        lines.append(f"| {name} | {rps:,.0f} | {rps / base:.2f} | {med(name, 'p50_us'):.0f} µs "
                     f"| {med(name, 'cpu_us_per_req'):.0f} µs | {sum(s.errors for s in values)} "
                     f"| {', '.join(f'{s.rps:,.0f}' for s in values)} |")
    lines.append("")
    return lines
