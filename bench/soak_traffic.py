"""The soak's traffic: `concurrency` keep-alive connections sharing one budget of invocations,
each taking the next one and sending it: a synchronous Invoke, an async one (Event), or a file
written into the watched bucket instead. What came back is tallied by kind.

The connections speak HTTP/1.1 on asyncio streams with the request bytes built once per
signature: a million requests through aiohttp's client would cost the load generator more CPU
than the server, on the same two cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from urllib.parse import urlsplit

import orjson

from bench.servers import EVENT, Target, invoke_url

# A signature stays valid for 5 minutes: each request's bytes are signed again after this long.
RESIGN_AFTER_S = 60.0
REQUEST_TIMEOUT_S = 60.0
FILE_CONTENT = b"x" * 256
OK = "ok"


class Kind(Enum):
    SYNC = "sync"
    ASYNC = "async"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class Mix:
    """Out of every 100 invocations, how many are async Invokes and how many files; the rest
    are synchronous Invokes. Kinds follow the invocation's index, so the totals are exact."""

    async_percent: int = 10
    file_percent: int = 2

    def kind(self, index: int) -> Kind:
        slot = index % 100
        if slot < self.async_percent:
            return Kind.ASYNC
        if slot < self.async_percent + self.file_percent:
            return Kind.FILE
        return Kind.SYNC


@dataclass
class Tally:
    """Everything the connections saw so far; the sampler reads it (same event loop)."""

    started: int = 0
    finished: int = 0
    # (kind, outcome) -> count; outcome "ok" or what went wrong, e.g. "function error:
    # Runtime.ExitError", "HTTP 429 TooManyRequestsException", "client: TimeoutError".
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Synchronous answers (HTTP 200, function errors included) per function: each must have
    # its record.
    answered: Counter[str] = field(default_factory=Counter)
    # Request ids of accepted async events (202), per function.
    accepted: dict[str, list[str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    # The newest worker pid each function answered from: where the killer aims.
    last_pid: dict[str, int] = field(default_factory=dict)
    # Latencies (ns) of synchronous invokes since the sampler last took them.
    latencies_ns: list[int] = field(default_factory=list)

    def count(self, kind: Kind, outcome: str) -> None:
        self.outcomes[(kind.value, outcome)] += 1
        self.finished += 1

    def take_latencies(self) -> list[int]:
        taken, self.latencies_ns = self.latencies_ns, []
        return taken

    def errors(self) -> int:
        return sum(n for (_, outcome), n in self.outcomes.items() if outcome != OK)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


class Requests:
    """The signed request bytes for each (function, kind), signed again when they age."""

    def __init__(self, target: Target) -> None:
        self._target = target
        self._host = urlsplit(target.url).netloc
        self._cache: dict[tuple[str, Kind], tuple[float, bytes]] = {}

    def get(self, function: str, kind: Kind) -> bytes:
        key = (function, kind)
        cached = self._cache.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < RESIGN_AFTER_S:
            return cached[1]
        url = invoke_url(self._target.url, function)
        headers = {"Content-Type": "application/json"}
        if kind is Kind.ASYNC:
            headers["X-Amz-Invocation-Type"] = "Event"
        signed = self._target.signed("POST", url, EVENT, headers)
        lines = [f"POST {urlsplit(url).path} HTTP/1.1", f"Host: {self._host}"]
        lines += [f"{name}: {value}" for name, value in signed.items()]
        lines.append(f"Content-Length: {len(EVENT)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + EVENT
        self._cache[key] = (now, request)
        return request


class Connection:
    """One keep-alive connection; reopened after an error or a `Connection: close`."""

    def __init__(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def exchange(self, request: bytes) -> Answer:
        if self._streams is None:
            self._streams = await asyncio.open_connection(*self._address)
        reader, writer = self._streams
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status, headers = _parse_head(head)
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        except BaseException:
            self.close()
            raise
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Answer(status, headers, body)

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(status_line.split(" ", 2)[1]), headers


def classify(kind: Kind, answer: Answer) -> str:
    """OK, or the error in the words of the answer (Lambda's error type where it has one)."""
    expected = 202 if kind is Kind.ASYNC else 200
    if answer.status == expected:
        if "x-amz-function-error" not in answer.headers:
            return OK
        error = _error_type(answer.body) or answer.headers["x-amz-function-error"]
        return f"function error: {error}"
    code = answer.headers.get("x-amzn-errortype") or _error_type(answer.body) or "no error type"
    return f"HTTP {answer.status} {code}"


def _error_type(body: bytes) -> str | None:
    with contextlib.suppress(ValueError):
        document = orjson.loads(body)
        if isinstance(document, dict):
            for key in ("errorType", "Type", "__type"):
                if isinstance(document.get(key), str):
                    return str(document[key])
    return None


@dataclass(frozen=True, slots=True)
class Traffic:
    """What to send: `invocations` in all over `concurrency` connections; `invoked` are the
    functions called directly; files go to `bucket_dir` (their trigger's function)."""

    target: Target
    invocations: int
    concurrency: int
    invoked: Sequence[str]
    bucket_dir: Path
    mix: Mix
    seed: int = 1


async def drive(traffic: Traffic, tally: Tally) -> None:
    """Send every invocation of the budget; returns when all are answered."""
    requests = Requests(traffic.target)
    parts = urlsplit(traffic.target.url)
    indexes = itertools.count()
    rng = random.Random(traffic.seed)

    async def one_connection() -> None:
        connection = Connection(parts.hostname or "127.0.0.1", parts.port or 80)
        try:
            while (index := next(indexes)) < traffic.invocations:
                tally.started += 1
                kind = traffic.mix.kind(index)
                if kind is Kind.FILE:
                    _write_file(traffic.bucket_dir, index, tally)
                    continue
                function = rng.choice(traffic.invoked)
                await _invoke(connection, requests.get(function, kind), function, kind, tally)
        finally:
            connection.close()

    await asyncio.gather(*(one_connection() for _ in range(traffic.concurrency)))


def _write_file(directory: Path, index: int, tally: Tally) -> None:
    name = f"f-{index:08d}.bin"
    with (directory / name).open("wb") as stream:
        stream.write(FILE_CONTENT)
    tally.files.append(name)
    tally.count(Kind.FILE, OK)


async def _invoke(
    connection: Connection, request: bytes, function: str, kind: Kind, tally: Tally
) -> None:
    started = time.perf_counter_ns()
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            answer = await connection.exchange(request)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as exc:
        tally.count(kind, f"client: {type(exc).__name__}")
        return
    outcome = classify(kind, answer)
    tally.count(kind, outcome)
    if kind is Kind.ASYNC:
        if answer.status == 202:
            tally.accepted.setdefault(function, []).append(answer.headers["x-amzn-requestid"])
        return
    tally.latencies_ns.append(time.perf_counter_ns() - started)
    if answer.status == 200:
        tally.answered[function] += 1
        if outcome == OK:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                tally.last_pid[function] = int(orjson.loads(answer.body)["pid"])
