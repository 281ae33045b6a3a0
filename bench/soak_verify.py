"""The soak's end: wait until every accepted event has run, then hold the tally against the
database: each synchronous answer has its record, each async event (by its request id) and
each file (by its delivery ledger row's request id) ran, and succeeded at most once."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.records_db import database_path
from bench.servers import ServerProcess, call_api, health
from bench.soak_traffic import Tally
from faas.domain import InvocationStatus

DRAIN_POLL_S = 0.5


async def wait_drained(
    http: aiohttp.ClientSession, server: ServerProcess, files: int, timeout_s: float
) -> float:
    """Seconds until the queue is empty and the trigger delivered every file (RuntimeError
    after `timeout_s`); then the records answered so far are in the database."""
    started = time.monotonic()
    while True:
        report = await health(http, server.target)
        delivered = sum(int(t.get("Delivered", 0)) for t in report["triggers"])
        backlog = sum(int(t.get("Backlog", 0)) for t in report["triggers"])
        if int(report["queue"]["events"]) == 0 and backlog == 0 and delivered >= files:
            break
        if time.monotonic() - started > timeout_s:
            raise RuntimeError(f"events still pending after {timeout_s} s: {report['queue']}")
        await asyncio.sleep(DRAIN_POLL_S)
    # Listing records waits until every record answered so far is stored.
    await call_api(http, server.target, "GET", "/faas/v1/invocations?limit=1")
    return time.monotonic() - started


@dataclass(frozen=True, slots=True)
class EventCheck:
    """One kind of event (async Invokes, or files) against its records."""

    accepted: int
    recorded: int  # accepted events with at least one record
    succeeded: int
    # Every attempt failed (the worker was killed each time, or the function failed).
    failed: int
    retried: int  # events that needed more than one attempt
    missing: int  # accepted, no record at all
    succeeded_twice: int

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.succeeded_twice == 0 and self.recorded == self.accepted

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass(frozen=True, slots=True)
class Verdict:
    sync_answered: int
    sync_recorded: int
    async_events: EventCheck
    file_events: EventCheck
    # Files written without a delivery ledger row (never queued).
    files_undelivered: int

    @property
    def ok(self) -> bool:
        return (
            self.sync_recorded == self.sync_answered
            and self.async_events.ok
            and self.file_events.ok
            and self.files_undelivered == 0
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "sync_answered": self.sync_answered,
            "sync_recorded": self.sync_recorded,
            "async_events": self.async_events.as_dict(),
            "file_events": self.file_events.as_dict(),
            "files_undelivered": self.files_undelivered,
            "ok": self.ok,
        }


def verify(data_dir: Path, tally: Tally, invoked: Iterable[str]) -> Verdict:
    path = database_path(data_dir)
    connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=30.0)
    try:
        sync_rows = connection.execute(
            "SELECT function_name, count(*) FROM invocations "
            "WHERE invocation_type = 'RequestResponse' GROUP BY function_name"
        ).fetchall()
        attempts: dict[str, list[str]] = defaultdict(list)
        for request_id, status in connection.execute(
            "SELECT request_id, status FROM invocations WHERE invocation_type = 'Event'"
        ):
            attempts[str(request_id)].append(str(status))
        ledger = dict(connection.execute("SELECT key, request_id FROM bucket_ledger").fetchall())
    finally:
        connection.close()
    names = set(invoked)
    sync_recorded = sum(int(n) for name, n in sync_rows if name in names)
    accepted = [rid for rids in tally.accepted.values() for rid in rids]
    delivered = [str(ledger[name]) for name in tally.files if name in ledger]
    return Verdict(
        sync_answered=sum(tally.answered.values()),
        sync_recorded=sync_recorded,
        async_events=check_events(accepted, attempts),
        file_events=check_events(delivered, attempts),
        files_undelivered=len(tally.files) - len(delivered),
    )


def check_events(request_ids: list[str], attempts: Mapping[str, list[str]]) -> EventCheck:
    statuses = [attempts.get(rid, []) for rid in request_ids]
    successes = [s.count(InvocationStatus.SUCCESS.value) for s in statuses]
    return EventCheck(
        accepted=len(request_ids),
        recorded=sum(1 for s in statuses if s),
        succeeded=sum(1 for n in successes if n >= 1),
        failed=sum(1 for s, n in zip(statuses, successes, strict=True) if s and n == 0),
        retried=sum(1 for s in statuses if len(s) > 1),
        missing=sum(1 for s in statuses if not s),
        succeeded_twice=sum(1 for n in successes if n > 1),
    )
