"""Schedule triggers: EventBridge rate/cron expressions that invoke a function
asynchronously with a Scheduled Event at every tick (UTC).

- A tick fires at most once: it is claimed by moving the schedule's last fired tick forward
  in the same transaction as its queued event (faas/queue/schedule_ticks.py), so neither a
  restart nor a second scheduler fires it again.
- Ticks missed while the server was down are skipped, not replayed in a burst: after a start
  the first tick fired is the first one after the start. Likewise, if the scheduler fell
  behind by more than one tick (a stalled host), only the newest due tick fires.
- A tick is fired as soon as it is due (the scheduler sleeps until the next tick, at most
  `schedules.max_sleep_s`), then runs as soon as the dispatcher takes it.
- The clock is injectable (`ScheduleClock`): tests run the schedules' time faster.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from faas.config import ScheduleSettings
from faas.domain import FunctionConfig, QueuedEvent, ScheduleTrigger
from faas.errors import InvalidParameterValue
from faas.queue.schedule_ticks import ScheduleTicks
from faas.registry.schedules import ScheduleBook
from faas.triggers.schedule_expr import InvalidSchedule, Schedule, parse

log = logging.getLogger(__name__)


class ScheduleClock:
    """The schedules' time: real time, or (for tests) real time sped up from an origin."""

    def __init__(
        self, speedup: float = 1.0, origin_s: float = 0.0, real: Callable[[], float] = time.time
    ) -> None:
        self._speedup = speedup
        self._origin = origin_s
        self._real = real

    @classmethod
    def from_settings(cls, settings: ScheduleSettings) -> ScheduleClock:
        return cls(settings.clock_speedup, settings.clock_origin_s)

    def now(self) -> float:
        return self._origin + (self._real() - self._origin) * self._speedup

    def real_seconds(self, schedule_seconds: float) -> float:
        """How long `schedule_seconds` of the schedules' time takes in real time."""
        return schedule_seconds / self._speedup


@dataclass
class _Planned:
    """A schedule as the scheduler runs it."""

    schedule: ScheduleTrigger
    parsed: Schedule
    next_tick: dt.datetime | None
    fired: int = 0
    last_fired_ms: int | None = None
    errors: int = 0
    last_error: str | None = None


class Scheduler:
    def __init__(
        self,
        book: ScheduleBook,
        ticks: ScheduleTicks,
        function_lookup: Callable[[str], FunctionConfig],
        *,
        region: str,
        account_id: str,
        clock: ScheduleClock,
        max_sleep_s: float = 1.0,
    ) -> None:
        self._book = book
        self._ticks = ticks
        self._function_lookup = function_lookup
        self._region = region
        self._account_id = account_id
        self._clock = clock
        self._max_sleep_s = max_sleep_s
        self._planned: dict[str, _Planned] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._started_at: dt.datetime | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Plan every schedule from now on (ticks missed while down are skipped) and run."""
        self._started_at = self._now()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # -- management (the gateway) ------------------------------------------------------------

    async def add_schedule(self, function_name: str, expression: str) -> ScheduleTrigger:
        """InvalidParameterValue with EventBridge's message for a bad expression;
        ResourceNotFound for a function that does not exist."""
        try:
            parse(expression)
        except InvalidSchedule as exc:
            raise InvalidParameterValue(str(exc)) from exc
        cfg = self._function_lookup(function_name)
        schedule = ScheduleTrigger(
            id=uuid.uuid4().hex[:12],
            function_name=cfg.name,
            expression=expression.strip(),
            created_ms=int(self._clock.now() * 1000),
        )
        await asyncio.to_thread(self._book.add, schedule)
        self._wake.set()
        return schedule

    async def remove_schedule(self, schedule_id: str) -> ScheduleTrigger:
        schedule = await asyncio.to_thread(self._book.remove, schedule_id)
        self._planned.pop(schedule_id, None)
        self._wake.set()
        return schedule

    def owns(self, trigger_id: str) -> bool:
        return self._book.get(trigger_id) is not None

    def report(self) -> list[dict[str, object]]:
        """Each schedule's state, for /health and `faas trigger ls`."""
        rows: list[dict[str, object]] = []
        for schedule in self._book.schedules():
            planned = self._planned.get(schedule.id)
            rows.append(
                {
                    "Id": schedule.id,
                    "Type": "schedule",
                    "FunctionName": schedule.function_name,
                    "Schedule": schedule.expression,
                    "State": "Scheduled" if planned and planned.next_tick else "Ended",
                    "NextTick": _ms(planned.next_tick) if planned and planned.next_tick else None,
                    "Delivered": planned.fired if planned else 0,
                    "LastDelivery": planned.last_fired_ms if planned else None,
                    "Errors": planned.errors if planned else 0,
                    "LastError": planned.last_error if planned else None,
                }
            )
        return rows

    # -- running -------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._fire_due()
            except Exception:
                log.exception("the scheduler failed a round; trying again")
            await self._sleep()

    async def _sleep(self) -> None:
        """Until the next tick, at most max_sleep_s; with no schedule at all, until one is
        added (a server without schedules never wakes for them)."""
        upcoming = [p.next_tick for p in self._planned.values() if p.next_tick is not None]
        delay: float | None = self._max_sleep_s if self._planned else None
        if upcoming:
            until = (min(upcoming) - self._now()).total_seconds()
            delay = max(0.0, min(self._max_sleep_s, self._clock.real_seconds(until)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def _fire_due(self) -> None:
        self._sync_plans()
        now = self._now()
        for planned in list(self._planned.values()):
            due = self._newest_due(planned, now)
            if due is not None:
                await self._fire(planned, due)

    def _sync_plans(self) -> None:
        """Plans for schedules added since, none for schedules removed."""
        current = {s.id: s for s in self._book.schedules()}
        for gone in set(self._planned) - set(current):
            del self._planned[gone]
        for schedule_id, schedule in current.items():
            if schedule_id not in self._planned:
                self._planned[schedule_id] = self._plan(schedule)

    def _plan(self, schedule: ScheduleTrigger) -> _Planned:
        parsed = parse(schedule.expression)
        started = self._started_at or self._now()
        cursor = max(started, _moment(schedule.created_ms))
        if schedule.last_tick_ms is not None:
            cursor = max(cursor, _moment(schedule.last_tick_ms))
        anchor = _moment(schedule.created_ms)
        return _Planned(schedule, parsed, parsed.next_after(cursor, anchor))

    def _newest_due(self, planned: _Planned, now: dt.datetime) -> dt.datetime | None:
        """The newest tick due by `now` (older ones are skipped); the plan moves past it."""
        due = None
        anchor = _moment(planned.schedule.created_ms)
        while planned.next_tick is not None and planned.next_tick <= now:
            due = planned.next_tick
            planned.next_tick = planned.parsed.next_after(due, anchor)
        return due

    async def _fire(self, planned: _Planned, tick: dt.datetime) -> None:
        schedule = planned.schedule
        event = self._event(schedule, tick)
        try:
            fired = await self._ticks.fire(schedule.id, _ms(tick), event)
        except Exception as exc:
            planned.errors += 1
            planned.last_error = f"{type(exc).__name__}: {exc}"[:500]
            log.error("schedule %s: tick %s not fired: %s", schedule.id, tick, exc)
            return
        if fired:
            planned.fired += 1
            planned.last_fired_ms = int(self._clock.now() * 1000)

    def _event(self, schedule: ScheduleTrigger, tick: dt.datetime) -> QueuedEvent:
        """EventBridge's Scheduled Event for the tick."""
        document = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self._account_id,
            "time": tick.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._region,
            "resources": [f"arn:aws:events:{self._region}:{self._account_id}:rule/{schedule.id}"],
            "detail": {},
        }
        now_ms = int(time.time() * 1000)
        return QueuedEvent(
            request_id=str(uuid.uuid4()),
            function_name=schedule.function_name,
            qualifier=None,
            payload=orjson.dumps(document),
            client_context=None,
            enqueued_at_ms=now_ms,
            not_before_ms=now_ms,
        )

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock.now(), tz=dt.UTC)


def _moment(epoch_ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC)


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)
