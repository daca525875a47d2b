"""Processes the benchmarks start: directly (not through a shell), output in a log file, SIGTERM
then SIGKILL on stop; with their CPU time and RSS read from /proc."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A process we started, with its log file."""

    def __init__(self, name: str, cmd: list, logdir: Path, env: dict | None = None):
        self.name = name
        self.log_path = logdir / f"{name}.log"
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen([str(c) for c in cmd], stdout=self.log_file, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})}, cwd=ROOT)
        self.pid = self.proc.pid

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        # Fields 14 and 15 of proc(5) (utime, stime) are 12th and 13th after the comm field.
        return (int(rest[11]) + int(rest[12])) / CLK_TCK

    def rss_bytes(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def wait_line(self, prefix: str, timeout: float = 60) -> str:
        """The rest of the first line of its output that starts with `prefix`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_path.read_text(errors="replace").splitlines():
                if line.startswith(prefix):
                    return line[len(prefix):].strip()
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        tail = self.log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{self.name} printed no {prefix!r} line within {timeout}s:\n{tail}")

    def kill9(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()
