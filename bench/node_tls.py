"""The cross-node hop over node-to-node TLS against the plain hop (`--only-node-tls`).

Two clusters run side by side in the same run: `wasmpod up --workers 2` (plain) and
`wasmpod up --workers 2 --tls` (the API over TLS, and every node-to-node request over mutual TLS
with the cluster CA, pooled and resumed). In each, hello runs on node local-2 only; the same
`wrk -t1 -cC --latency` load goes through local-1's ingress (forwarded to local-2: the hop) and
through local-2's own ingress (no hop), interleaved for R rounds. Reported: p50 and p99 of each,
the hop (through local-1 minus direct), and the TLS hop as a ratio to the plain hop.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import time
from pathlib import Path

from wasmpod_api import Api


def start_cluster(b, name: str, logdir: Path, tls: bool):
    """`wasmpod up --workers 2` (with `--tls`): (server, api, ingress port of local-1)."""
    api_port, ingress_port = b.free_port(), b.free_port()
    # local-2's ingress is the next port: keep it free too.
    while True:
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", ingress_port + 1))
            break
        except OSError:
            ingress_port = b.free_port()
    data = logdir / f"{name}-data"
    cmd = [b.WASMPOD, "up", "--workers", "2", "--data-dir", data, "--api-addr", f"127.0.0.1:{api_port}",
           "--ingress-addr", f"127.0.0.1:{ingress_port}"]
    if tls:
        cmd.append("--tls")
    server = b.Server(name, cmd, logdir)
    server.wait_line("wasmpod is up")
    api = Api(api_port, ca_file=data / "ca.crt" if tls else None)
    return server, api, ingress_port


def place_hello_on_local_2(b, api, hello: Path, tls_ca: Path | None) -> None:
    env = {**os.environ}
    if tls_ca:
        env["WASMPOD_CA_FILE"] = str(tls_ca)

    def cordon(node: str, on: bool) -> None:
        subprocess.run([str(b.WASMPOD), "cordon" if on else "uncordon", node, "--server", api.base],
                       check=True, stdout=subprocess.DEVNULL, env=env)

    cordon("local-1", True)
    api.apply([b.deployment("hello", api.upload(hello)), b.service("hello"), b.ingress("hello", "/hello", "hello")])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pods = [p for p in api.pods() if p["metadata"].get("labels", {}).get("app") == "hello"]
        if len(pods) == 1 and pods[0].get("status", {}).get("ready") and pods[0]["spec"].get("nodeName") == "local-2":
            break
        time.sleep(0.1)
    else:
        raise RuntimeError("hello not ready on local-2")
    cordon("local-1", False)


def measure(b, logdir: Path, hello: Path, rounds: int, connections: int, seconds: int, log) -> dict:
    plain, plain_api, plain_port = start_cluster(b, "hop-plain", logdir, tls=False)
    secure, tls_api, tls_port = start_cluster(b, "hop-tls", logdir, tls=True)
    try:
        place_hello_on_local_2(b, plain_api, hello, None)
        place_hello_on_local_2(b, tls_api, hello, logdir / "hop-tls-data" / "ca.crt")
        runs = {
            "plain: through local-1 (hop)": (plain, plain_port),
            "plain: local-2 direct": (plain, plain_port + 1),
            "TLS: through local-1 (hop)": (secure, tls_port),
            "TLS: local-2 direct": (secure, tls_port + 1),
        }
        for _, (server, port) in runs.items():
            b.wait_for(port, "/hello", 60, b.HELLO_BODY)
            b.wrk(port, "/hello", connections, 2, server)
        samples: dict[str, list] = {name: [] for name in runs}
        for r in range(rounds):
            for name, (server, port) in runs.items():
                samples[name].append(b.wrk(port, "/hello", connections, seconds, server))
            log(f"node TLS round {r + 1}: " + ", ".join(
                f"{n} p50 {v[-1].p50_us:.0f} us p99 {v[-1].p99_us:.0f} us" for n, v in samples.items()))
        return {"samples": samples, "connections": connections, "seconds": seconds}
    finally:
        plain.stop()
        secure.stop()


def report(rows: dict | None, fmt_us) -> list[str]:
    if not rows:
        return []
    samples = rows["samples"]

    def med(name: str, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in samples[name])

    lines = ["## Cross-node hop over node-to-node TLS (same run)", "",
             f"Two clusters side by side, `wasmpod up --workers 2` and `wasmpod up --workers 2 --tls`; hello on "
             f"local-2 only; `wrk -t1 -c{rows['connections']} -d{rows['seconds']}s --latency` through local-1's ingress "
             "(forwarded to local-2: the hop) and through local-2's own, interleaved; median of the rounds. "
             "The hop = through local-1 minus direct.", "",
             "| path | p50 | p99 | req/s | errors | rounds: p50 / p99 |", "|---|---:|---:|---:|---:|---|"]
    for name, values in samples.items():
        rounds = ", ".join(f"{fmt_us(s.p50_us)} / {fmt_us(s.p99_us)}" for s in values)
        lines.append(f"| {name} | {fmt_us(med(name, 'p50_us'))} | {fmt_us(med(name, 'p99_us'))} "
                     f"| {med(name, 'rps'):,.0f} | {sum(s.errors for s in values)} | {rounds} |")
    lines.append("")
    for q in ("p50_us", "p99_us"):
        plain_hop = med("plain: through local-1 (hop)", q) - med("plain: local-2 direct", q)
        tls_hop = med("TLS: through local-1 (hop)", q) - med("TLS: local-2 direct", q)
        through = med("TLS: through local-1 (hop)", q) / med("plain: through local-1 (hop)", q)
        ratio = f"{tls_hop / plain_hop:.2f}x" if plain_hop > 0 else "n/a"
        lines.append(f"- {q[:3]}: the plain hop adds {plain_hop:.0f} µs, the TLS hop {tls_hop:.0f} µs "
                     f"(TLS hop / plain hop {ratio}; TLS adds {tls_hop - plain_hop:.0f} µs per hop); "
                     f"through local-1, TLS / plain {through:.2f}x")
    lines += ["", "p99 of one connection over a few seconds is a few dozen slowest requests: on a shared machine it "
              "follows whatever else runs (see the rounds), so read the p99 rows as bounds, the p50 rows as the "
              "cost of the hop.", ""]
    return lines
