"""A small Lambda Runtime API (2018-06-01) in a thread of the test, for runtimes started as
real processes: it hands out the events a test queues and collects what the runtime posts.

`GET /runtime/invocation/next` blocks until the test queues an invocation (as Lambda's
long-poll does); `POST .../response`, `.../error` and `/runtime/init/error` are answered 202
and recorded, each as a `Posted` the test waits for."""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:greeter"
WAIT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Invocation:
    """One event as /next hands it out, with Lambda's headers."""

    payload: Any = None
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    deadline_ms: int = field(default_factory=lambda: int(time.time() * 1000) + 300_000)
    function_arn: str = FUNCTION_ARN
    trace_id: str | None = None
    client_context: Any = None
    cognito_identity: Any = None

    def headers(self) -> dict[str, str]:
        headers = {
            "Lambda-Runtime-Aws-Request-Id": self.request_id,
            "Lambda-Runtime-Deadline-Ms": str(self.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.function_arn,
            "Content-Type": "application/json",
        }
        optional = {
            "Lambda-Runtime-Trace-Id": self.trace_id,
            "Lambda-Runtime-Client-Context": _json_or_none(self.client_context),
            "Lambda-Runtime-Cognito-Identity": _json_or_none(self.cognito_identity),
        }
        headers.update({name: value for name, value in optional.items() if value is not None})
        return headers


def _json_or_none(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


@dataclass(frozen=True)
class Posted:
    """What the runtime posted: kind is "response", "error" or "init_error"."""

    kind: str
    request_id: str | None
    body: bytes
    headers: Mapping[str, str]

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_type_header(self) -> str | None:
        return self.headers.get(ERROR_TYPE_HEADER.lower())


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A runtime killed mid-request (the tests end theirs) is no error of the API's."""


class FakeRuntimeApi:
    """The Runtime API on a free loopback port; `address` is AWS_LAMBDA_RUNTIME_API."""

    def __init__(self) -> None:
        self._events: queue.Queue[Invocation | None] = queue.Queue()
        self._posted: queue.Queue[Posted] = queue.Queue()
        self.next_calls = 0
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        # Releases a /next still waiting (its runtime is gone by now), then the listener.
        self._events.put(None)
        self._server.shutdown()
        self._server.server_close()

    def queue(self, invocation: Invocation) -> Invocation:
        self._events.put(invocation)
        return invocation

    def wait_posted(self, timeout_s: float = WAIT_TIMEOUT_S) -> Posted:
        try:
            return self._posted.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"the runtime posted nothing within {timeout_s} s") from None

    def invoke(self, invocation: Invocation) -> Posted:
        """Queue one invocation and wait for what the runtime posts for it."""
        self.queue(invocation)
        posted = self.wait_posted()
        assert posted.request_id == invocation.request_id, posted
        return posted

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    self._answer(404, b'{"errorType":"NotFound"}')
                    return
                api.next_calls += 1
                invocation = api._events.get()
                if invocation is None:
                    self._answer(410, b'{"errorType":"ShuttingDown"}')
                    return
                self._answer(200, json.dumps(invocation.payload).encode(), invocation.headers())

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                posted = _classify(self.path, body, headers)
                if posted is None:
                    self._answer(404, b'{"errorType":"NotFound"}')
                    return
                self._answer(202, b'{"status":"OK"}')
                api._posted.put(posted)

            def _answer(self, status: int, body: bytes, headers: Mapping[str, str] = {}) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test asserts on what was posted, not on an access log."""

        return Handler


def _classify(path: str, body: bytes, headers: Mapping[str, str]) -> Posted | None:
    if path == f"{PREFIX}/init/error":
        return Posted("init_error", None, body, headers)
    parts = path.removeprefix(f"{PREFIX}/invocation/").split("/")
    if len(parts) == 2 and parts[1] in ("response", "error"):
        return Posted(parts[1], urllib.parse.unquote(parts[0]), body, headers)
    return None


@contextmanager
def running_runtime_api() -> Iterator[FakeRuntimeApi]:
    api = FakeRuntimeApi()
    api.start()
    try:
        yield api
    finally:
        api.stop()
