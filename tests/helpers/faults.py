"""A faas server set up for fault tests (short intervals, uids of its own), and the books
kept for what it answered: records and the async queue, read from its database."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

from tests.helpers.leaks import Footprint, footprint, uid_base
from tests.helpers.load import Answer, Call
from tests.helpers.server import FaasServer

# Counts, not durations: each fault test takes seconds on a 2-CPU machine; raise them for a
# longer run (FAAS_FAULT_SYNC_CALLS=20000 ...).
SYNC_CALLS = int(os.environ.get("FAAS_FAULT_SYNC_CALLS", "1200"))
ASYNC_CALLS = int(os.environ.get("FAAS_FAULT_ASYNC_CALLS", "150"))
# Seconds, not minutes: idle workers are reaped after a second, failed events retried at
# once, a dead server's leases lapse after two seconds.
FAST = {
    "FAAS_POOL_IDLE_TTL_S": "1",
    "FAAS_POOL_REAP_INTERVAL_S": "0.2",
    "FAAS_QUEUE_POLL_INTERVAL_S": "0.1",
    "FAAS_QUEUE_RETRY_BACKOFF_BASE_S": "0.1",
    "FAAS_QUEUE_THROTTLE_BACKOFF_S": "0.1",
    "FAAS_QUEUE_LEASE_S": "2",
}
HELLO = """
import os, time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid(), "n": event.get("n")}
"""


@dataclass(frozen=True)
class FaultServer:
    server: FaasServer
    first_uid: int

    @property
    def pid(self) -> int:
        return self.server.process.pid

    def footprint(self) -> Footprint:
        return footprint(self.pid, self.server.data_dir, self.first_uid)

    def workers(self) -> frozenset[int]:
        """Processes the zygotes forked (workers and spares): the server's grandchildren."""
        found: set[int] = set()
        for zygote in self.zygotes():
            with contextlib.suppress(psutil.NoSuchProcess):
                found |= {child.pid for child in psutil.Process(zygote).children()}
        return frozenset(found)

    def zygotes(self) -> frozenset[int]:
        """The server's zygote processes (its other children run mkfs, mount, ...)."""
        found = set()
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(self.pid).children():
                with contextlib.suppress(psutil.NoSuchProcess):
                    if any(part.endswith("zygote.py") for part in child.cmdline()):
                        found.add(child.pid)
        return frozenset(found)


def start_fault_server(data_dir: Path, env: Mapping[str, str] | None = None) -> FaultServer:
    first_uid = uid_base(int(uuid.uuid4().int % 2000))
    environment = {**FAST, "FAAS_SANDBOX_FIRST_UID": str(first_uid), **(env or {})}
    return FaultServer(FaasServer.start(data_dir, env=environment), first_uid)


def restart(old: FaultServer, env: Mapping[str, str] | None = None) -> FaultServer:
    environment = {**FAST, "FAAS_SANDBOX_FIRST_UID": str(old.first_uid), **(env or {})}
    return FaultServer(FaasServer.start(old.server.data_dir, env=environment), old.first_uid)


def calls(
    function: str, count: int, invocation_type: str = "RequestResponse", sleep_s: float = 0.0
) -> list[Call]:
    """`count` calls of HELLO; `sleep_s` keeps each in its worker a while (a fault then
    meets invocations in flight)."""
    return [
        Call(function, f'{{"n": {n}, "sleep": {sleep_s}}}'.encode(), invocation_type)
        for n in range(count)
    ]


def interleave(*streams: list[Call]) -> list[Call]:
    """Calls of several streams, alternating, so that each runs through the whole load."""
    mixed: list[Call] = []
    longest = max(len(stream) for stream in streams)
    for index in range(longest):
        mixed += [stream[index] for stream in streams if index < len(stream)]
    return mixed


def database(data_dir: Path) -> sqlite3.Connection:
    """A read-only connection beside the server (SQLite in WAL mode: never blocks it)."""
    return sqlite3.connect(f"file:{data_dir / 'faas.db'}?mode=ro", uri=True, timeout=30)


def drain(server: FaasServer) -> None:
    """Records are queryable once everything answered so far is in the database: a query
    of records waits for that."""
    request = urllib.request.Request(f"{server.url}/faas/v1/invocations?limit=1")
    with server.urlopen(request, timeout=60) as response:
        response.read()


def recorded_ids(server: FaasServer) -> dict[str, list[str]]:
    """Request id -> the statuses of its records (an event retried has several)."""
    drain(server)
    with contextlib.closing(database(server.data_dir)) as connection:
        rows = connection.execute("SELECT request_id, status FROM invocations").fetchall()
    found: dict[str, list[str]] = {}
    for request_id, status in rows:
        found.setdefault(str(request_id), []).append(str(status))
    return found


def queued_events(data_dir: Path) -> int:
    with contextlib.closing(database(data_dir)) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM event_queue").fetchone()[0])


def wait_for_queue(data_dir: Path, timeout_s: float) -> int:
    """Events still queued after waiting up to `timeout_s` for the queue to empty."""
    deadline = time.monotonic() + timeout_s
    left = queued_events(data_dir)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = queued_events(data_dir)
    return left


def missing_records(server: FaasServer, answers: Iterable[Answer]) -> list[Answer]:
    """Answered invocations (a 200 or an accepted 202) without a record."""
    on_the_books = recorded_ids(server)
    return [a for a in answers if a.answered and a.request_id not in on_the_books]


def integrity(data_dir: Path) -> str:
    with contextlib.closing(database(data_dir)) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


def kill_quietly(pid: int, sig: int) -> bool:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True
