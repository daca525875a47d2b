"""`python3 bench/ab.py ROUNDS LABEL=BINARY...`: a paired A/B of wasmpod binaries only.

Each binary gets its own `wasmpod up` serving hello; every round runs `wrk -t1 -c32 -d10s` against
each in turn with `perf stat` on the server (context switches, CPU time; instructions and cycles
where the machine exposes hardware counters), and prints each round's req/s ratio to the first
binary and the median of those ratios. Unlike `bench.py --compare` no other server shares the
rounds, and the per-round pairing takes out much of a shared machine's drift. A BINARY may be a
script that sets environment variables and `exec`s a wasmpod binary.
"""
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as b

if len(sys.argv) < 3 or not sys.argv[1].isdigit() or any("=" not in a for a in sys.argv[2:]):
    raise SystemExit("usage: bench/ab.py ROUNDS LABEL=BINARY [LABEL=BINARY ...]")
bins = [(a.split("=", 1)[0], Path(a.split("=", 1)[1])) for a in sys.argv[2:]]
for label, binary in bins:
    if not binary.is_file():
        raise SystemExit(f"error: {label}={binary}: no such file")
rounds = int(sys.argv[1])
logdir = Path(tempfile.mkdtemp(prefix="ab-"))
hello = b.SAMPLES / "hello.wasm"
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
    print("medians (per-round ratios against the first binary):")
    first = next(iter(res))
    for label, rows in res.items():
        ratios = [r["rps"] / f["rps"] for r, f in zip(rows, res[first])]
        cpu = [r["ms"] / f["ms"] for r, f in zip(rows, res[first])]
        print(f"{label}: " + ", ".join(f"{k} {statistics.median(r[k] for r in rows):,.3f}" for k in ("rps", "cs", "ms"))
              + f"; req/s ratio median {statistics.median(ratios):.3f} (rounds {', '.join(f'{x:.2f}' for x in ratios)}), CPU/req ratio median {statistics.median(cpu):.3f}")
finally:
    for s in servers:
        s.stop()
