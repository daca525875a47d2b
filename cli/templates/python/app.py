"""{{name}}: a wasmpod service, a plain `wasi:http/proxy` component built with componentize-py.

Answers with a greeting read from config (the env var GREETING, set by the pod's `env:` list) and,
when UPSTREAM is set (say `http://hello/hello`), with what that service answered:
`http://NAME/...` reaches the Service NAME. No SDK: componentize-py generates the bindings
(`wit_world`) from the standard WASI WIT at build time. Every request gets a fresh instance.
"""

import os
from urllib.parse import urlsplit

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import outgoing_handler, streams
from wit_world.imports.types import (
    Fields,
    IncomingBody,
    IncomingRequest,
    Method_Get,
    OutgoingBody,
    OutgoingRequest,
    OutgoingResponse,
    ResponseOutparam,
    Scheme_Http,
)

DEFAULT_GREETING = "Hello from {{name}}!"


def read_body(body: IncomingBody) -> bytes:
    """Reads an incoming body to its end."""
    chunks = []
    with body.stream() as stream:
        while True:
            try:
                chunks.append(stream.blocking_read(64 * 1024))
            except Err as e:
                if isinstance(e.value, streams.StreamError_Closed):
                    break
                raise
    return b"".join(chunks)


def call(url: str) -> tuple[int, str]:
    """GET `url` through wasi:http/outgoing-handler; `http://NAME/...` reaches the service NAME."""
    parts = urlsplit(url)
    request = OutgoingRequest(Fields())
    request.set_method(Method_Get())
    request.set_scheme(Scheme_Http())
    request.set_authority(parts.netloc)
    request.set_path_with_query(parts.path + ("?" + parts.query if parts.query else "") or "/")
    OutgoingBody.finish(request.body(), None)
    with outgoing_handler.handle(request, None) as future:
        with future.subscribe() as pollable:
            pollable.block()
        result = future.get()
    if result is None or isinstance(result, Err):
        raise RuntimeError("no response")
    if isinstance(result.value, Err):
        raise RuntimeError(f"{result.value.value}")
    with result.value.value as response:
        status = response.status()
        with response.consume() as body:
            text = read_body(body).decode("utf-8", "replace")
    return status, text


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        greeting = os.environ.get("GREETING", DEFAULT_GREETING)
        upstream = os.environ.get("UPSTREAM")
        status, text = 200, f"{greeting}\n"
        if upstream:
            try:
                code, said = call(upstream)
                status = 200 if code == 200 else 502
                text += f"{upstream} answered {code}:\n{said}"
            except Exception as e:  # the guest answers 502 rather than trapping
                status, text = 502, f"{text}cannot reach {upstream}: {e}\n"
        if not text.endswith("\n"):
            text += "\n"
        data = text.encode()
        headers = Fields.from_list(
            [("content-type", b"text/plain; charset=utf-8"), ("content-length", str(len(data)).encode())]
        )
        response = OutgoingResponse(headers)
        response.set_status_code(status)
        body = response.body()
        ResponseOutparam.set(response_out, Ok(response))
        with body.write() as stream:
            for at in range(0, len(data), 4096):  # at most 4096 bytes per blocking write
                stream.blocking_write_and_flush(data[at : at + 4096])
        OutgoingBody.finish(body, None)
