"""The Runtime API a custom runtime's worker serves (runtimes/python/runtime_api.py), over
real loopback sockets with real HTTP clients: routes, headers, Lambda's status codes and
error shapes, the long poll and its cancellation."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import selectors
import socket
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.helpers.runtime_files import runtime_module

PREFIX = "/2018-06-01/runtime"


@pytest.fixture(scope="module")
def api_module() -> Iterator[ModuleType]:
    """The module as the zygote loads it: a file under a private name, not a package."""
    with runtime_module("runtime_api") as loaded:
        yield loaded


class Recorder:
    """The supervisor's side of the events, remembered in order."""

    def __init__(self) -> None:
        self.ready = 0
        self.outcomes: queue.Queue[Any] = queue.Queue()

    def on_ready(self) -> None:
        self.ready += 1

    def on_outcome(self, outcome: Any) -> None:
        self.outcomes.put(outcome)


class Served:
    """A RuntimeApi driven by a selector loop in a thread, as the supervisor drives it;
    calls into it (offer, close) run on that thread."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.selector = selectors.DefaultSelector()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        self.events = Recorder()
        self.api = module.RuntimeApi(listener, self.selector, self.events)
        self.host, self.port = self.api.address.split(":")
        self._calls: queue.Queue[Callable[[], None]] = queue.Queue()
        self._wake_read, self._wake_write = os.pipe()
        self.selector.register(self._wake_read, selectors.EVENT_READ, self._run_calls)
        self._running = True
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while self._running:
            for key, mask in self.selector.select(0.5):
                key.data(mask)

    def _run_calls(self, _mask: int) -> None:
        os.read(self._wake_read, 64)
        while not self._calls.empty():
            self._calls.get()()

    def call(self, function: Callable[[], None]) -> None:
        done = threading.Event()

        def run() -> None:
            try:
                function()
            finally:
                done.set()

        self._calls.put(run)
        os.write(self._wake_write, b"x")
        assert done.wait(10)

    def offer(self, request_id: str = "req-1", event: bytes = b'{"k": 1}', **fields: Any) -> None:
        invocation = self.module.Invocation(
            request_id=request_id,
            deadline_ms=fields.pop("deadline_ms", 1_900_000_000_000),
            function_arn=fields.pop("arn", "arn:aws:lambda:us-east-1:000000000000:function:f"),
            event=event,
            **fields,
        )
        self.call(lambda: self.api.offer(invocation))

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, int(self.port), timeout=10)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        connection = self.connect()
        try:
            connection.request(method, PREFIX + path, body, headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def outcome(self) -> Any:
        return self.events.outcomes.get(timeout=10)

    def stop(self) -> None:
        with contextlib.suppress(AssertionError):
            self.call(self.api.close)
        self._running = False
        os.write(self._wake_write, b"x")
        self._thread.join(5)
        os.close(self._wake_read)
        os.close(self._wake_write)
        self.selector.close()


@pytest.fixture
def served(api_module: ModuleType) -> Iterator[Served]:
    running = Served(api_module)
    yield running
    running.stop()


def next_in_thread(served: Served) -> tuple[threading.Thread, list[Any]]:
    """GET /next on a thread of its own (it waits until an invocation is offered)."""
    answers: list[Any] = []

    def poll() -> None:
        try:
            answers.append(served.request("GET", "/invocation/next"))
        except OSError as exc:
            answers.append(exc)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    return thread, answers


def take_invocation(served: Served, request_id: str = "req-1", **fields: Any) -> None:
    thread, answers = next_in_thread(served)
    served.offer(request_id, **fields)
    thread.join(10)
    assert answers and answers[0][0] == 200


def test_next_waits_for_an_invocation_and_carries_lambdas_headers(served: Served) -> None:
    thread, answers = next_in_thread(served)
    thread.join(0.3)
    assert thread.is_alive()  # a long poll: nothing to hand out yet
    context = '{\n  "custom": {"who": "caller"}\n}'  # pretty-printed JSON, as a client may send
    served.offer("req-1", b'{"k": 1}', client_context=context, deadline_ms=1_900_000_000_123)
    thread.join(10)
    status, headers, body = answers[0]
    assert status == 200
    assert body == b'{"k": 1}'
    assert headers["Lambda-Runtime-Aws-Request-Id"] == "req-1"
    assert headers["Lambda-Runtime-Deadline-Ms"] == "1900000000123"
    assert headers["Lambda-Runtime-Invoked-Function-Arn"].endswith(":function:f")
    assert headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")
    assert headers["Lambda-Runtime-Client-Context"] == '{"custom":{"who":"caller"}}'
    assert "Lambda-Runtime-Cognito-Identity" not in headers
    assert headers["Content-Type"] == "application/json"
    assert served.events.ready == 1


def test_an_invocation_offered_before_next_is_handed_out_at_once(served: Served) -> None:
    served.offer("req-early", b"")
    status, headers, body = served.request("GET", "/invocation/next")
    assert status == 200
    assert headers["Lambda-Runtime-Aws-Request-Id"] == "req-early"
    assert body == b"{}"  # an empty payload arrives as an empty object, as for Python
    assert "Lambda-Runtime-Client-Context" not in headers


def test_a_large_event_arrives_whole(served: Served) -> None:
    event = json.dumps({"data": "x" * (5 * 1024 * 1024)}).encode()  # more than a socket buffer
    served.offer("req-big", event)
    status, headers, body = served.request("GET", "/invocation/next")
    assert status == 200
    assert int(headers["Content-Length"]) == len(event)
    assert body == event


def test_a_response_is_accepted_once(served: Served) -> None:
    take_invocation(served)
    status, _, body = served.request("POST", "/invocation/req-1/response", b'{"answer": 42}')
    assert status == 202
    assert json.loads(body) == {"status": "OK"}
    outcome = served.outcome()
    assert (outcome.kind, outcome.request_id, outcome.body) == ("ok", "req-1", b'{"answer": 42}')
    status, _, body = served.request("POST", "/invocation/req-1/response", b"again")
    assert status == 403
    assert json.loads(body) == {
        "errorType": "InvalidStateTransition",
        "errorMessage": "State transition from RuntimeResponseSentState to InvocationResponse "
        "failed for runtime. Error: State transition is not allowed",
    }
    assert served.events.outcomes.empty()


def test_an_answer_for_another_request_id_is_refused(served: Served) -> None:
    take_invocation(served, "req-right")
    status, _, body = served.request("POST", "/invocation/req-wrong/response", b"{}")
    assert status == 400
    assert json.loads(body) == {
        "errorMessage": "Invalid request ID",
        "errorType": "InvalidRequestID",
    }
    status, _, _ = served.request("POST", "/invocation/req-right/response", b"{}")
    assert status == 202
    assert served.outcome().request_id == "req-right"


@pytest.mark.parametrize(
    ("headers", "body", "error_type"),
    [
        (
            {"Lambda-Runtime-Function-Error-Type": "Custom.Kind"},
            b'{"errorType": "Other"}',
            "Custom.Kind",
        ),
        ({}, b'{"errorMessage": "m", "errorType": "ValueError", "stackTrace": []}', "ValueError"),
        ({}, b"not json", "Unhandled"),
    ],
    ids=["header", "document", "neither"],
)
def test_an_error_keeps_its_body_and_takes_its_type_from_header_or_document(
    served: Served, headers: dict[str, str], body: bytes, error_type: str
) -> None:
    take_invocation(served)
    status, _, _ = served.request("POST", "/invocation/req-1/error", body, headers)
    assert status == 202
    outcome = served.outcome()
    assert (outcome.kind, outcome.body, outcome.error_type) == ("error", body, error_type)


def test_an_init_error_is_accepted_before_the_first_next_only(served: Served) -> None:
    status, _, _ = served.request("POST", "/invocation/req-1/response", b"{}")
    assert status == 403  # nothing runs during init
    document = b'{"errorMessage": "no config", "errorType": "Runtime.ImportModuleError"}'
    header = {"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"}
    status, _, _ = served.request("POST", "/init/error", document, header)
    assert status == 202
    outcome = served.outcome()
    assert (outcome.kind, outcome.error_type, outcome.body) == (
        "init_error",
        "Runtime.ImportModuleError",
        document,
    )
    status, _, body = served.request("GET", "/invocation/next")
    assert status == 403
    assert json.loads(body)["errorType"] == "InvalidStateTransition"
    assert served.events.ready == 0


def test_an_init_error_after_init_is_refused(served: Served) -> None:
    take_invocation(served)
    status, _, body = served.request("POST", "/init/error", b"{}")
    assert status == 403
    assert "from Running to InitError" in json.loads(body)["errorMessage"]


def test_a_response_over_six_megabytes_fails_the_invocation(served: Served) -> None:
    take_invocation(served)
    status, _, body = served.request("POST", "/invocation/req-1/response", b"x" * (6291556 + 1))
    assert status == 413
    assert json.loads(body)["errorType"] == "Function.ResponseSizeTooLarge"
    outcome = served.outcome()
    assert outcome.kind == "error"
    assert outcome.error_type == "Function.ResponseSizeTooLarge"
    assert json.loads(outcome.body)["errorMessage"] == (
        "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
    )


def test_one_connection_serves_one_invocation_after_another(served: Served) -> None:
    connection = served.connect()
    try:
        for number in range(3):
            served.offer(f"req-{number}")
            connection.request("GET", f"{PREFIX}/invocation/next")
            response = connection.getresponse()
            assert response.getheader("Lambda-Runtime-Aws-Request-Id") == f"req-{number}"
            response.read()
            connection.request("POST", f"{PREFIX}/invocation/req-{number}/response", b"1")
            reply = connection.getresponse()
            assert reply.status == 202
            reply.read()
            assert served.outcome().request_id == f"req-{number}"
    finally:
        connection.close()
    assert served.events.ready == 1


def raw_exchange(served: Served, request: bytes, *, after_continue: bytes = b"") -> bytes:
    """Send raw HTTP bytes; with `after_continue`, send those once "100 Continue" came."""
    with socket.create_connection((served.host, int(served.port)), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        if after_continue:
            while b"\r\n\r\n" not in received:
                received += sock.recv(4096)
            assert received.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
            received = received[len(b"HTTP/1.1 100 Continue\r\n\r\n") :]
            sock.sendall(after_continue)
        while b"\r\n\r\n" not in received:
            received += sock.recv(4096)
        return received


def test_chunked_bodies_and_expect_continue_are_understood(served: Served) -> None:
    take_invocation(served)
    head = (
        f"POST {PREFIX}/invocation/req-1/response HTTP/1.1\r\nHost: x\r\n"
        "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    answer = raw_exchange(served, head, after_continue=b'3\r\n{"a\r\n5\r\n": 1}\r\n0\r\n\r\n')
    assert answer.startswith(b"HTTP/1.1 202 ")
    assert served.outcome().body == b'{"a": 1}'


def test_unknown_paths_and_methods(served: Served) -> None:
    assert served.request("GET", "/restore/next")[0] == 404
    assert served.request("POST", "/invocation/next", b"")[0] == 405
    answer = raw_exchange(served, b"NONSENSE\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")


def test_closing_ends_a_waiting_next(served: Served) -> None:
    thread, answers = next_in_thread(served)
    thread.join(0.3)
    assert thread.is_alive()
    served.call(served.api.close)
    thread.join(10)
    assert not thread.is_alive()
    assert isinstance(answers[0], OSError)  # the connection ended without an answer
    assert served.events.outcomes.empty()


def test_a_next_whose_client_left_does_not_swallow_the_invocation(served: Served) -> None:
    with socket.create_connection((served.host, int(served.port)), timeout=10) as sock:
        sock.sendall(f"GET {PREFIX}/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        # Wait until it is parked: the first /next reports the runtime ready.
        for _ in range(200):
            if served.events.ready:
                break
            threading.Event().wait(0.01)
    served.offer("req-kept")
    status, headers, _ = served.request("GET", "/invocation/next")
    assert status == 200
    assert headers["Lambda-Runtime-Aws-Request-Id"] == "req-kept"


@pytest.mark.parametrize("step", [1, 7, 1000])
def test_the_request_reader_takes_bytes_however_they_arrive(
    api_module: ModuleType, step: int
) -> None:
    raw = (
        b"POST /a?x=1 HTTP/1.1\r\nContent-Length: 5\r\nX-Thing:  v \r\n\r\nhello"
        b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"2;ext=1\r\nhi\r\n0\r\nTrailer: t\r\n\r\n"
    )
    reader = api_module.RequestReader(1024)
    requests = []
    for start in range(0, len(raw), step):
        reader.feed(raw[start : start + step])
        while (request := reader.next_request()) is not None:
            requests.append(request)
    first, second = requests
    assert (first.method, first.path, first.body, first.keep_alive) == (
        "POST",
        "/a",
        b"hello",
        True,
    )
    assert first.headers["x-thing"] == "v"
    assert (second.path, second.body, second.keep_alive) == ("/b", b"hi", False)


def test_the_request_reader_drops_a_body_over_its_cap(api_module: ModuleType) -> None:
    reader = api_module.RequestReader(4)
    reader.feed(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789")
    request = reader.next_request()
    assert request.oversized
    assert request.body == b""


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: many\r\n\r\n",
        b"POST / HTTP/1.1\r\nBroken header\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
    ],
    ids=["request-line", "length", "header", "chunk-size", "chunk-end"],
)
def test_the_request_reader_refuses_malformed_requests(api_module: ModuleType, raw: bytes) -> None:
    reader = api_module.RequestReader(1024)
    reader.feed(raw)
    with pytest.raises(api_module.BadRequest):
        reader.next_request()
