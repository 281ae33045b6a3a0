from __future__ import annotations

import asyncio
import math
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from faas.domain import InvocationStatus, Record
from faas.errors import ServiceError
from faas.store import RecordRepo, RecordWriter, make_engine, migrate
from faas.store.tables import invocations
from tests.helpers.sealing import TEST_SEALER


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'faas.db'}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    made = make_engine(db_url)
    migrate(made, sealer=TEST_SEALER)
    yield made
    made.dispose()


@pytest.fixture
def observer(db_url: str) -> Iterator[Engine]:
    """A second engine: what another process reading the database would see."""
    made = make_engine(db_url)
    yield made
    made.dispose()


def record(request_id: str) -> Record:
    return Record(
        request_id=request_id,
        function_name="hello",
        function_version="$LATEST",
        started_at_ms=1_700_000_000_000,
        duration_ms=1.5,
        billed_ms=2,
        memory_mb=128,
        max_memory_used_mb=30,
        init_duration_ms=None,
        status=InvocationStatus.SUCCESS,
        error_type=None,
    )


def visible(observer: Engine, request_id: str) -> bool:
    query = text("SELECT COUNT(*) FROM invocations WHERE request_id = :id")
    with observer.connect() as connection:
        return bool(connection.execute(query, {"id": request_id}).scalar_one())


Start = Callable[..., RecordWriter]


@pytest.fixture
async def started(engine: Engine) -> AsyncIterator[Start]:
    """Start writers that are stopped even when a test fails: their threads are not daemons."""
    writers: list[RecordWriter] = []

    def start(**options: Any) -> RecordWriter:
        writer = RecordWriter(engine, **options)
        writer.start(asyncio.get_running_loop())
        writers.append(writer)
        return writer

    yield start
    for writer in writers:
        await writer.stop()


async def test_each_future_resolves_after_its_row_is_visible(
    observer: Engine, started: Start
) -> None:
    writer = started()
    seen_at_resolution: list[bool] = []

    async def invoke(request_id: str) -> None:
        await writer.submit(record(request_id))
        seen_at_resolution.append(visible(observer, request_id))

    await asyncio.gather(*(invoke(f"r{i}") for i in range(300)))
    await writer.stop()
    assert seen_at_resolution == [True] * 300
    assert RecordRepo(observer).count() == 300


async def test_concurrent_records_share_commits(engine: Engine, started: Start) -> None:
    writer = started()
    futures = [writer.submit(record(f"r{i}")) for i in range(500)]
    assert writer.pending == 500
    await asyncio.gather(*futures)
    await writer.stop()
    assert writer.pending == 0
    assert RecordRepo(engine).count() == 500
    assert 1 <= writer.commits < 250


async def test_a_batch_never_exceeds_max_batch_rows(engine: Engine, started: Start) -> None:
    writer = started(max_batch_rows=10)
    await asyncio.gather(*(writer.submit(record(f"r{i}")) for i in range(100)))
    await writer.stop()
    assert RecordRepo(engine).count() == 100
    assert writer.commits >= math.ceil(100 / 10)


async def test_a_duplicate_row_fails_only_its_own_future(
    engine: Engine, observer: Engine, started: Start
) -> None:
    writer = started()
    await writer.submit(record("taken"))
    batch = [writer.submit(record(request_id)) for request_id in ("a", "taken", "b")]
    outcomes = await asyncio.gather(*batch, return_exceptions=True)
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], ServiceError)
    assert "taken" in str(outcomes[1])
    await writer.submit(record("later"))
    await writer.stop()
    assert [visible(observer, rid) for rid in ("a", "b", "later")] == [True, True, True]
    assert RecordRepo(observer).count() == 4


async def test_a_database_failure_fails_the_batch_and_the_writer_recovers(
    engine: Engine, started: Start
) -> None:
    writer = started()
    invocations.drop(engine)
    outcomes = await asyncio.gather(
        *(writer.submit(record(f"lost{i}")) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(outcome, ServiceError) for outcome in outcomes)
    invocations.create(engine)
    await writer.submit(record("after"))
    await writer.stop()
    assert [r.request_id for r in RecordRepo(engine).recent(None, 10)] == ["after"]


async def test_stop_flushes_everything_submitted(engine: Engine, started: Start) -> None:
    writer = started()
    futures = [writer.submit(record(f"r{i}")) for i in range(200)]
    await writer.stop()
    assert all(future.done() and future.exception() is None for future in futures)
    assert RecordRepo(engine).count() == 200
    with pytest.raises(ServiceError, match="not running"):
        writer.submit(record("too-late"))


async def test_submit_before_start_is_refused(engine: Engine) -> None:
    with pytest.raises(ServiceError):
        RecordWriter(engine).submit(record("r1"))


async def test_disabled_writer_resolves_without_writing(engine: Engine, started: Start) -> None:
    writer = started(enabled=False)
    future = writer.submit(record("r1"))
    assert future.done() and future.exception() is None
    await writer.stop()
    assert RecordRepo(engine).count() == 0


async def test_a_cancelled_waiter_does_not_break_the_batch(engine: Engine, started: Start) -> None:
    writer = started()
    abandoned = writer.submit(record("abandoned"))
    abandoned.cancel()
    await writer.submit(record("kept"))
    await writer.stop()
    assert RecordRepo(engine).count() == 2


async def test_the_wal_is_checkpointed_on_a_timer(
    engine: Engine, tmp_path: Path, started: Start
) -> None:
    database_file = tmp_path / "faas.db"
    size_before = database_file.stat().st_size
    writer = started(checkpoint_interval_s=0.05)
    await asyncio.gather(*(writer.submit(record(f"r{i}")) for i in range(3000)))
    deadline = time.monotonic() + 10
    while database_file.stat().st_size == size_before and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await writer.stop()
    assert database_file.stat().st_size > size_before


_KILLED_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from faas.domain import InvocationStatus, Record
    from faas.store import RecordWriter, migrate, make_engine

    async def main(url: str, count: int) -> None:
        engine = make_engine(url)
        migrate(engine)  # a fresh database: nothing to seal
        writer = RecordWriter(engine, checkpoint_interval_s=3600)
        writer.start(asyncio.get_running_loop())
        records = [
            Record(f"r{i}", "hello", "$LATEST", 0, 1.0, 1, 128, 30, None,
                   InvocationStatus.SUCCESS, None)
            for i in range(count)
        ]
        await asyncio.gather(*(writer.submit(r) for r in records))
        print("committed", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


def test_committed_records_survive_sigkill(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    script = tmp_path / "writer_script.py"
    script.write_text(_KILLED_WRITER)
    with subprocess.Popen(
        [sys.executable, str(script), url, "250"], stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "committed"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    reader = make_engine(url)
    try:
        assert RecordRepo(reader).count() == 250
    finally:
        reader.dispose()
