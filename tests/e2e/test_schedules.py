"""Schedule triggers through the real server and CLI, on a sped-up schedule clock
(schedules.clock_speedup: a minute of schedule time per real second): a rate schedule fires
on time with EventBridge's Scheduled Event, runs its function, is not fired twice across a
restart, skips the ticks missed while down, and stops when removed."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.server import FaasServer

HELLO = """
def handler(event, context):
    return event["time"]
"""
SPEEDUP = 60.0


def schedule_env(origin: float, *, dispatch: bool) -> dict[str, str]:
    return {
        "FAAS_SCHEDULES_CLOCK_SPEEDUP": str(SPEEDUP),
        "FAAS_SCHEDULES_CLOCK_ORIGIN_S": str(origin),
        "FAAS_SCHEDULES_MAX_SLEEP_S": "0.2",
        "FAAS_QUEUE_DISPATCH": "true" if dispatch else "false",
        "FAAS_QUEUE_POLL_INTERVAL_S": "0.1",
    }


def queued(data_dir: Path) -> list[tuple[dict[str, Any], int]]:
    """The Scheduled Events waiting, by tick time, with when each was queued (real ms)."""
    with contextlib.closing(sqlite3.connect(data_dir / "faas.db")) as raw:
        rows = raw.execute("SELECT payload, enqueued_at_ms FROM event_queue").fetchall()
    return sorted(((json.loads(p), int(at)) for p, at in rows), key=lambda r: r[0]["time"])


def wait_for(check: Callable[[], Any], timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def ok(completed: Any) -> str:
    assert completed.returncode == 0, completed.stderr
    return str(completed.stdout)


def real_time_of(tick: str, origin: float) -> float:
    """When a tick of the sped-up clock came, in real time."""
    moment = dt.datetime.strptime(tick, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    return origin + (moment.timestamp() - origin) / SPEEDUP


@pytest.fixture
def origin() -> float:
    return time.time()


@pytest.fixture
def paused(tmp_path: Path, origin: float) -> Iterator[FaasServer]:
    server = FaasServer.start(tmp_path / "data", env=schedule_env(origin, dispatch=False))
    try:
        server.deploy("ticker", {"app.py": HELLO})
        yield server
    finally:
        server.stop()


def test_a_rate_schedule_fires_on_time_with_eventbridges_event(
    paused: FaasServer, origin: float
) -> None:
    out = ok(paused.cli("--json", "trigger", "add", "ticker", "--schedule", "rate(1 minute)"))
    schedule_id = json.loads(out)["Id"]
    found = wait_for(lambda: len(queued(paused.data_dir)) >= 3)
    assert found
    ticks = queued(paused.data_dir)[:3]
    event = ticks[0][0]
    assert set(event) == {
        "version", "id", "detail-type", "source", "account", "time", "region", "resources",
        "detail",
    }  # fmt: skip
    assert event["version"] == "0"
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["account"] == "000000000000"
    assert event["region"] == "us-east-1"
    assert event["resources"] == [f"arn:aws:events:us-east-1:000000000000:rule/{schedule_id}"]
    assert event["detail"] == {}
    assert len({e["id"] for e, _ in ticks}) == 3
    # One minute of schedule time apart, each queued within a second of its tick.
    times = [dt.datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%SZ") for e, _ in ticks]
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [60.0, 60.0]
    for event, queued_ms in ticks:
        # (the queue's time is in whole milliseconds, rounded down)
        assert -0.01 <= queued_ms / 1000 - real_time_of(event["time"], origin) < 1.0
    listed = ok(paused.cli("trigger", "ls"))
    assert schedule_id in listed and "rate(1 minute)" in listed and "Scheduled" in listed


def test_a_schedule_is_not_fired_twice_across_a_restart_and_skips_missed_ticks(
    tmp_path: Path, origin: float
) -> None:
    env = schedule_env(origin, dispatch=False)
    server = FaasServer.start(tmp_path / "data", env=env)
    try:
        server.deploy("ticker", {"app.py": HELLO})
        ok(server.cli("trigger", "add", "ticker", "--schedule", "rate(1 minute)"))
        wait_for(lambda: len(queued(server.data_dir)) >= 2)
    finally:
        server.stop()
    before = [e["time"] for e, _ in queued(tmp_path / "data")]
    down_at = time.time()
    time.sleep(3)  # three minutes of schedule time
    server = FaasServer.start(tmp_path / "data", env=env)
    try:
        started_at = time.time()
        wait_for(lambda: len(queued(server.data_dir)) >= len(before) + 2)
    finally:
        server.stop()
    after = [e["time"] for e, _ in queued(tmp_path / "data")]
    assert after[: len(before)] == before
    assert len(set(after)) == len(after)  # no tick twice
    restarted = [real_time_of(t, origin) for t in after[len(before) :]]
    # Ticks that fell while it was down were skipped, not replayed at the start.
    assert all(moment > started_at - 0.5 for moment in restarted), (down_at, started_at)


def test_a_schedule_runs_its_function_and_stops_when_removed(tmp_path: Path, origin: float) -> None:
    server = FaasServer.start(tmp_path / "data", env=schedule_env(origin, dispatch=True))
    try:
        server.deploy("ticker", {"app.py": HELLO})
        out = ok(server.cli("--json", "trigger", "add", "ticker", "--schedule", "rate(1 minute)"))
        schedule_id = json.loads(out)["Id"]

        def runs() -> list[dict[str, Any]]:
            with server.urlopen(f"{server.url}/faas/v1/invocations?function=ticker") as r:
                return list(json.load(r)["Invocations"])

        assert wait_for(lambda: len(runs()) >= 2)
        assert {r["InvocationType"] for r in runs()} == {"Event"}
        assert ok(server.cli("trigger", "rm", schedule_id)).strip() == (
            f"deleted trigger {schedule_id}"
        )
        count = len(runs())
        time.sleep(2.5)
        assert len(runs()) <= count + 1  # at most one tick already queued when removed
        assert schedule_id not in ok(server.cli("trigger", "ls"))
    finally:
        server.stop()


def test_bad_schedules_get_eventbridges_message_in_one_line(paused: FaasServer) -> None:
    completed = paused.cli("trigger", "add", "ticker", "--schedule", "cron(0 12 * * * *)")
    assert completed.returncode != 0
    (line,) = completed.stderr.strip().splitlines()
    assert "Parameter ScheduleExpression is not valid." in line
    both = paused.cli("trigger", "add", "ticker", "--schedule", "rate(1 minute)", "--bucket", "b")
    assert both.returncode == 2 and "--bucket NAME or --schedule" in both.stderr
    gone = paused.cli("trigger", "add", "ghost", "--schedule", "rate(1 minute)")
    assert gone.returncode != 0 and "Function not found" in gone.stderr
