from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine

from faas.domain import FunctionConfig, InvocationStatus, LoggingConfig, Record
from faas.errors import PreconditionFailed, ResourceConflict, ResourceNotFound
from faas.store import FunctionRepo, RecordRepo, make_engine, migrate
from faas.store.migrations import baseline
from faas.store.repos import MalformedRows, record_row
from tests.helpers.records import record
from tests.helpers.sealing import TEST_SEALER


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    made = make_engine(f"sqlite:///{tmp_path / 'faas.db'}")
    migrate(made, sealer=TEST_SEALER)
    yield made
    made.dispose()


@pytest.fixture
def functions(engine: Engine) -> FunctionRepo:
    return FunctionRepo(engine, TEST_SEALER)


@pytest.fixture
def records(engine: Engine) -> RecordRepo:
    return RecordRepo(engine)


def config(name: str = "hello", **changes: object) -> FunctionConfig:
    base = FunctionConfig(
        name=name,
        runtime="python3.11",
        handler="app.handler",
        role="arn:aws:iam::000000000000:role/lambda",
        memory_mb=256,
        timeout_s=30,
        ephemeral_storage_mb=1024,
        environment={"GREETING": "héllo", "EMPTY": ""},
        description="says hello",
        code_sha256="ab" * 32,
        code_size=1234,
        revision_id="rev-1",
        last_modified="2024-01-01T00:00:00.000+0000",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def add_records(engine: Engine, repo: RecordRepo, batch: list[Record]) -> None:
    with engine.begin() as connection:
        repo.insert_many(batch, connection)


def test_a_function_round_trips(functions: FunctionRepo) -> None:
    stored = config()
    functions.insert(stored)
    assert functions.get("hello") == stored
    assert functions.get("absent") is None


@pytest.mark.parametrize(
    "logging",
    [
        LoggingConfig(),
        LoggingConfig("JSON"),
        LoggingConfig("JSON", "TRACE", "WARN", "/custom/group"),
        LoggingConfig(log_group="/custom/text"),
    ],
)
def test_a_logging_config_round_trips(functions: FunctionRepo, logging: LoggingConfig) -> None:
    functions.insert(config(logging=logging))
    functions.replace(config(logging=logging, revision_id="rev-2"), "rev-1")
    assert functions.get("hello") == config(logging=logging, revision_id="rev-2")


def test_all_lists_functions_by_name(functions: FunctionRepo) -> None:
    for name in ("b", "c", "a"):
        functions.insert(config(name))
    assert [cfg.name for cfg in functions.all()] == ["a", "b", "c"]


def test_inserting_a_taken_name_is_a_conflict(functions: FunctionRepo) -> None:
    functions.insert(config())
    with pytest.raises(ResourceConflict, match="Function already exist: hello"):
        functions.insert(config(description="another"))
    assert functions.get("hello") == config()


def test_replace_with_the_current_revision_updates(functions: FunctionRepo) -> None:
    functions.insert(config())
    updated = config(memory_mb=512, environment={}, revision_id="rev-2", code_sha256="cd" * 32)
    functions.replace(updated, expected_revision_id="rev-1")
    assert functions.get("hello") == updated


def test_replace_with_a_stale_revision_is_refused(functions: FunctionRepo) -> None:
    functions.insert(config())
    functions.replace(config(revision_id="rev-2"), expected_revision_id="rev-1")
    with pytest.raises(PreconditionFailed, match="does not match the latest Revision Id"):
        functions.replace(config(revision_id="rev-3", memory_mb=999), expected_revision_id="rev-1")
    stored = functions.get("hello")
    assert stored is not None
    assert (stored.revision_id, stored.memory_mb) == ("rev-2", 256)


def test_replace_of_a_missing_function_is_not_found(functions: FunctionRepo) -> None:
    with pytest.raises(ResourceNotFound, match="hello"):
        functions.replace(config(), expected_revision_id="rev-1")


def test_delete_says_whether_the_function_existed(functions: FunctionRepo) -> None:
    functions.insert(config())
    assert functions.delete("hello") is True
    assert functions.get("hello") is None
    assert functions.delete("hello") is False


def test_code_in_use_follows_the_functions_pointing_at_it(functions: FunctionRepo) -> None:
    sha = "ab" * 32
    assert not functions.code_in_use(sha)
    functions.insert(config("one"))
    functions.insert(config("two"))
    functions.delete("one")
    assert functions.code_in_use(sha)
    functions.delete("two")
    assert not functions.code_in_use(sha)


def test_records_round_trip_newest_first(engine: Engine, records: RecordRepo) -> None:
    failed = record(
        "r2",
        status=InvocationStatus.UNHANDLED,
        error_type="ZeroDivisionError",
        init_duration_ms=150.25,
        isolation="cgroup-v1 mountns tmp-ext4 uid landlock-7 seccomp nnp",
    )
    add_records(engine, records, [record("r1"), failed])
    add_records(engine, records, [record("r3")])
    assert records.recent(None, 10) == [record("r3"), failed, record("r1")]


def test_the_sqlite_fast_path_stores_the_same_row(engine: Engine, records: RecordRepo) -> None:
    stored = record("fast", isolation="rlimit-memory tmp-dir landlock-4 nnp", error_type="E" * 300)
    raw = engine.raw_connection()
    try:
        records.insert_json_rows_once_sqlite(orjson.dumps([record_row(stored)]), raw)
        raw.commit()
    finally:
        raw.close()
    assert records.recent(None, 1) == [dataclasses.replace(stored, error_type="E" * 128)]


def test_rows_inserted_once_skip_request_ids_already_stored(
    engine: Engine, records: RecordRepo
) -> None:
    add_records(engine, records, [record("r1")])
    again = [record_row(record("r1", "other")), record_row(record("r2"))]
    with engine.begin() as connection:
        records.insert_rows_once(again, connection)
        records.insert_rows_once(again, connection)
    raw = engine.raw_connection()
    try:
        records.insert_json_rows_once_sqlite(orjson.dumps(again), raw)
        raw.commit()
    finally:
        raw.close()
    assert [r.request_id for r in records.recent(None, 10)] == ["r2", "r1"]
    assert records.count("other") == 0  # the first row of a request id stands


def test_rows_given_as_malformed_json_are_refused_as_such(
    engine: Engine, records: RecordRepo
) -> None:
    raw = engine.raw_connection()
    try:
        with pytest.raises(MalformedRows):
            records.insert_json_rows_once_sqlite(b'[["r1", "hello"', raw)
    finally:
        raw.close()


def test_recent_and_count_filter_by_function(engine: Engine, records: RecordRepo) -> None:
    add_records(engine, records, [record("a1", "a"), record("b1", "b"), record("a2", "a")])
    assert [r.request_id for r in records.recent("a", 10)] == ["a2", "a1"]
    assert records.recent("nobody", 10) == []
    assert (records.count(), records.count("a"), records.count("b")) == (3, 2, 1)


@pytest.mark.parametrize(("asked", "returned"), [(0, 1), (-5, 1), (2, 2), (5000, 1000)])
def test_recent_clamps_the_limit(
    engine: Engine, records: RecordRepo, asked: int, returned: int
) -> None:
    add_records(engine, records, [record(f"r{i}") for i in range(1001)])
    found = records.recent(None, asked)
    assert len(found) == returned
    assert found[0].request_id == "r1000"


def test_insert_many_joins_the_callers_transaction(engine: Engine, records: RecordRepo) -> None:
    with pytest.raises(RuntimeError), engine.begin() as connection:
        records.insert_many([record("r1")], connection)
        raise RuntimeError("caller rolls back")
    assert records.count() == 0


def test_an_overlong_error_type_is_truncated_not_refused(
    engine: Engine, records: RecordRepo
) -> None:
    long_name = "E" * 300
    add_records(engine, records, [record("r1", error_type=long_name)])
    assert records.recent(None, 1)[0].error_type == long_name[:128]


def test_an_old_database_gains_the_isolation_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{path}")
    baseline.metadata.create_all(engine)  # the schema of the last release before migrations
    engine.dispose()
    with sqlite3.connect(path) as raw:  # a release before migrations and this column
        raw.execute("ALTER TABLE invocations DROP COLUMN isolation")
        raw.execute(
            "INSERT INTO invocations (request_id, function_name, function_version, "
            "started_at_ms, duration_ms, billed_ms, memory_mb, max_memory_used_mb, status) "
            "VALUES ('old', 'hello', '$LATEST', 1, 1.0, 1, 128, 10, 'Success')"
        )
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine, sealer=TEST_SEALER)
    repo = RecordRepo(engine)
    assert [r.isolation for r in repo.recent(None, 10)] == [None]
    add_records(engine, repo, [record("new", isolation="nnp")])
    assert [r.isolation for r in repo.recent(None, 10)] == ["nnp", None]
    engine.dispose()
