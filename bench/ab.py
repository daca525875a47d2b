"""`python3 bench/ab.py [--together] ROUNDS LABEL=BINARY...`: a paired A/B of wasmpod binaries only.

Each binary gets its own `wasmpod up` serving hello. By default every round runs
`wrk -t1 -c32 -d10s` against each in turn with `perf stat` on the server (context switches, CPU
time; instructions and cycles where the machine exposes hardware counters), and prints each
round's req/s ratio to the first binary and the median of those ratios. Unlike `bench.py
--compare` no other server shares the rounds, and the per-round pairing takes out much of a shared
machine's drift.

`--together` loads every server at once instead (one `wrk` each, 8 s rounds) and compares CPU time
per request: the servers share the machine's state second by second, so a neighbour's burst hits
them alike (two servers of the same binary measured 0.93-1.07 per round, median 1.01). The
servers contend for the cores, so this measures work per request, not one server's throughput.

A BINARY may be a script that sets environment variables and `exec`s a wasmpod binary.
"""
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as b

args = sys.argv[1:]
together = "--together" in args
args = [a for a in args if a != "--together"]
if len(args) < 2 or not args[0].isdigit() or any("=" not in a for a in args[1:]):
    raise SystemExit("usage: bench/ab.py [--together] ROUNDS LABEL=BINARY [LABEL=BINARY ...]")
bins = [(a.split("=", 1)[0], Path(a.split("=", 1)[1])) for a in args[1:]]
for label, binary in bins:
    if not binary.is_file():
        raise SystemExit(f"error: {label}={binary}: no such file")
rounds = int(args[0])
logdir = Path(tempfile.mkdtemp(prefix="ab-"))
hello = b.SAMPLES / "hello.wasm"


def one_at_a_time(targets):
    """Each server loaded in turn under `perf stat`; rows of req/s, CPU and switches per request."""
    res = {label: [] for label, _, _ in targets}
    for r in range(rounds):
        for label, server, port in targets:
            perf = subprocess.Popen(["perf", "stat", "-x,", "-e", "instructions,cycles,context-switches,task-clock",
                                     "-p", str(server.proc.pid), "--", "sleep", "10"], stderr=subprocess.PIPE, text=True)
            s = b.wrk(port, "/hello", 32, 10, server)
            err = perf.communicate()[1]
            c = {}
            for line in err.splitlines():
                f = line.split(",")
                if len(f) > 3 and f[0].replace(".", "").isdigit():
                    c[f[2]] = float(f[0])
            n = s.requests
            row = dict(rps=s.rps, instr=c.get("instructions", 0) / n, cyc=c.get("cycles", 0) / n,
                       cs=c.get("context-switches", 0) / n, ms=c.get("task-clock", 0) * 1000 / n)
            res[label].append(row)
            counters = (f"{row['instr']:,.0f} instructions/req, {row['cyc']:,.0f} cycles/req, "
                        if row["instr"] else "")
            print(f"round {r+1} {label}: {s.rps:,.0f} req/s, {counters}{row['cs']:.3f} context switches/req, "
                  f"{row['ms']:.1f} us CPU/req", flush=True)
    return res


def all_at_once(targets):
    """Every server loaded at once; rows of req/s and CPU per request (from /proc)."""
    seconds = 8
    res = {label: [] for label, _, _ in targets}
    for r in range(rounds):
        cpu0 = {label: server.cpu_seconds() for label, server, _ in targets}
        loads = {label: subprocess.Popen(["wrk", "-t1", "-c32", f"-d{seconds}s", f"http://127.0.0.1:{port}/hello"],
                                         stdout=subprocess.PIPE, text=True)
                 for label, _, port in targets}
        outs = {label: p.communicate()[0] for label, p in loads.items()}
        line = []
        for label, server, _ in targets:
            n = int(re.search(r"(\d+) requests in", outs[label]).group(1))
            us = (server.cpu_seconds() - cpu0[label]) * 1e6 / n
            res[label].append(dict(rps=n / seconds, ms=us, cs=0.0))
            line.append(f"{label} {n / seconds:,.0f} req/s {us:.1f} us CPU/req")
        print(f"round {r+1}: " + "; ".join(line), flush=True)
    return res


servers, targets = [], []
try:
    for i, (label, binary) in enumerate(bins):
        server, api, port = b.start_wasmpod(f"ab-{i}", logdir, binary=binary)
        servers.append(server)
        api.apply([b.deployment("hello", api.upload(hello)), b.service("hello"), b.ingress("hello", "/hello", "hello")])
        b.wait_for(port, "/hello", 60, b.HELLO_BODY)
        targets.append((label, server, port))
    for label, server, port in targets:
        b.wrk(port, "/hello", 32, 2, server)
    res = all_at_once(targets) if together else one_at_a_time(targets)
    print("medians (per-round ratios against the first binary):")
    first = next(iter(res))
    for label, rows in res.items():
        ratios = [r["rps"] / f["rps"] for r, f in zip(rows, res[first])]
        cpu = [r["ms"] / f["ms"] for r, f in zip(rows, res[first])]
        print(f"{label}: " + ", ".join(f"{k} {statistics.median(r[k] for r in rows):,.3f}" for k in ("rps", "cs", "ms"))
              + f"; req/s ratio median {statistics.median(ratios):.3f} (rounds {', '.join(f'{x:.2f}' for x in ratios)}), "
              + f"CPU/req ratio median {statistics.median(cpu):.3f} (rounds {', '.join(f'{x:.2f}' for x in cpu)})")
finally:
    for s in servers:
        s.stop()
