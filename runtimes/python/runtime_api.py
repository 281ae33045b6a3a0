"""The Lambda Runtime API as a custom runtime's bootstrap sees it: runs INSIDE the worker.

Standard library only; never imports `faas`. The worker's supervisor (supervisor.py) owns
one `RuntimeApi` on a listening loopback socket and drives it from its selector (one thread):
it offers each invocation the platform sends, and hears back when the bootstrap is ready,
answered, or failed its init. Routes, under /2018-06-01 (Lambda's, with its status codes):

  GET  /runtime/invocation/next           the next invocation: a long poll that never times
                                          out; 200, the event as body, Lambda-Runtime-* headers
  POST /runtime/invocation/{id}/response  the result: 202
  POST /runtime/invocation/{id}/error     an error document: 202 (type from the
                                          Lambda-Runtime-Function-Error-Type header or the body)
  POST /runtime/init/error                init failed: 202

One invocation at a time, through the states Lambda's Runtime API has: Started (init) ->
Ready (asked for work) -> Running (has an invocation) -> RuntimeResponseSentState (answered)
-> Ready ...; or Started -> InitError. A call its state does not allow gets 403
InvalidStateTransition; an answer for an id that is not the running invocation's gets 400
InvalidRequestID; a result over Lambda's 6 MB gets 413 and fails the invocation, as on Lambda.
Errors are Lambda's JSON `{"errorMessage", "errorType"}`.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

API_PREFIX = "/2018-06-01"
NEXT_PATH = f"{API_PREFIX}/runtime/invocation/next"
INVOCATION_PREFIX = f"{API_PREFIX}/runtime/invocation/"
INIT_ERROR_PATH = f"{API_PREFIX}/runtime/init/error"
ERROR_TYPE_HEADER = "lambda-runtime-function-error-type"
# Lambda's cap on a synchronous response, and what the invocation then fails with.
MAX_RESPONSE_BYTES = 6291556
RESPONSE_TOO_LARGE = "Function.ResponseSizeTooLarge"
RESPONSE_TOO_LARGE_MESSAGE = (
    "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
)
# As Go's net/http (Lambda's own Runtime API server) allows: an error's X-Ray cause header,
# with a deep stack, can be large.
MAX_HEAD_BYTES = 1024 * 1024
READ_CHUNK = 256 * 1024

STARTED, READY, RUNNING = "Started", "Ready", "Running"
RESPONSE_SENT, INIT_ERROR = "RuntimeResponseSentState", "InitError"
REASONS = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    431: "Request Header Fields Too Large",
}


@dataclass(frozen=True, slots=True)
class Invocation:
    """One invocation as the platform hands it over (the supervisor's frame)."""

    request_id: str
    deadline_ms: int
    function_arn: str
    event: bytes
    client_context: str | None = None  # JSON text (Invoke's X-Amz-Client-Context, decoded)
    trace_id: str = ""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the bootstrap answered: kind "ok", "error" or "init_error"."""

    kind: str
    request_id: str
    body: bytes
    error_type: str | None = None


class Events(Protocol):
    def on_ready(self) -> None:
        """The bootstrap asked for its first invocation: init is over."""

    def on_outcome(self, outcome: Outcome) -> None:
        """An invocation was answered, or init failed."""


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    keep_alive: bool
    oversized: bool = False  # the body went over the cap: it was read and dropped


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class RequestReader:
    """Incremental HTTP/1.1 request parser: feed bytes, take whole requests (Content-Length
    or chunked bodies; a body over `max_body` is consumed but not kept)."""

    def __init__(self, max_body: int) -> None:
        self._max_body = max_body
        self._buffer = bytearray()
        self._head: tuple[str, str, dict[str, str], bool] | None = None
        self._body = bytearray()
        self._remaining = 0  # Content-Length bytes still to come
        self._chunked = False
        self._oversized = False
        self.wants_continue = False  # the client waits for "100 Continue" before its body

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_request(self) -> Request | None:
        if self._head is None and not self._read_head():
            return None
        done = self._read_chunked() if self._chunked else self._read_sized()
        if not done:
            return None
        assert self._head is not None
        method, path, headers, keep_alive = self._head
        request = Request(method, path, headers, bytes(self._body), keep_alive, self._oversized)
        self._head = None
        self._body = bytearray()
        self._oversized = False
        self.wants_continue = False
        return request

    def _read_head(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise BadRequest(431, "request head too large")
            return False
        lines = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
        del self._buffer[: end + 4]
        try:
            method, target, version = lines[0].split(" ")
        except ValueError as exc:
            raise BadRequest(400, "malformed request line") from exc
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                raise BadRequest(400, "malformed header")
            headers[name.strip().lower()] = value.strip()
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        self._head = (method, target.split("?", 1)[0], headers, keep_alive)
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        try:
            self._remaining = 0 if self._chunked else int(headers.get("content-length", "0"))
        except ValueError as exc:
            raise BadRequest(400, "malformed Content-Length") from exc
        if self._remaining < 0:
            raise BadRequest(400, "malformed Content-Length")
        self._oversized = self._remaining > self._max_body
        self.wants_continue = headers.get("expect", "").lower() == "100-continue"
        return True

    def _take(self, size: int) -> None:
        """Move `size` buffered bytes into the body (or drop them once it is over the cap)."""
        if len(self._body) + size > self._max_body:
            self._oversized = True
        if not self._oversized:
            self._body += self._buffer[:size]
        del self._buffer[:size]

    def _read_sized(self) -> bool:
        size = min(self._remaining, len(self._buffer))
        self._take(size)
        self._remaining -= size
        return self._remaining == 0

    def _read_chunked(self) -> bool:
        while True:
            line_end = self._buffer.find(b"\r\n")
            if line_end < 0:
                return False
            size_field = bytes(self._buffer[:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_field, 16)
            except ValueError as exc:
                raise BadRequest(400, "malformed chunk size") from exc
            if size == 0:
                # The blank line after the last chunk (and after trailers, if any).
                trailer_end = self._buffer.find(b"\r\n\r\n", line_end)
                if trailer_end < 0:
                    return False
                del self._buffer[: trailer_end + 4]
                return True
            if len(self._buffer) < line_end + 2 + size + 2:
                return False
            if self._buffer[line_end + 2 + size : line_end + 4 + size] != b"\r\n":
                raise BadRequest(400, "malformed chunk")
            del self._buffer[: line_end + 2]
            self._take(size)
            del self._buffer[:2]


def error_body(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


def trace_header(now_s: float | None = None) -> str:
    """An X-Ray trace header of Lambda's shape (nothing samples it here)."""
    epoch = int(time.time() if now_s is None else now_s)
    return f"Root=1-{epoch:08x}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=0"


def compact_json(text: str | None) -> str | None:
    """JSON re-encoded on one ASCII line (an HTTP header value); None if it is not JSON."""
    if not text:
        return None
    try:
        return json.dumps(json.loads(text), separators=(",", ":"))
    except ValueError:
        return None


class Connection:
    """One client connection: requests in order; a parked /next holds the ones after it."""

    def __init__(self, sock: socket.socket, api: RuntimeApi) -> None:
        self.sock = sock
        self._api = api
        self._reader = RequestReader(MAX_RESPONSE_BYTES)
        self._out = bytearray()
        self._close_after_write = False
        self._writing = False  # registered for EVENT_WRITE: a response is only partly sent
        self._continued = False
        self.parked = False
        self.closed = False
        self.keep_alive = True  # the latest request's

    def on_event(self, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush()
        if mask & selectors.EVENT_READ and not self.closed:
            self._on_readable()

    def _on_readable(self) -> None:
        try:
            data = self.sock.recv(READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close()  # a parked /next whose client went away is dropped too
            return
        self._reader.feed(data)
        self.process()

    def process(self) -> None:
        """Handle every whole request buffered, unless a /next is parked."""
        while not self.parked and not self.closed and not self._close_after_write:
            try:
                request = self._reader.next_request()
            except BadRequest as exc:
                self.respond(exc.status, error_body("InvalidRequestFormat", str(exc)), close=True)
                return
            if request is None:
                self._send_continue()
                return
            self._continued = False
            self.keep_alive = request.keep_alive
            self._api.handle(self, request)

    def _send_continue(self) -> None:
        if self._reader.wants_continue and not self._continued:
            self._continued = True
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def respond(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        close: bool | None = None,
        content_type: str = "application/json",
    ) -> None:
        """Send a response; the connection then closes if `close` (default: if the request
        did not ask to keep it alive)."""
        if close is None:
            close = not self.keep_alive
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
        lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if close:
            lines.append("Connection: close")
            self._close_after_write = True
        self._write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def _write(self, data: bytes) -> None:
        self._out += data
        self._flush()

    def _flush(self) -> None:
        if self.closed:
            return
        try:
            while self._out:
                sent = self.sock.send(self._out)
                del self._out[:sent]
        except BlockingIOError:
            if not self._writing:
                self._writing = True
                self._api.watch(self, writing=True)
            return
        except OSError:
            self.close()
            return
        if self._close_after_write:
            self.close()
            return
        if self._writing:
            self._writing = False
            self._api.watch(self, writing=False)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._api.forget(self)
        self.sock.close()


class RuntimeApi:
    """The Runtime API's state and routes for one bootstrap, one invocation at a time."""

    def __init__(
        self, listener: socket.socket, selector: selectors.BaseSelector, events: Events
    ) -> None:
        self.state = STARTED
        self._listener = listener
        self._selector = selector
        self._events = events
        self._connections: set[Connection] = set()
        self._parked: Connection | None = None  # the /next waiting for an invocation
        self._pending: Invocation | None = None  # offered, not yet taken
        self._current: Invocation | None = None  # taken, not yet answered
        listener.setblocking(False)
        selector.register(listener, selectors.EVENT_READ, self._accept)

    @property
    def address(self) -> str:
        host, port = self._listener.getsockname()[:2]
        return f"{host}:{port}"

    def offer(self, invocation: Invocation) -> None:
        """The platform's next invocation: to the waiting /next, or to the next one."""
        self._pending = invocation
        parked, self._parked = self._parked, None
        if parked is not None and not parked.closed:
            parked.parked = False
            self._serve_next(parked)
            parked.process()  # requests it sent behind the /next

    def close(self) -> None:
        """Stop serving: the listener and every connection close (a parked /next ends)."""
        for connection in list(self._connections):
            connection.close()
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(self._listener)
        self._listener.close()

    # -- connections ----------------------------------------------------------------------

    def _accept(self, _mask: int) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # out of descriptors, say: the client retries
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection = Connection(sock, self)
            self._connections.add(connection)
            self._selector.register(sock, selectors.EVENT_READ, connection.on_event)

    def watch(self, connection: Connection, *, writing: bool) -> None:
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if writing else 0)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.modify(connection.sock, events, connection.on_event)

    def forget(self, connection: Connection) -> None:
        self._connections.discard(connection)
        if self._parked is connection:
            self._parked = None
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(connection.sock)

    # -- routes ---------------------------------------------------------------------------

    def handle(self, connection: Connection, request: Request) -> None:
        route = self._route(request)
        if route is None:
            connection.respond(404, b"404 page not found\n", content_type="text/plain")
            return
        method, handler = route
        if request.method != method:
            connection.respond(405, b"", {"Allow": method})
            return
        handler(connection, request)

    def _route(self, request: Request) -> tuple[str, Callable[[Connection, Request], None]] | None:
        path = request.path
        if path == NEXT_PATH:
            return "GET", self._next
        if path == INIT_ERROR_PATH:
            return "POST", self._init_error
        if path.startswith(INVOCATION_PREFIX):
            request_id, _, action = path[len(INVOCATION_PREFIX) :].partition("/")
            if request_id and action == "response":
                return "POST", lambda c, r: self._answer(c, r, request_id, ok=True)
            if request_id and action == "error":
                return "POST", lambda c, r: self._answer(c, r, request_id, ok=False)
        return None

    def _next(self, connection: Connection, request: Request) -> None:
        if self.state not in (STARTED, READY, RESPONSE_SENT):
            self._refuse(connection, READY)
            return
        first = self.state == STARTED
        self.state = READY
        self._current = None
        if first:
            self._events.on_ready()
        if self._pending is not None:
            self._serve_next(connection)
            return
        previous, self._parked = self._parked, connection
        if previous is not None and previous is not connection:
            previous.close()  # the latest poller wins (its client gave up on the old one)
        connection.parked = True

    def _serve_next(self, connection: Connection) -> None:
        invocation = self._pending
        assert invocation is not None
        self._pending = None
        self._current = invocation
        self.state = RUNNING
        headers = {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": invocation.function_arn,
            "Lambda-Runtime-Trace-Id": invocation.trace_id or trace_header(),
        }
        client_context = compact_json(invocation.client_context)
        if client_context is not None:
            headers["Lambda-Runtime-Client-Context"] = client_context
        connection.respond(200, invocation.event or b"{}", headers)

    def _answer(
        self, connection: Connection, request: Request, request_id: str, *, ok: bool
    ) -> None:
        target = "InvocationResponse" if ok else "InvocationErrorResponse"
        if self.state != RUNNING or self._current is None:
            self._refuse(connection, target)
            return
        if request_id != self._current.request_id:
            connection.respond(400, error_body("InvalidRequestID", "Invalid request ID"))
            return
        self.state = RESPONSE_SENT
        self._current = None
        if request.oversized:
            message = (
                f"Response payload size exceeded maximum allowed payload size "
                f"({MAX_RESPONSE_BYTES} bytes)."
            )
            connection.respond(413, error_body(RESPONSE_TOO_LARGE, message))
            document = error_document(RESPONSE_TOO_LARGE, RESPONSE_TOO_LARGE_MESSAGE, request_id)
            self._events.on_outcome(Outcome("error", request_id, document, RESPONSE_TOO_LARGE))
            return
        connection.respond(202, b'{"status":"OK"}')
        if ok:
            self._events.on_outcome(Outcome("ok", request_id, request.body))
        else:
            error_type = _error_type(request, "Unhandled")
            self._events.on_outcome(Outcome("error", request_id, request.body, error_type))

    def _init_error(self, connection: Connection, request: Request) -> None:
        if self.state != STARTED:
            self._refuse(connection, INIT_ERROR)
            return
        self.state = INIT_ERROR
        connection.respond(202, b'{"status":"OK"}')
        error_type = _error_type(request, "Runtime.Unknown")
        self._events.on_outcome(Outcome("init_error", "", request.body, error_type))

    def _refuse(self, connection: Connection, target: str) -> None:
        message = (
            f"State transition from {self.state} to {target} failed for runtime. "
            "Error: State transition is not allowed"
        )
        connection.respond(403, error_body("InvalidStateTransition", message))


def _error_type(request: Request, default: str) -> str:
    """The header Lambda reads, else the document's own errorType, else `default`."""
    header = request.headers.get(ERROR_TYPE_HEADER, "").strip()
    if header:
        return header
    try:
        document: Any = json.loads(request.body)
        named = document.get("errorType") if isinstance(document, dict) else None
    except ValueError:
        named = None
    return str(named) if isinstance(named, str) and named else default


def error_document(error_type: str, message: str, request_id: str) -> bytes:
    return json.dumps(
        {
            "errorMessage": message,
            "errorType": error_type,
            "requestId": request_id,
            "stackTrace": [],
        }
    ).encode()
