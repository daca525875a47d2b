"""The wasmpod HTTP API as the bench scripts call it (open on loopback under `wasmpod up`)."""

from __future__ import annotations

import json
import ssl
import urllib.parse
import urllib.request
from pathlib import Path


class Api:
    """The wasmpod HTTP API (open on loopback under `wasmpod up`)."""

    def __init__(self, port: int, timeout: float = 60, ca_file: Path | None = None):
        """With `ca_file`, the API of `up --tls`, verified against that cluster CA."""
        self.base = f"{'https' if ca_file else 'http'}://127.0.0.1:{port}"
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None

    def call(self, method: str, path: str, body: bytes | None = None, ctype: str = "application/json"):
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers={"content-type": ctype} if body is not None else {})
        with urllib.request.urlopen(req, timeout=self.timeout, context=self.context) as resp:
            return json.loads(resp.read() or b"null")

    def upload(self, wasm: Path) -> str:
        return self.call("POST", "/api/v1/blobs", wasm.read_bytes(), "application/wasm")["digest"]

    def apply(self, objects: list[dict]) -> None:
        self.call("POST", "/api/v1/apply", json.dumps({"objects": objects}).encode())

    def pods(self, selector: str = "") -> list[dict]:
        query = f"?labelSelector={urllib.parse.quote(selector)}" if selector else ""
        return self.call("GET", f"/api/v1/pods{query}")["items"]

    def pod(self, name: str) -> dict:
        return self.call("GET", f"/api/v1/pods/{name}")
