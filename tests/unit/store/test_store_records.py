"""Invocation records through the journal and the ingester, into a real database: SQLite
and (where it answers) PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, text

from faas.billing import usage_from_sums
from faas.domain import Record
from faas.errors import ServiceError
from faas.store import RecordLog, RecordRepo, make_engine, migrate
from faas.store.ingester import Ingester
from faas.store.journal import SegmentWriter, segment_path, segment_seqs
from faas.store.repos import record_row
from faas.store.retention import RecordRetention
from faas.store.rollups import RollupRepo
from faas.store.tables import invocations
from faas.store.tags import TagRepo
from tests.helpers.postgres import schema_url
from tests.helpers.records import record as sample_record
from tests.helpers.sealing import TEST_SEALER


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'faas.db'}"
    else:
        yield from schema_url()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    made = make_engine(db_url)
    migrate(made, sealer=TEST_SEALER)
    yield made
    made.dispose()


@pytest.fixture
def journal_dir(tmp_path: Path) -> Path:
    return tmp_path / "journal"


def record(request_id: str) -> Record:
    return sample_record(request_id, error_type="E" * 300, isolation="cgroup")


def stored_ids(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT request_id FROM invocations ORDER BY id"))
        return [row[0] for row in rows]


@pytest.fixture
async def started(engine: Engine, journal_dir: Path) -> AsyncIterator[Callable[..., Any]]:
    """Start record logs that are stopped even when a test fails (their threads are not
    daemons)."""
    logs: list[RecordLog] = []

    async def start(**options: Any) -> RecordLog:
        log = RecordLog(engine, journal_dir, **options)
        await log.start()
        logs.append(log)
        return log

    yield start
    for log in logs:
        await log.stop()


async def write_segment(directory: Path, records: list[Record]) -> None:
    """Segment 1 holding `records`, as a server would have left it."""
    directory.mkdir()
    writer = SegmentWriter(directory, 1, segment_bytes=1 << 20, fsync=False)
    for one in records:
        writer.append(orjson.dumps(record_row(one)))
    await writer.close()


def append_all(log: RecordLog, records: list[Record]) -> None:
    for one in records:
        assert log.append(one) is None


async def test_a_drained_query_sees_every_appended_record(engine: Engine, started: Any) -> None:
    log = await started(ingest_interval_s=3600)  # only the drain makes the ingester pass
    append_all(log, [record(f"r{i:03d}") for i in range(300)])
    await log.drained()
    found = await asyncio.to_thread(log.recent, "hello", 1000)
    assert [r.request_id for r in found] == [f"r{i:03d}" for i in reversed(range(300))]
    assert found[0] == dataclasses.replace(record("r299"), error_type="E" * 128)


async def test_stop_ingests_everything_and_leaves_no_journal(
    engine: Engine, journal_dir: Path, started: Any
) -> None:
    log = await started(ingest_interval_s=3600, segment_bytes=1000)
    append_all(log, [record(f"r{i}") for i in range(200)])
    await log.stop()
    assert len(stored_ids(engine)) == 200
    assert segment_seqs(journal_dir) == []
    with pytest.raises(ServiceError, match="not running"):
        log.append(record("too-late"))


async def test_the_journal_stays_bounded_over_a_long_run(
    engine: Engine, journal_dir: Path, started: Any
) -> None:
    log = await started(segment_bytes=2048, max_batch_rows=50)
    most_segments = 0
    for batch in range(30):
        append_all(log, [record(f"b{batch}-{i}") for i in range(100)])
        most_segments = max(most_segments, len(segment_seqs(journal_dir)))
        await log.drained()
        assert len(segment_seqs(journal_dir)) <= 2
    assert len(stored_ids(engine)) == 3000
    # 3,000 records are ~250 segments of 2 KB: they were written and deleted as they went.
    assert most_segments < 100


async def test_replaying_the_same_segment_twice_stores_each_record_once(
    engine: Engine, journal_dir: Path
) -> None:
    await write_segment(journal_dir, [record(f"r{i}") for i in range(20)])
    copy = segment_path(journal_dir, 1).read_bytes()
    assert Ingester(engine, journal_dir).replay() == 20
    assert segment_seqs(journal_dir) == []
    segment_path(journal_dir, 1).write_bytes(copy)  # as if the delete never happened
    assert Ingester(engine, journal_dir, max_batch_rows=7).replay() == 20
    assert sorted(stored_ids(engine)) == sorted(f"r{i}" for i in range(20))


async def test_a_torn_tail_is_skipped_and_the_rest_replayed(
    engine: Engine, journal_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await write_segment(journal_dir, [record(f"r{i}") for i in range(5)])
    with segment_path(journal_dir, 1).open("ab") as segment:
        segment.write(b"\x40\x00\x00\x00garbage")
    log = RecordLog(engine, journal_dir)
    assert await log.start() == 5
    await log.stop()
    assert sorted(stored_ids(engine)) == [f"r{i}" for i in range(5)]
    assert "torn entry" in caplog.text


async def test_an_entry_the_database_cannot_take_is_dropped_and_the_others_stored(
    engine: Engine, journal_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal_dir.mkdir()
    writer = SegmentWriter(journal_dir, 1, segment_bytes=1 << 20, fsync=False)
    writer.append(orjson.dumps(record_row(record("before"))))
    writer.append(b"not json, though its checksum is right")
    writer.append(orjson.dumps(["too", "few", "values"]))
    writer.append(orjson.dumps(record_row(record("after"))))
    await writer.close()
    assert Ingester(engine, journal_dir).replay() == 4
    assert stored_ids(engine) == ["before", "after"]
    assert caplog.text.count("refused, dropped") == 2


async def test_a_database_failure_fails_the_drain_and_the_ingester_recovers(
    engine: Engine, journal_dir: Path, started: Any
) -> None:
    log = await started(ingest_interval_s=3600)
    invocations.drop(engine)
    append_all(log, [record("kept-in-the-journal")])
    with pytest.raises(ServiceError, match="could not be stored"):
        await log.drained()
    invocations.create(engine)
    append_all(log, [record("after")])
    await log.drained()
    assert stored_ids(engine) == ["kept-in-the-journal", "after"]


async def test_records_switched_off_keep_nothing(
    engine: Engine, journal_dir: Path, started: Any
) -> None:
    log = await started(enabled=False)
    append_all(log, [record("r1")])
    await log.drained()
    await log.stop()
    assert stored_ids(engine) == []
    assert segment_seqs(journal_dir) == []


async def test_fsync_durability_answers_after_the_sync(engine: Engine, started: Any) -> None:
    log = await started(durability="fsync")
    synced = [log.append(record(f"r{i}")) for i in range(30)]
    assert all(wait is not None for wait in synced)
    await asyncio.gather(*synced)  # type: ignore[arg-type]
    await log.drained()
    assert len(stored_ids(engine)) == 30


async def test_append_before_start_is_refused(engine: Engine, journal_dir: Path) -> None:
    with pytest.raises(ServiceError):
        RecordLog(engine, journal_dir).append(record("r1"))


async def test_the_wal_is_checkpointed_by_the_ingester(
    engine: Engine, tmp_path: Path, started: Any
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("only SQLite has a WAL to checkpoint")
    database_file = tmp_path / "faas.db"
    size_before = database_file.stat().st_size
    log = await started(checkpoint_interval_s=0.05, ingest_interval_s=0.01)
    append_all(log, [record(f"r{i}") for i in range(3000)])
    deadline = time.monotonic() + 10
    while database_file.stat().st_size == size_before and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert database_file.stat().st_size > size_before


_KILLED_SERVER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from faas.domain import InvocationStatus, Record
    from faas.store import RecordLog, migrate, make_engine

    async def main(url: str, journal: str, count: int) -> None:
        engine = make_engine(url)
        migrate(engine)  # a fresh database: nothing to seal
        log = RecordLog(engine, Path(journal), ingest_interval_s=3600, segment_bytes=4096)
        await log.start()
        for i in range(count):
            log.append(Record(f"r{i}", "hello", "$LATEST", 0, 1.0, 1, 128, 30, None,
                              InvocationStatus.SUCCESS, None))
        print("appended", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


async def test_appended_records_survive_sigkill_and_are_replayed_once(
    engine: Engine, db_url: str, journal_dir: Path, tmp_path: Path
) -> None:
    script = tmp_path / "killed.py"
    script.write_text(_KILLED_SERVER)
    with subprocess.Popen(
        [sys.executable, str(script), db_url, str(journal_dir), "250"],
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "appended"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    assert stored_ids(engine) == []  # the ingester never ran: all of it is in the journal
    log = RecordLog(engine, journal_dir)
    assert await log.start() == 250
    await log.stop()
    assert sorted(stored_ids(engine)) == sorted(f"r{i}" for i in range(250))
    assert RecordRepo(engine).count() == 250


async def test_rollups_count_each_stored_record_once_in_its_utc_month(
    engine: Engine, journal_dir: Path
) -> None:
    last_of_january = 1_769_903_999_999  # 2026-01-31T23:59:59.999Z
    january = [
        sample_record(f"j{i}", "fn", started_at_ms=last_of_january, billed_ms=13, memory_mb=128)
        for i in range(12)
    ]
    february = [
        sample_record(
            f"f{i}", "big", started_at_ms=last_of_january + 1, billed_ms=5, memory_mb=2048
        )
        for i in range(8)
    ]
    await write_segment(journal_dir, january + february)
    copy = segment_path(journal_dir, 1).read_bytes()
    assert Ingester(engine, journal_dir).replay() == 20
    segment_path(journal_dir, 1).write_bytes(copy)  # replayed again: nothing counts twice
    assert Ingester(engine, journal_dir, max_batch_rows=7).replay() == 20
    rollups = RollupRepo(engine)
    assert rollups.month("2026-01") == {"fn": usage_from_sums(12, 12 * 13, 12 * 13 * 128, 0, 0)}
    assert rollups.month("2026-02") == {"big": usage_from_sums(8, 8 * 5, 8 * 5 * 2048, 0, 0)}
    assert rollups.month("2026-02", "fn") == {}


async def test_retention_deletes_old_records_in_batches_and_keeps_the_rollups(
    engine: Engine, journal_dir: Path
) -> None:
    now_ms = 1_769_903_999_999
    old = [sample_record(f"o{i}", started_at_ms=now_ms - 3 * 86_400_000) for i in range(11)]
    young = [sample_record(f"y{i}", started_at_ms=now_ms - 3_600_000) for i in range(4)]
    await write_segment(journal_dir, old + young)
    assert Ingester(engine, journal_dir).replay() == 15
    before = RollupRepo(engine).month("2026-01")
    retention = RecordRetention(engine, retention_days=2, batch_rows=4, clock=lambda: now_ms / 1000)
    assert await retention.sweep() == 11
    assert sorted(stored_ids(engine)) == sorted(f"y{i}" for i in range(4))
    assert await retention.sweep() == 0
    expected = usage_from_sums(15, 15 * 13, 15 * 13 * 128, 0, 0)
    assert RollupRepo(engine).month("2026-01") == before == {"hello": expected}


async def test_rollups_sum_storage_above_512_mb_and_provisioned_duration_apart(
    engine: Engine, journal_dir: Path
) -> None:
    january = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    rows = [
        sample_record("small", "fn", started_at_ms=january, billed_ms=10, memory_mb=256),
        sample_record(
            "big-tmp", "fn", started_at_ms=january, billed_ms=20, ephemeral_storage_mb=2560
        ),
        sample_record("warm", "fn", started_at_ms=january, billed_ms=30, provisioned=True),
    ]
    await write_segment(journal_dir, rows)
    assert Ingester(engine, journal_dir).replay() == 3
    mb_ms = 10 * 256 + 20 * 128 + 30 * 128
    expected = usage_from_sums(3, 60, mb_ms, 30 * 128, 20 * (2560 - 512))
    assert RollupRepo(engine).month("2026-01") == {"fn": expected}
    stored = RecordRepo(engine).recent("fn", 10)
    assert {(r.request_id, r.ephemeral_storage_mb, r.provisioned) for r in stored} == {
        ("small", 512, False),
        ("big-tmp", 2560, False),
        ("warm", 512, True),
    }


async def test_tag_rollups_count_invocations_under_the_tags_they_were_ingested_with(
    engine: Engine, journal_dir: Path
) -> None:
    january = 1_767_225_600_000
    tags = TagRepo(engine)
    tags.tag("fn", {"team": "red", "env": "prod"}, most=50)
    log = RecordLog(engine, journal_dir)
    await log.start()
    try:
        append_all(log, [sample_record(f"a{i}", "fn", started_at_ms=january) for i in range(3)])
        await log.drained()
        tags.tag("fn", {"team": "blue"}, most=50)
        append_all(log, [sample_record(f"b{i}", "fn", started_at_ms=january) for i in range(2)])
        append_all(log, [sample_record("c0", "other", started_at_ms=january)])
        await log.drained()
    finally:
        await log.stop()
    by_team = RollupRepo(engine).month_by_tag("2026-01", "team")
    assert by_team == {
        ("fn", "red"): usage_from_sums(3, 39, 39 * 128, 0, 0),
        ("fn", "blue"): usage_from_sums(2, 26, 26 * 128, 0, 0),
    }
    assert RollupRepo(engine).month_by_tag("2026-01", "env") == {
        ("fn", "prod"): usage_from_sums(5, 65, 65 * 128, 0, 0)
    }
    assert RollupRepo(engine).month("2026-01")["fn"].requests == 5


async def test_rows_journaled_before_newer_columns_replay_with_their_defaults(
    engine: Engine, journal_dir: Path
) -> None:
    full = record_row(sample_record("x"))
    journal_dir.mkdir()
    writer = SegmentWriter(journal_dir, 1, segment_bytes=1 << 20, fsync=False)
    for length in (12, 14):  # before async invocations; before storage and provisioned
        writer.append(orjson.dumps([f"r{length}", *full[1:length]]))
    await writer.close()
    assert Ingester(engine, journal_dir).replay() == 2
    stored = {r.request_id: r for r in RecordRepo(engine).recent(None, 10)}
    assert {name: (r.invocation_type, r.attempt) for name, r in stored.items()} == {
        "r12": ("RequestResponse", 1),
        "r14": ("RequestResponse", 1),
    }
    assert {(r.ephemeral_storage_mb, r.provisioned) for r in stored.values()} == {(512, False)}
