"""Hello's latency while a hostile guest on the same node attacks (`--only-attacks`).

One `wasmpod up` runs hello and the hostile guests of tests/e2e/hostile_guests.rs and limits.rs
(the test component `misbehave`, with a 64 MiB memory limit and a 1 s request deadline; a second
copy with a 120 s deadline streams the 1 GiB response). For each attack, the same
`wrk -t1 -cC --latency` load on hello runs while the attack runs, interleaved with hello alone, for
R rounds; reported: hello's p99 and max during each attack, as ratios to hello alone (medians of
the rounds). The attack that links a missing import has no load: its pod never starts.
"""

from __future__ import annotations

import http.client
import re
import statistics
import subprocess
import threading
import time
from pathlib import Path


def get(port: int, path: str, timeout: float) -> None:
    """One GET, the body read to its end; errors are the attack's business."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", path)
        resp = conn.getresponse()
        while resp.read(1 << 16):
            pass
        conn.close()
    except (OSError, http.client.HTTPException):
        time.sleep(0.01)


def repeat(port: int, path: str, timeout: float, workers: int):
    """`workers` threads each calling `path` back to back until stopped."""
    def start(stop: threading.Event) -> list[threading.Thread]:
        def loop():
            while not stop.is_set():
                get(port, path, timeout)
        return [threading.Thread(target=loop, daemon=True) for _ in range(workers)]
    return start


def flood(port: int, clients: int = 1000):
    """`clients` keep-alive connections, each with one `/count?hold_ms=200` in flight at a time
    (the pod holds each instance 200 ms): far more than the pod's instance pool."""
    def start(stop: threading.Event) -> list[threading.Thread]:
        def loop():
            while not stop.is_set():
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                    while not stop.is_set():
                        conn.request("GET", "/count?hold_ms=200")
                        conn.getresponse().read()
                except (OSError, http.client.HTTPException):
                    time.sleep(0.05)
        return [threading.Thread(target=loop, daemon=True) for _ in range(clients)]
    return start


def attacks(port: int) -> dict:
    return {
        "memory bomb (/alloc, 64 MiB limit), 2 clients": repeat(port, "/alloc", 30, 2),
        "infinite loop (/loop, 1 s deadline), 2 clients": repeat(port, "/loop", 30, 2),
        "unbounded recursion (/recurse), 2 clients": repeat(port, "/recurse", 30, 2),
        "1 GiB streamed response (/stream?mib=1024), 1 client": repeat(port, "/stream?mib=1024", 120, 1),
        "flood: 1,000 concurrent requests (/count?hold_ms=200)": flood(port),
    }


def wrk_max_us(b, out: str) -> float:
    m = re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", out, re.M)
    return b.parse_duration_us(m.group(1)) if m else float("nan")


def hello_load(b, port: int, connections: int, seconds: int) -> dict:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                          f"http://127.0.0.1:{port}/hello"], capture_output=True, text=True, check=True).stdout
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in m.groups())
    return {"p50": b.parse_duration_us(lat["50"]), "p99": b.parse_duration_us(lat["99"]),
            "max": wrk_max_us(b, out), "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "errors": errors}


def measure(b, logdir: Path, hello: Path, misbehave: Path, rounds: int, connections: int, seconds: int,
            log) -> dict:
    server, api, port = b.start_wasmpod("attacks", logdir)
    try:
        bad = api.upload(misbehave)
        api.apply([
            b.deployment("hello", api.upload(hello)), b.service("hello"), b.ingress("hello", "/hello", "hello"),
            b.deployment("misbehave", bad, requestTimeoutSeconds=1, resources={"limits": {"memory": "64Mi"}}),
            b.service("misbehave"), b.ingress("misbehave", "/", "misbehave"),
            b.deployment("streamer", bad, requestTimeoutSeconds=120), b.service("streamer"),
            b.ingress("streamer", "/stream", "streamer"),
        ])
        b.wait_for(port, "/hello", 60, b.HELLO_BODY)
        b.wait_for(port, "/ok", 60)
        b.wait_for(port, "/stream?mib=1", 60)
        hello_load(b, port, connections, 2)
        runs = attacks(port)
        samples: dict[str, list[dict]] = {"hello alone": [], **{name: [] for name in runs}}
        for r in range(rounds):
            samples["hello alone"].append(hello_load(b, port, connections, seconds))
            for name, start in runs.items():
                stop = threading.Event()
                threads = start(stop)
                for t in threads:
                    t.start()
                time.sleep(1)  # the attack under way before hello is measured
                samples[name].append(hello_load(b, port, connections, seconds))
                stop.set()
                for t in threads:
                    t.join(timeout=130)
                # Let the node settle (a deadline or a stream in flight) before the next one.
                time.sleep(1)
            log(f"attacks round {r + 1}: " + ", ".join(
                f"{n}: p99 {v[-1]['p99']:.0f} us max {v[-1]['max']:.0f} us" for n, v in samples.items()))
        return {"samples": samples, "connections": connections, "seconds": seconds}
    finally:
        server.stop()


def report(rows: dict | None, fmt_us) -> list[str]:
    if not rows:
        return []
    samples = rows["samples"]

    def med(name: str, key: str) -> float:
        return statistics.median(s[key] for s in samples[name])

    base_p99, base_max = med("hello alone", "p99"), med("hello alone", "max")
    lines = ["## Hello beside hostile guests (same run)", "",
             f"hello on the same node as the attacker; `wrk -t1 -c{rows['connections']} -d{rows['seconds']}s "
             "--latency` on hello during each attack and alone, interleaved; median of the rounds; ratios to hello "
             "alone. The link-error guest has no load (its pod never starts).", "",
             "| during | hello p50 | hello p99 | p99 ratio | hello max | max ratio | hello req/s | hello errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, values in samples.items():
        p99, mx = med(name, "p99"), med(name, "max")
        lines.append(f"| {name} | {fmt_us(med(name, 'p50'))} | {fmt_us(p99)} | {p99 / base_p99:.2f} "
                     f"| {fmt_us(mx)} | {mx / base_max:.2f} | {med(name, 'rps'):,.0f} "
                     f"| {sum(s['errors'] for s in values)} |")
    lines.append("")
    return lines

