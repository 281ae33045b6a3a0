"""The audit log's writer over a real SQLite file: what is submitted is written in the
background and read back, newest first and filtered; a stop writes everything; retention
deletes what is too old; failures and floods are logged and counted, never hidden."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from faas.domain import AuditEvent, AuditOutcome, AuditQuery
from faas.store import AuditLog, AuditRepo, make_engine, migrate, repos
from faas.store.audit import DAY_MS
from faas.store.tables import audit_events

NOW_MS = 1_700_000_000_000


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "faas.db"


@pytest.fixture
def engine(db_path: Path) -> Iterator[Engine]:
    made = make_engine(f"sqlite:///{db_path}")
    migrate(made)
    yield made
    made.dispose()


def event(number: int, **fields: object) -> AuditEvent:
    made = AuditEvent(
        time_ms=NOW_MS + number,
        request_id=f"request-{number}",
        key_id="AKIDADMIN",
        key_name="admin",
        action="lambda:GetFunction",
        resource="arn:aws:lambda:us-east-1:000000000000:function:f",
        outcome=AuditOutcome.ALLOWED,
        status=200,
        error_code=None,
        method="GET",
        path="/2015-03-31/functions/f",
        source_ip="127.0.0.1",
    )
    return dataclasses.replace(made, **fields)  # type: ignore[arg-type]


def rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(audit_events)).scalar_one())


@pytest.fixture
async def audit(engine: Engine) -> AsyncIterator[AuditLog]:
    log = AuditLog(engine, retention_days=0, retention_interval_s=3600)
    log.start(asyncio.get_running_loop())
    yield log
    await log.stop()


async def test_submitted_events_are_read_back_newest_first_with_every_field(
    audit: AuditLog,
) -> None:
    denied = event(
        2,
        key_id=None,
        key_name=None,
        action="GetFunction",
        resource=None,
        outcome=AuditOutcome.DENIED,
        status=403,
        error_code="MissingAuthenticationTokenException",
    )
    audit.submit(event(1))
    audit.submit(denied)
    assert await audit.flushed()
    assert audit.recent(AuditQuery()) == [denied, event(1)]
    assert audit.stats.written == 2


async def test_filters(audit: AuditLog) -> None:
    audit.submit(event(1))
    audit.submit(event(2, key_name="ci", key_id="AKIDCI"))
    audit.submit(event(3, outcome=AuditOutcome.DENIED, status=403, error_code="AccessDenied"))
    audit.submit(event(4, status=404, error_code="ResourceNotFoundException"))
    await audit.flushed()

    def numbers(**query: object) -> list[int]:
        found = audit.recent(AuditQuery(**query))  # type: ignore[arg-type]
        return [int(item.request_id.rsplit("-", 1)[1]) for item in found]

    assert numbers() == [4, 3, 2, 1]
    assert numbers(key="ci") == numbers(key="AKIDCI") == [2]
    assert numbers(outcome="denied") == [3]
    assert numbers(outcome="allowed") == [4, 2, 1]
    assert numbers(outcome="ResourceNotFoundException") == numbers(outcome="404") == [4]
    assert numbers(since_ms=NOW_MS + 3) == [4, 3]
    assert numbers(limit=2) == [4, 3]


async def test_overlong_values_are_cut_rather_than_failing_their_batch(audit: AuditLog) -> None:
    audit.submit(event(1, path="/" + "p" * 5000, method="M" * 40))
    await audit.flushed()
    [stored] = audit.recent(AuditQuery())
    assert (len(stored.path), len(stored.method)) == (1024, 16)


async def test_a_stop_writes_everything_submitted_before_it(engine: Engine) -> None:
    log = AuditLog(engine, retention_days=0, retention_interval_s=3600, max_batch_rows=100)
    log.start(asyncio.get_running_loop())
    for number in range(2500):
        log.submit(event(number))
    await log.stop()  # no flushed(): stop alone must not lose any
    assert rows(engine) == 2500
    assert log.stats.written == 2500


async def test_retention_deletes_events_older_than_the_retention(engine: Engine) -> None:
    seeding = AuditLog(engine, retention_days=0, retention_interval_s=3600)
    seeding.start(asyncio.get_running_loop())
    ages_days = [200, 91, 89, 1]
    for number, age in enumerate(ages_days):
        seeding.submit(event(number, time_ms=NOW_MS - age * DAY_MS))
    await seeding.stop()

    # A clock of our own: "now" is NOW_MS, whatever the date.
    log = AuditLog(
        engine, retention_days=90, retention_interval_s=0.05, clock=lambda: NOW_MS / 1000
    )
    log.start(asyncio.get_running_loop())
    try:
        for _ in range(100):
            if log.stats.deleted == 2:
                break
            await asyncio.sleep(0.02)
        kept = [NOW_MS - item.time_ms for item in log.recent(AuditQuery())]
    finally:
        await log.stop()
    assert kept == [1 * DAY_MS, 89 * DAY_MS]
    assert log.stats.deleted == 2


async def test_a_failed_write_is_logged_event_by_event_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A database without the table: every insert fails.
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    log = AuditLog(engine, retention_days=0, retention_interval_s=3600, retry_delays_s=(0.0,))
    log.start(asyncio.get_running_loop())
    try:
        with caplog.at_level(logging.WARNING, logger="faas.store.audit"):
            log.submit(event(1, request_id="lost-request"))
            assert await log.flushed()  # given up on, not waited for forever
        assert log.stats.failed == 1
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert any("AUDIT LOG WRITE FAILED" in message for message in errors)
        assert any("request_id=lost-request" in message for message in errors)
        # The writer lives on: once the database is right, events are written again.
        migrate(engine)
        log.submit(event(2))
        await log.flushed()
        assert log.stats.written == 1
    finally:
        await log.stop()
        engine.dispose()


async def test_past_the_queue_limit_events_are_dropped_counted_and_logged(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    log = AuditLog(engine, retention_days=0, retention_interval_s=3600, max_queued=5)
    log.start(asyncio.get_running_loop())
    try:
        with caplog.at_level(logging.ERROR, logger="faas.store.audit"):
            # All in one loop iteration: none can be written meanwhile.
            for number in range(8):
                log.submit(event(number))
        await log.flushed()
        assert (log.stats.written, log.stats.dropped) == (5, 3)
        assert any("event dropped" in r.getMessage() for r in caplog.records)
        # Written ones make room again.
        log.submit(event(9))
        await log.flushed()
        assert log.stats.written == 6
    finally:
        await log.stop()


def test_retention_deletes_in_chunks_until_nothing_old_is_left(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repos, "AUDIT_DELETE_CHUNK", 3)
    repo = AuditRepo(engine)
    repo.insert_many([event(number, time_ms=number) for number in range(10)])
    repo.insert_many([event(number, time_ms=1000 + number) for number in range(2)])
    assert repo.delete_older_than(1000) == 10
    assert [item.time_ms for item in repo.recent(AuditQuery())] == [1001, 1000]
