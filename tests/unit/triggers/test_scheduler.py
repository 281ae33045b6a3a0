"""The scheduler (faas/triggers/schedule.py) on a real SQLite store with an injected clock:
ticks fire on time with EventBridge's Scheduled Event, at most once (also with two schedulers
and across a restart), missed ticks are skipped rather than replayed, removed schedules stop."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from faas.domain import FunctionConfig
from faas.errors import InvalidParameterValue, ResourceNotFound
from faas.queue.enqueuer import Enqueuer
from faas.queue.schedule_ticks import ScheduleTicks
from faas.registry.schedules import ScheduleBook
from faas.store import make_engine, migrate
from faas.store.queue import EventQueueRepo
from faas.store.schedules import ScheduleRepo
from faas.triggers.schedule import ScheduleClock, Scheduler
from tests.helpers.sealing import TEST_SEALER

T0 = dt.datetime(2026, 12, 5, 11, 58, 30, tzinfo=dt.UTC).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def function(name: str) -> FunctionConfig:
    if name != "fn":
        raise ResourceNotFound(f"Function not found: {name}")
    return FunctionConfig(
        "fn", "python3.11", "app.handler", "", 128, 3, 512, {}, "", "0", 0, "r", ""
    )


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    made = make_engine(f"sqlite:///{tmp_path / 'faas.db'}")
    migrate(made, sealer=TEST_SEALER)
    return made


def make_scheduler(engine: Engine, clock: Clock) -> Scheduler:
    book = ScheduleBook(ScheduleRepo(engine))
    book.load()
    queue = EventQueueRepo(engine)
    enqueuer = Enqueuer(queue, max_batch=10, max_events=1000, on_committed=lambda: None)
    return Scheduler(
        book,
        ScheduleTicks(ScheduleRepo(engine), enqueuer, on_committed=lambda: None),
        function,
        region="eu-west-1",
        account_id="000000000000",
        clock=ScheduleClock(real=clock),
        max_sleep_s=0.005,
    )


def events(engine: Engine) -> list[dict[str, Any]]:
    repo = EventQueueRepo(engine)
    claimed = repo.claim("reader", now_ms=2**62, lease_ms=1, limit=1000)
    return sorted((json.loads(e.payload) for e in claimed), key=lambda d: str(d["time"]))


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.005)


@pytest.fixture
async def running(engine: Engine) -> AsyncIterator[tuple[Scheduler, Clock]]:
    clock = Clock(T0)
    scheduler = make_scheduler(engine, clock)
    scheduler.start()
    try:
        yield scheduler, clock
    finally:
        await scheduler.stop()


async def at(clock: Clock, moment: float) -> None:
    clock.now = moment
    await settle()


async def test_a_rate_fires_every_period_from_its_creation(
    engine: Engine, running: tuple[Scheduler, Clock]
) -> None:
    scheduler, clock = running
    schedule = await scheduler.add_schedule("fn", "rate(5 minutes)")
    await at(clock, T0 + 299)
    assert events(engine) == []
    await at(clock, T0 + 300)
    (event,) = events(engine)
    assert event == {
        "version": "0",
        "id": event["id"],
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": "2026-12-05T12:03:30Z",
        "region": "eu-west-1",
        "resources": [f"arn:aws:events:eu-west-1:000000000000:rule/{schedule.id}"],
        "detail": {},
    }
    # Far behind (a stalled host): only the newest due tick fires, not a burst.
    await at(clock, T0 + 3600)
    assert [e["time"] for e in events(engine)] == ["2026-12-05T12:58:30Z"]
    (row,) = scheduler.report()
    assert row["Delivered"] == 2 and row["State"] == "Scheduled"


async def test_a_cron_fires_at_its_minute_and_a_removed_schedule_stops(
    engine: Engine, running: tuple[Scheduler, Clock]
) -> None:
    scheduler, clock = running
    schedule = await scheduler.add_schedule("fn", "cron(0 12 * * ? *)")
    await at(clock, T0 + 89)  # 11:59:59
    assert events(engine) == []
    await at(clock, T0 + 90)  # 12:00:00
    assert [e["time"] for e in events(engine)] == ["2026-12-05T12:00:00Z"]
    await scheduler.remove_schedule(schedule.id)
    await at(clock, T0 + 90 + 86400)
    assert events(engine) == []
    assert scheduler.report() == []


async def test_ticks_fire_once_across_a_restart_and_missed_ones_are_skipped(
    engine: Engine,
) -> None:
    clock = Clock(T0)
    first = make_scheduler(engine, clock)
    first.start()
    await first.add_schedule("fn", "rate(1 minute)")
    await at(clock, T0 + 60)
    await at(clock, T0 + 120)
    await first.stop()
    assert len(events(engine)) == 2
    # Down for three ticks; a restart (and a second scheduler beside it) fires the next
    # tick after the start once, and none of the missed ones.
    clock.now = T0 + 330
    second, third = make_scheduler(engine, clock), make_scheduler(engine, clock)
    second.start()
    third.start()
    try:
        await at(clock, T0 + 359)
        assert events(engine) == []
        await at(clock, T0 + 360)
        assert [e["time"] for e in events(engine)] == ["2026-12-05T12:04:30Z"]
    finally:
        await second.stop()
        await third.stop()


async def test_bad_schedules_are_refused(running: tuple[Scheduler, Clock]) -> None:
    scheduler, _ = running
    with pytest.raises(InvalidParameterValue, match="ScheduleExpression is not valid"):
        await scheduler.add_schedule("fn", "rate(1 minutes)")
    with pytest.raises(ResourceNotFound):
        await scheduler.add_schedule("ghost", "rate(1 minute)")
    with pytest.raises(ResourceNotFound):
        await scheduler.remove_schedule("nosuch")
