"""The gateway's front door: a lean HTTP/1.1 protocol for Invoke, aiohttp for everything else.

Invoke is the hot path: per call, aiohttp builds a request, a payload stream, URL objects, a
routing match, a response writer and a task, which costs more than the rest of the route.
Here llhttp (httptools, the parser aiohttp itself uses) parses the request, `FastRequest`
carries it to the same handler chain aiohttp's Invoke route runs (authentication, rate
limit, authorization, audit, Invoke: faas/gateway/invoke_api.py), and the answer is written
as one prebuilt block. Every other request is aiohttp's: the first request on a connection
that is not an Invoke hands the connection, with the bytes received since the request began,
to an aiohttp protocol, which serves it from then on (aiohttp's Invoke route serves the
Invokes that follow there, with the same code and answers).

Every connection stays this protocol's for its whole life: one handed to aiohttp is relayed
to aiohttp's protocol, byte for byte, while a second parser watches where its requests begin
and end. So the limits of [http] (faas.config.HttpSettings) hold for every connection: how
many may be open, how long a request's headers and body may take to arrive (slow clients are
cut off: aiohttp has no such timeouts of its own), how large and how many its headers.

Requests on one connection are answered in order, one at a time (HTTP/1.1 pipelining). A
request that is not an Invoke and arrived in the same read as the end of an earlier request
cannot be handed over (where it begins is not known), and clients must not pipeline after a
POST (RFC 9112, 9.3.2), so the connection is closed once the earlier answers are out; the
client retries it on a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import re
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from ssl import SSLContext
from typing import cast

import httptools
from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE
from multidict import CIMultiDict
from yarl import URL

from faas.config import HttpSettings
from faas.gateway.fast_request import FastRequest, InvokeRequestView

log = logging.getLogger(__name__)

INVOKE_PATH = re.compile(r"/2015-03-31/functions/([^{}/]+)/invocations")
# Pipelined requests kept waiting on one connection before it stops reading.
MAX_QUEUED_REQUESTS = 16
# The longest pause between two looks at the connections' deadlines; shorter when a timeout
# is (a quarter of the shortest), so a deadline is kept to within a quarter of it.
SWEEP_INTERVAL_S = 5.0
_REASONS = {
    200: "OK",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_NO_BODY_STATUSES = frozenset({204, 304})
# Headers the front door writes itself (a handler's own values for them are dropped).
_WRITTEN_HERE = ("Content-Length", "Connection", "Date", "Server")

InvokeHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _HandOff(Exception):
    """Raised inside a parser callback: this request is aiohttp's (stops the parser)."""


class _Refuse(Exception):
    """Raised inside a parser callback: answer `status` and close the connection."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _HttpDate:
    """The Date header, formatted once per second."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._value = email.utils.formatdate(second, usegmt=True)
        return self._value


class FrontDoor:
    """Makes the protocol of every accepted connection and tracks them, for a graceful stop
    and the [http] limits.

    `aiohttp_server` makes the aiohttp protocol a connection is handed to (the runner's
    low-level server, which tracks and stops those itself)."""

    def __init__(
        self,
        invoke: InvokeHandler,
        aiohttp_server: Callable[[], asyncio.Protocol],
        *,
        max_body_bytes: int,
        limits: HttpSettings | None = None,
    ) -> None:
        self.invoke = invoke
        self.aiohttp_server = aiohttp_server
        self.max_body_bytes = max_body_bytes
        self.limits = limits or HttpSettings()
        self.date = _HttpDate()
        # Served here (and stopped by drain()); `relayed`: handed to aiohttp, which stops them.
        self.connections: set[FrontProtocol] = set()
        self.relayed: set[FrontProtocol] = set()
        self.refused_connections = 0
        self.timed_out = 0
        self._servers: list[asyncio.Server] = []
        self._sweeper: asyncio.TimerHandle | None = None
        self.stopping = False
        self._sweep_interval_s = min(
            SWEEP_INTERVAL_S,
            self.limits.header_timeout_s / 4,
            self.limits.body_timeout_s / 4,
            self.limits.keepalive_timeout_s / 4,
        )

    @property
    def open_connections(self) -> int:
        return len(self.connections) + len(self.relayed)

    def __call__(self) -> FrontProtocol:
        return FrontProtocol(self)

    async def listen(
        self,
        host: str | None = None,
        port: int = 0,
        *,
        sock: socket.socket | None = None,
        ssl: SSLContext | None = None,
    ) -> asyncio.Server:
        """Accept connections on host:port, or on an already bound socket."""
        loop = asyncio.get_running_loop()
        # A crowd of connections arriving at once waits in the kernel's queue instead of
        # being dropped (asyncio's default is 100; the kernel caps it at somaxconn).
        backlog = self.limits.max_connections
        if sock is not None:
            server = await loop.create_server(self, sock=sock, ssl=ssl, backlog=backlog)
        else:
            server = await loop.create_server(
                self, host, port, ssl=ssl, reuse_address=True, backlog=backlog
            )
        self._servers.append(server)
        if self._sweeper is None:
            self._sweeper = loop.call_later(self._sweep_interval_s, self._sweep)
        return server

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [
            sock.getsockname()[:2]
            for server in self._servers
            for sock in server.sockets
            if isinstance(sock.getsockname(), tuple)
        ]

    def stop_listening(self) -> None:
        self.stopping = True
        for server in self._servers:
            server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    async def drain(self, timeout_s: float) -> None:
        """Close idle connections now, the others once their answers are out (or after
        `timeout_s`, when what is still running is cut off)."""
        for connection in list(self.connections):
            connection.close_when_idle()
        busy = [c.idle_event.wait() for c in self.connections if not c.idle_event.is_set()]
        if busy:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*busy), timeout_s)
        for connection in list(self.connections):
            connection.abort()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()

    def _sweep(self) -> None:
        """Close idle keep-alive connections, and those whose request is late (408)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        for connection in list(self.connections):
            connection.close_if_idle_since(now - self.limits.keepalive_timeout_s)
        for connection in [*self.connections, *self.relayed]:
            if connection.cut_if_late(now):
                self.timed_out += 1
        self._sweeper = loop.call_later(self._sweep_interval_s, self._sweep)


class _Message:
    """One request being parsed."""

    __slots__ = (
        "body",
        "body_size",
        "field",
        "head_size",
        "header_count",
        "headers",
        "http_10",
        "invoke_name",
        "keep_alive",
        "path",
        "query_string",
        "raw_target",
        "url",
        "wants_continue",
    )

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[str, str]] = []
        self.field = b""
        self.body = bytearray()
        self.body_size = 0
        self.head_size = 0
        self.header_count = 0
        self.invoke_name = ""
        self.path = ""
        self.raw_target = ""
        self.query_string = ""
        self.keep_alive = True
        self.http_10 = False
        self.wants_continue = False


class FrontProtocol(asyncio.Protocol):
    def __init__(self, door: FrontDoor) -> None:
        self._door = door
        self._loop = asyncio.get_event_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._remote: str | None = None
        self._message: _Message | None = None
        # Bytes of the request being parsed, from its first byte, while it may still be
        # handed to aiohttp; None when where it began is not known (pipelined mid-read).
        self._raw: list[bytes] | None = None
        self._read_started_clean = True
        self._completed_in_read = False
        self._current_read = b""
        self._queue: deque[tuple[FastRequest, bool]] = deque()
        self._serving: asyncio.Task[None] | None = None
        self._handoff: list[bytes] | None = None  # waiting for earlier answers to go out
        self._close_after_queue = False
        self._reading_paused = False
        self._writable = asyncio.Event()
        self._writable.set()
        self.idle_event = asyncio.Event()
        self.idle_event.set()
        self._last_active = self._loop.time()
        self._closed = False
        # Loop times by which the request being read must have its headers / its body; None
        # when nothing is being read (an idle keep-alive connection: keepalive_timeout_s).
        self._head_deadline: float | None = None
        self._body_deadline: float | None = None
        # Once handed to aiohttp: its protocol, fed what arrives, and the watch on its requests.
        self._inner: asyncio.BaseProtocol | None = None
        self._watch: httptools.HttpRequestParser | None = None

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        if self._door.open_connections >= self._door.limits.max_connections:
            self._door.refused_connections += 1
            self._closed = True
            self._transport.write(_plain_answer(503))
            self._transport.close()
            return
        peer = transport.get_extra_info("peername")
        self._remote = str(peer[0]) if isinstance(peer, tuple | list) and peer else None
        self._door.connections.add(self)
        # Its first request's headers are due from now: a client that connects and says
        # nothing holds the connection no longer than a slow one.
        self._head_deadline = self._loop.time() + self._door.limits.header_timeout_s

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._door.connections.discard(self)
        self._door.relayed.discard(self)
        self._writable.set()  # nothing waits for a write any more
        self.idle_event.set()
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()
            return
        self._writable.clear()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()
            return
        self._writable.set()

    def eof_received(self) -> bool | None:
        if self._inner is not None and isinstance(self._inner, asyncio.Protocol):
            return self._inner.eof_received()
        return None

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._relay(data)
            return
        if self._handoff is not None:
            self._handoff.append(data)
            return
        self._read_started_clean = self._message is None
        self._completed_in_read = False
        self._current_read = data
        if self._raw is not None:
            self._raw.append(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            cause = error.__context__
            if isinstance(cause, _HandOff):
                self._hand_off()
            elif isinstance(cause, _Refuse):
                self._refuse(cause.status)
            else:
                log.error("front door: parser callback failed", exc_info=cause)
                self._refuse(500)
        except httptools.HttpParserUpgrade:
            self._hand_off_or_refuse()
        except httptools.HttpParserError:
            # Malformed: aiohttp gives its own answer when the request can still be handed
            # over, as it would have without this front door.
            self._hand_off_or_refuse()

    # -- llhttp callbacks --------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self._loop.time() + self._door.limits.header_timeout_s
        self._message = _Message()
        clean = self._read_started_clean and not self._completed_in_read
        # From the read that holds this request's first byte (it began that read).
        self._raw = [self._current_read] if clean else None

    def on_url(self, url: bytes) -> None:
        message = self._message
        assert message is not None
        message.url += url
        message.head_size += len(url)
        if message.head_size > self._door.limits.max_header_bytes:
            raise _Refuse(431)

    def on_header(self, name: bytes, value: bytes) -> None:
        message = self._message
        assert message is not None
        message.head_size += len(name) + len(value) + 4
        message.header_count += 1
        limits = self._door.limits
        if message.head_size > limits.max_header_bytes or message.header_count > limits.max_headers:
            raise _Refuse(431)
        message.headers.append(
            (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
        )
        if len(name) == 6 and name.lower() == b"expect":
            message.wants_continue = value.lower() == b"100-continue"

    def on_headers_complete(self) -> None:
        message = self._message
        assert message is not None
        self._head_deadline = None
        self._body_deadline = self._loop.time() + self._door.limits.body_timeout_s
        parser = self._parser
        if parser.get_method() != b"POST" or parser.should_upgrade() or not self._route(message):
            raise _HandOff()
        message.keep_alive = parser.should_keep_alive()
        message.http_10 = parser.get_http_version() == "1.0"
        self._raw = None  # an Invoke: nothing of it is handed over
        if message.wants_continue and not message.http_10:
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        message = self._message
        assert message is not None
        message.body_size += len(body)
        if message.body_size <= self._door.max_body_bytes:
            message.body += body

    def on_message_complete(self) -> None:
        message = self._message
        assert message is not None
        self._message = None
        self._body_deadline = None
        self._completed_in_read = True
        request = FastRequest(
            method="POST",
            raw_target=message.raw_target,
            path=message.path,
            query_string=message.query_string,
            function_name=message.invoke_name,
            headers=CIMultiDict(message.headers),
            body=bytes(message.body),
            body_size=message.body_size,
            max_body=self._door.max_body_bytes,
            remote=self._remote,
        )
        self._queue.append((request, message.keep_alive))
        if len(self._queue) >= MAX_QUEUED_REQUESTS and not self._reading_paused:
            self._pause_reading()
        if self._serving is None:
            self.idle_event.clear()
            self._serving = self._loop.create_task(self._serve_queue())

    # -- serving -----------------------------------------------------------------------

    async def _serve_queue(self) -> None:
        try:
            while self._queue and not self._closed:
                request, keep_alive = self._queue.popleft()
                response = await self._answer(request)
                if not self._writable.is_set():
                    await self._writable.wait()
                if self._closed:
                    return
                keep_alive = keep_alive and not self._close_after_queue_now()
                self._write(self._encode(response, keep_alive, request))
                self._last_active = self._loop.time()
                if not keep_alive:
                    self._close()
                    return
                if self._reading_paused and len(self._queue) < MAX_QUEUED_REQUESTS:
                    self._resume_reading()
        finally:
            self._serving = None
            self.idle_event.set()
        self._after_answers()

    async def _answer(self, request: FastRequest) -> web.StreamResponse:
        view: InvokeRequestView = request
        try:
            # The handler chain reads only what InvokeRequestView lists (tested end to end).
            return await self._door.invoke(cast(web.Request, view))
        except web.HTTPException as answered:  # what aiohttp would have answered itself
            return answered

    def _close_after_queue_now(self) -> bool:
        """Close after this answer: a stop is under way, or a request that could not be
        handed over waits behind it and nothing else does."""
        return self._door_stopping() or (self._close_after_queue and not self._queue)

    def _door_stopping(self) -> bool:
        return self._door.stopping

    def _after_answers(self) -> None:
        if self._closed:
            return
        if self._handoff is not None:
            self._complete_hand_off()
        elif self._close_after_queue or self._door_stopping():
            self._close()

    def _encode(
        self, response: web.StreamResponse, keep_alive: bool, request: FastRequest
    ) -> bytes:
        status = response.status
        body = b"" if status in _NO_BODY_STATUSES else _body_of(response)
        reason = _REASONS.get(status) or response.reason
        headers = response.headers
        if any(name in headers for name in _WRITTEN_HERE):
            headers = CIMultiDict(
                (name, value) for name, value in headers.items() if name not in _WRITTEN_HERE
            )
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if status not in _NO_BODY_STATUSES:
            lines.append(f"Content-Length: {len(body)}")
        lines.append(f"Date: {self._door.date.now()}")
        lines.append(f"Server: {SERVER_SOFTWARE}")
        if not keep_alive:
            lines.append("Connection: close")
        elif request.headers.get("Connection", "").lower() == "keep-alive":
            lines.append("Connection: keep-alive")  # HTTP/1.0 keep-alive
        head = "\r\n".join(lines).encode("utf-8", "surrogateescape") + b"\r\n\r\n"
        return head + body

    # -- routing and hand-off ------------------------------------------------------------

    def _route(self, message: _Message) -> bool:
        """An Invoke (its function named in `message`), or False for aiohttp's routes."""
        target = message.url.decode("utf-8", "surrogateescape")
        if not target.startswith("/"):
            return False
        raw_path, _, query = target.partition("?")
        path_safe = raw_path
        path = raw_path
        if "%" in raw_path:
            url = URL.build(path=raw_path, encoded=True)
            path_safe = url.path_safe
            path = url.path
        match = INVOKE_PATH.fullmatch(path_safe)
        if match is None:
            return False
        name = match.group(1)
        if "%" in name:
            name = name.replace("%2F", "/").replace("%25", "%")
        message.invoke_name = name
        message.raw_target = target
        message.path = path
        message.query_string = query and URL.build(query_string=query, encoded=True).query_string
        return True

    def _hand_off_or_refuse(self) -> None:
        if self._raw is not None:
            self._hand_off()
        else:
            self._refuse(400)

    def _hand_off(self) -> None:
        """Give the connection, from the start of the request being parsed, to aiohttp."""
        if self._raw is None:
            # Pipelined mid-read behind an earlier request: answer those, then close.
            self._close_after_queue = True
            self._stop_reading_for_good()
            if self._serving is None:
                self._after_answers()
            return
        self._handoff = self._raw
        self._raw = None
        self._message = None
        if self._serving is None:
            self._complete_hand_off()
        else:
            self._pause_reading()  # the earlier answers go out first

    def _complete_hand_off(self) -> None:
        """From now on aiohttp serves the connection: what arrives is relayed to its protocol
        (which writes to the transport itself), watched for the [http] deadlines."""
        transport = self._transport
        assert transport is not None and self._handoff is not None
        pending, self._handoff = self._handoff, None
        self._door.connections.discard(self)
        self._door.relayed.add(self)
        self._head_deadline = self._body_deadline = None
        self._watch = httptools.HttpRequestParser(_RequestWatch(self))
        protocol = self._door.aiohttp_server()
        self._inner = protocol
        protocol.connection_made(transport)
        for chunk in pending:
            if transport.is_closing():
                break
            self._relay(chunk)
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()

    def _relay(self, data: bytes) -> None:
        watch = self._watch
        if watch is not None:
            try:
                watch.feed_data(data)
            except (httptools.HttpParserError, httptools.HttpParserUpgrade):
                # aiohttp answers what it cannot parse; an upgrade is not HTTP any more.
                self._watch = None
                self._head_deadline = self._body_deadline = None
        inner = self._inner
        assert isinstance(inner, asyncio.Protocol)
        inner.data_received(data)

    # -- deadlines -----------------------------------------------------------------------

    def request_began(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self._loop.time() + self._door.limits.header_timeout_s

    def headers_read(self) -> None:
        self._head_deadline = None
        self._body_deadline = self._loop.time() + self._door.limits.body_timeout_s

    def request_read(self) -> None:
        self._body_deadline = None

    def cut_if_late(self, now: float) -> bool:
        """Close the connection if its request's headers or body are late (408 when nothing
        is being answered on it); True if it was."""
        late = (self._head_deadline is not None and now > self._head_deadline) or (
            self._body_deadline is not None and now > self._body_deadline
        )
        if not late or self._closed:
            return False
        self._head_deadline = self._body_deadline = None
        if self._inner is None and self._serving is None:
            self._write(_plain_answer(408))
        self._close()
        return True

    def _refuse(self, status: int) -> None:
        """A request that cannot be parsed or is too large: answer it (after the earlier
        ones) and close."""
        self._stop_reading_for_good()
        answer = _plain_answer(status)
        if self._serving is None:
            self._write(answer)
            self._close()
            return
        task = self._serving

        def after(_: object) -> None:
            if not self._closed:
                self._write(answer)
                self._close()

        task.add_done_callback(after)

    # -- transport helpers ---------------------------------------------------------------

    def _stop_reading_for_good(self) -> None:
        self._message = None
        self._raw = None
        self._parser = httptools.HttpRequestParser(self)  # the old one is in an error state
        self._pause_reading()

    def _pause_reading(self) -> None:
        if self._transport is not None and not self._reading_paused and not self._closed:
            self._reading_paused = True
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._transport is not None and self._reading_paused and not self._closed:
            self._reading_paused = False
            self._transport.resume_reading()

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._closed:
            self._transport.write(data)

    def _close(self) -> None:
        if self._transport is not None and not self._closed:
            self._closed = True
            self._transport.close()

    def close_when_idle(self) -> None:
        """For a stop: close now if nothing is being answered, else after the answers."""
        self._close_after_queue = True
        if self._serving is None and self._handoff is None:
            self._close()

    def close_if_idle_since(self, moment: float) -> None:
        if self._serving is None and self._message is None and self._last_active < moment:
            self._close()

    def abort(self) -> None:
        """Cut off: what is still being answered is cancelled (as aiohttp cancels its
        handlers after the grace period)."""
        if self._serving is not None:
            self._serving.cancel()
        if self._transport is not None and not self._closed:
            self._closed = True
            self._transport.abort()


class _RequestWatch:
    """llhttp callbacks for a connection relayed to aiohttp: where its requests begin, where
    their headers end and where they end, for the [http] deadlines."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: FrontProtocol) -> None:
        self._protocol = protocol

    def on_message_begin(self) -> None:
        self._protocol.request_began()

    def on_headers_complete(self) -> None:
        self._protocol.headers_read()

    def on_message_complete(self) -> None:
        self._protocol.request_read()


def _plain_answer(status: int) -> bytes:
    """A whole answer of the front door's own, closing the connection."""
    body = f"{status}: {_REASONS[status]}".encode()
    return (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: text/plain; charset=utf-8"
        f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def _body_of(response: web.StreamResponse) -> bytes:
    if isinstance(response, web.HTTPException):
        return (response.text or "").encode()
    if isinstance(response, web.Response):
        body = response.body
        if isinstance(body, bytes | bytearray):
            return bytes(body)
        if body is None:
            return b""
    raise TypeError(f"the Invoke route answered with a {type(response).__name__} body")
