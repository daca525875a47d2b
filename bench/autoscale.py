"""Autoscaling rows of `just bench` (`bench.py --only-autoscale`): scale to zero and back, and a
load step served by the replicas the autoscaler adds.

- first request to a service scaled to zero -> 200, warm compile cache, p50 of N wake-ups, for
  the Rust `hello` and for the 13 MB JavaScript component (sample-services/hello-js), each as a
  ratio to a warm request to the same service measured in the same run;
- a load step from 1 to 200 concurrent clients: time until the replicas the autoscaler asks for
  are ready and serving, as a ratio to the same scale done by hand (`scale --replicas`) in the
  same run, and the requests that failed during the step (there must be none).

Every row is measured against its baseline in the same run, because the machine is shared and
noisy. Standard library only.
"""

from __future__ import annotations

import calendar
import http.client
import json
import statistics
import threading
import time
from pathlib import Path

import wasmpod_api
from procs import Process, free_port

STEP_CLIENTS = 200
STEP_TARGET = 10  # in-flight requests per pod: 200 clients -> 20 replicas
STEP_HOLD_MS = 100


class Api(wasmpod_api.Api):
    def __init__(self, port: int):
        super().__init__(port, timeout=120)

    def deployment(self, name: str) -> dict:
        return self.call("GET", f"/api/v1/deployments/{name}")

    def scale(self, name: str, replicas: int) -> None:
        self.call("POST", f"/api/v1/deployments/{name}/scale", json.dumps({"replicas": replicas}).encode())

    def ready_pods(self, app: str) -> int:
        return sum(1 for p in self.pods(f"app={app}") if p.get("status", {}).get("ready"))

    def pod_count(self, app: str) -> int:
        return len(self.pods(f"app={app}"))


def app(name: str, digest: str, path: str, replicas: int = 1, env: list | None = None) -> list[dict]:
    spec = {"component": digest, **({"env": env} if env else {})}
    return [
        {"apiVersion": "wasmpod.dev/v1", "kind": "Deployment", "metadata": {"name": name},
         "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                  "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}},
        {"apiVersion": "wasmpod.dev/v1", "kind": "Service", "metadata": {"name": name},
         "spec": {"selector": {"app": name}}},
        {"apiVersion": "wasmpod.dev/v1", "kind": "Ingress", "metadata": {"name": name},
         "spec": {"rules": [{"http": {"paths": [{"path": path, "backend": {"service": name}}]}}]}},
    ]


def hpa(name: str, minimum: int, maximum: int, target: int, **spec) -> dict:
    return {"apiVersion": "wasmpod.dev/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": name},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": name}, "minReplicas": minimum,
                     "maxReplicas": maximum, "metrics": [{"type": "Concurrency", "target": target}], **spec}}


def get(port: int, path: str, timeout: float = 60) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except OSError:
        return 0
    finally:
        conn.close()


def wait(what: str, check, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def timed_get(port: int, path: str) -> tuple[int, float]:
    start = time.perf_counter()
    status = get(port, path)
    return status, (time.perf_counter() - start) * 1000


def first_requests(api: Api, port: int, name: str, path: str, runs: int, log) -> dict:
    """p50 of `runs` first requests to `name` at zero, against warm requests in the same run."""
    cold, warm = [], []
    for r in range(runs):
        wait(f"{name} at zero", lambda: api.deployment(name)["spec"]["replicas"] == 0 and api.pod_count(name) == 0)
        status, ms = timed_get(port, path)
        if status != 200:
            raise RuntimeError(f"first request to {name} at zero answered {status}")
        cold.append(ms)
        for _ in range(5):
            status, ms = timed_get(port, path)
            if status == 200:
                warm.append(ms)
        log(f"{name}: first request at zero {cold[-1]:.1f} ms, warm {statistics.median(warm[-5:]):.1f} ms "
            f"(wake-up {r + 1}/{runs})")
    c, w = statistics.median(cold), statistics.median(warm)
    return {"cold_p50_ms": c, "warm_p50_ms": w, "ratio": c / w if w else None, "runs": runs}


def load_step(api: Api, port: int, log) -> dict:
    """1 client, then 200: time to the autoscaler's first decision and until the replicas it asks
    for are ready, against the same scale done by hand in the same run."""
    name, path = "step", f"/count?hold_ms={STEP_HOLD_MS}"
    most = STEP_CLIENTS // STEP_TARGET
    api.apply([hpa(name, 1, most, STEP_TARGET, behavior={"scaleDown": {"stabilizationWindowSeconds": 600}})])
    stop = threading.Event()
    errors, served = [0], [0]
    lock = threading.Lock()

    def client() -> None:
        while not stop.is_set():
            status = get(port, path)
            with lock:
                if status == 200:
                    served[0] += 1
                else:
                    errors[0] += 1

    one = threading.Thread(target=client)
    one.start()
    time.sleep(3)
    start, start_wall = time.perf_counter(), time.time()
    threads = [threading.Thread(target=client) for _ in range(STEP_CLIENTS - 1)]
    for t in threads:
        t.start()
    first_decision_ms = None
    try:
        def scaled() -> bool:
            nonlocal first_decision_ms
            status = api.call("GET", f"/api/v1/horizontalpodautoscalers/{name}").get("status", {})
            decisions = [d for d in status.get("lastDecisions", []) if d["to"] > d["from"]]
            if decisions and first_decision_ms is None:
                stamp = decisions[0]["time"]
                at = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
                at += float("0." + (stamp[20:].rstrip("Z")[:6] or "0"))
                first_decision_ms = max(0.0, (at - start_wall) * 1000)
            desired = status.get("desiredReplicas", 1)
            return desired >= most // 2 and api.ready_pods(name) >= desired
        wait("the autoscaled replicas ready", scaled, timeout=180)
        auto_ms = (time.perf_counter() - start) * 1000
        replicas = api.deployment(name)["spec"]["replicas"]
        time.sleep(2)
    finally:
        stop.set()
        for t in [one, *threads]:
            t.join()
    # Baseline: the same scale by hand, with the autoscaler gone.
    api.call("DELETE", f"/api/v1/horizontalpodautoscalers/{name}")
    api.scale(name, 1)
    wait("step back at 1", lambda: api.pod_count(name) == 1 and api.ready_pods(name) == 1)
    start = time.perf_counter()
    api.scale(name, replicas)
    wait(f"{replicas} ready by hand", lambda: api.ready_pods(name) >= replicas)
    manual_ms = (time.perf_counter() - start) * 1000
    log(f"load step 1 -> {STEP_CLIENTS} clients: first decision after {first_decision_ms or 0:.0f} ms, "
        f"{replicas} replicas ready in {auto_ms:.0f} ms (by hand {manual_ms:.0f} ms), "
        f"{served[0]} served, {errors[0]} failed")
    return {"auto_ms": auto_ms, "manual_ms": manual_ms, "ratio": auto_ms / manual_ms if manual_ms else None,
            "first_decision_ms": first_decision_ms, "replicas": replicas, "served": served[0], "errors": errors[0]}


def run(wasmpod: Path, logdir: Path, hello: Path, hello_js: Path | None, misbehave: Path, runs: int, log) -> dict:
    api_port, ingress_port = free_port(), free_port()
    server = Process("wasmpod-autoscale", [wasmpod, "up", "--data-dir", logdir / "autoscale-data",
                                           "--api-addr", f"127.0.0.1:{api_port}",
                                           "--ingress-addr", f"127.0.0.1:{ingress_port}"], logdir)
    rows: dict = {"binary": str(wasmpod)}
    try:
        wait("the API", lambda: get(api_port, "/healthz") == 200, 60)
        api = Api(api_port)
        zero = {"scaleToZeroAfterSeconds": 1, "behavior": {"scaleDown": {"stabilizationWindowSeconds": 1}}}
        hello_digest = api.upload(hello)
        objects = [*app("hello", hello_digest, "/hello"), hpa("hello", 0, 3, 10, **zero),
                   # misbehave's routes are absolute (/ok, /count): its rule is the catch-all.
                   *app("step", api.upload(misbehave), "/")]
        if hello_js is not None:
            # Its upstream stays up: the row is the JavaScript component's own wake-up.
            objects += [*app("upstream", hello_digest, "/upstream"),
                        *app("hello-js", api.upload(hello_js), "/js",
                             env=[{"name": "UPSTREAM", "value": "http://upstream/hello"}]),
                        hpa("hello-js", 0, 3, 10, **zero)]
        api.apply(objects)
        # Warm the compile cache: each component has served once before it goes to zero.
        wait("hello", lambda: get(ingress_port, "/hello") == 200)
        rows["hello"] = first_requests(api, ingress_port, "hello", "/hello", runs, log)
        if hello_js is not None:
            wait("hello-js", lambda: get(ingress_port, "/js") == 200, 180)
            rows["hello_js"] = first_requests(api, ingress_port, "hello-js", "/js", runs, log)
        wait("step", lambda: get(ingress_port, "/ok") == 200)
        try:
            rows["step"] = load_step(api, ingress_port, log)
        except RuntimeError as e:
            log(f"load step failed: {e}")
            rows["step_error"] = str(e)
    finally:
        server.stop()
    return rows


def report(rows: dict | None) -> list[str]:
    if not rows:
        return []
    lines = ["", "## Autoscaling", "",
             f"Binary: `{rows['binary']}` (the debug build: no release build of the workspace on the shared "
             "disk; absolute times are the debug build's, the ratios compare like with like). Run: "
             "`python3 bench/bench.py --only-autoscale --skip-setup --wasmpod target/debug/wasmpod`.", "",
             "| row | measured | baseline (same run) | ratio | target |", "|---|---|---|---|---|"]
    for key, label in (("hello", "first request at zero -> 200, hello (Rust)"),
                       ("hello_js", "first request at zero -> 200, hello-js (13 MB JavaScript)")):
        r = rows.get(key)
        if r:
            lines.append(f"| {label}, p50 of {r['runs']} | {r['cold_p50_ms']:.1f} ms | warm request "
                         f"{r['warm_p50_ms']:.1f} ms | {r['ratio']:.1f}x | <= 50 ms |")
    s = rows.get("step")
    if s:
        lines.append(f"| load step 1 -> {STEP_CLIENTS} clients: the autoscaler's first scale-up decision | "
                     f"{s['first_decision_ms'] or 0:.0f} ms after the step | (1 s period) | | react within 2 s |")
        lines.append(f"| load step 1 -> {STEP_CLIENTS} clients: {s['replicas']} autoscaled replicas ready | "
                     f"{s['auto_ms']:.0f} ms | `scale --replicas {s['replicas']}` by hand {s['manual_ms']:.0f} ms | "
                     f"{s['ratio']:.2f}x | |")
        lines.append(f"| requests during the step | {s['served']} served, {s['errors']} failed | | | 0 failed |")
    if rows.get("step_error"):
        lines.append(f"| load step | failed: {rows['step_error']} | | | |")
    return lines
