"""The log store against a real database (SQLite, and PostgreSQL where it answers): writes
off the loop, pages that end anywhere, streams both ways, retention and the size cap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from faas.config import LogSettings
from faas.domain import LogChunk, LogQuery
from faas.store import make_engine, migrate
from faas.store.logs import LogStore
from tests.helpers.postgres import schema_url
from tests.helpers.sealing import TEST_SEALER

GROUP = "/aws/lambda/fn"
T0 = 1_767_225_600_000


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'faas.db'}"
        made = make_engine(url)
        migrate(made, sealer=TEST_SEALER)
        yield made
        made.dispose()
    else:
        for url in schema_url():
            made = make_engine(url)
            migrate(made, sealer=TEST_SEALER)
            yield made
            made.dispose()


class Clock:
    now_s = T0 / 1000 + 60

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
async def store(engine: Engine) -> AsyncIterator[LogStore]:
    settings = LogSettings(flush_interval_s=0.01, retention_batch_rows=3, max_total_mb=1)
    made = LogStore(engine, settings, clock=Clock())
    made.writer.start(asyncio.get_running_loop())
    yield made
    await made.stop()


def chunk(request_id: str, start_ms: int, lines: int, stream: str = "s1") -> LogChunk:
    events = tuple((start_ms + i, f"{request_id} line {i}") for i in range(lines))
    return LogChunk(GROUP, stream, request_id, events)


async def test_pages_end_anywhere_and_go_on_from_there(store: LogStore) -> None:
    for n in range(5):
        store.append(chunk(f"r{n}", T0 + n * 100, 3, stream=f"s{n % 2}"))
    await store.flushed()
    seen: list[str] = []
    position = None
    pages = 0
    while True:
        page = store.filter(LogQuery(GROUP, limit=4), position)
        seen += [event.message for event in page.events]
        pages += 1
        if page.next_position is None:
            break
        position = page.next_position
    assert seen == [f"r{n} line {i}" for n in range(5) for i in range(3)]
    assert pages == 4
    only = store.filter(LogQuery(GROUP, request_id="r3", matches=lambda m: "2" in m), None)
    assert [e.message for e in only.events] == ["r3 line 2"]
    window = store.filter(LogQuery(GROUP, start_ms=T0 + 101, end_ms=T0 + 201), None)
    assert [e.message for e in window.events] == [
        "r1 line 1",
        "r1 line 2",
        "r2 line 0",
        "r2 line 1",
    ]


async def test_a_stream_reads_forward_and_back(store: LogStore) -> None:
    for n in range(4):
        store.append(chunk(f"r{n}", T0 + n * 100, 2))
    await store.flushed()
    everything = store.stream_events(
        GROUP, "s1", start_ms=None, end_ms=None, position=None, forward=True, limit=100
    )
    assert len(everything) == 8
    last_three = store.stream_events(
        GROUP, "s1", start_ms=None, end_ms=None, position=None, forward=False, limit=3
    )
    assert [e.message for e in last_three] == ["r2 line 1", "r3 line 0", "r3 line 1"]
    first = last_three[0]
    before = store.stream_events(
        GROUP,
        "s1",
        start_ms=None,
        end_ms=None,
        position=(first.chunk_id, first.index),
        forward=False,
        limit=100,
    )
    assert [e.message for e in before] == [e.message for e in everything[:5]]
    streams = store.streams(
        GROUP, prefix="", by_last_event=True, descending=True, offset=0, limit=10
    )
    assert [(s.name, s.first_event_ms, s.last_event_ms) for s in streams] == [("s1", T0, T0 + 301)]


async def test_retention_by_age_and_by_size_keeps_the_group_size_right(
    store: LogStore, engine: Engine
) -> None:
    for n in range(6):
        store.append(chunk(f"old{n}", T0 - 3 * 86_400_000, 1))
    store.append(chunk("young", T0, 1))
    await store.flushed()
    assert await store.retention.sweep() == 0  # the default: 30 days
    store.put_retention(GROUP, 1)
    assert await store.retention.sweep() == 6
    group = store.group(GROUP)
    assert group is not None and group.retention_days == 1
    assert group.stored_bytes == len(b'[[1767225600000,"young line 0"]]')
    big = "x" * 300_000
    for n in range(5):
        store.append(LogChunk(GROUP, "s1", f"big{n}", ((T0 + n, big),)))
    await store.flushed()
    assert await store.retention.sweep() >= 2
    left = store.filter(LogQuery(GROUP), None).events
    assert [e.request_id for e in left] == ["big2", "big3", "big4"]  # back under 1 MB
    stored = store.group(GROUP)
    assert stored is not None and stored.stored_bytes < 1024 * 1024
    with pytest.raises(Exception, match="does not exist"):
        store.put_retention("/aws/lambda/none", 1)
    store.delete_group(GROUP)
    assert store.group(GROUP) is None
    assert store.filter(LogQuery(GROUP), None).events == ()


async def test_logs_over_the_pending_cap_are_dropped_and_counted(engine: Engine) -> None:
    settings = LogSettings(flush_interval_s=60, max_pending_mb=1)
    store = LogStore(engine, settings)
    store.writer.start(asyncio.get_running_loop())
    try:
        half = "y" * (600 * 1024)
        store.append(LogChunk(GROUP, "s", "a", ((T0, half),)))
        store.append(LogChunk(GROUP, "s", "b", ((T0, half),)))  # over 1 MB waiting
        assert store.writer.dropped == 1
        await store.flushed()
        assert [e.request_id for e in store.filter(LogQuery(GROUP), None).events] == ["a"]
    finally:
        await store.stop()
