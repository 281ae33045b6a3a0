"""The store against a real PostgreSQL: the same repos as on SQLite (the records journal's
ingester runs against both in tests/unit/store/test_store_records.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from faas.domain import Alias, FunctionConfig, InvocationStatus, PublishedState, Record
from faas.errors import PreconditionFailed, ResourceConflict, ResourceNotFound
from faas.store import (
    FunctionRepo,
    RecordRepo,
    checkpoint,
    make_engine,
    migrate,
    url_kind,
)
from tests.helpers.postgres import SERVER_URL, schema_url
from tests.helpers.records import record as sample_record
from tests.helpers.sealing import TEST_SEALER

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def schema_engine_url() -> Iterator[str]:
    yield from schema_url()


@pytest.fixture
def engine(schema_engine_url: str) -> Iterator[Engine]:
    made = make_engine(schema_engine_url)
    migrate(made, sealer=TEST_SEALER)
    yield made
    with made.begin() as connection:
        connection.execute(text("DELETE FROM invocations"))
        connection.execute(text("DELETE FROM function_versions"))
        connection.execute(text("DELETE FROM function_aliases"))
        connection.execute(text("DELETE FROM functions"))
    made.dispose()


def config(name: str = "hello", **changes: object) -> FunctionConfig:
    base = FunctionConfig(
        name=name,
        runtime="python3.11",
        handler="app.handler",
        role="arn:aws:iam::000000000000:role/lambda",
        memory_mb=256,
        timeout_s=30,
        ephemeral_storage_mb=1024,
        environment={"GREETING": "héllo"},
        description="says hello",
        code_sha256="ab" * 32,
        code_size=1234,
        revision_id="rev-1",
        last_modified="2024-01-01T00:00:00.000+0000",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def record(request_id: str, function_name: str = "hello") -> Record:
    return sample_record(
        request_id,
        function_name,
        init_duration_ms=100.5,
        status=InvocationStatus.UNHANDLED,
        error_type="E" * 300,
    )


def test_tables_live_in_the_test_schema(engine: Engine, schema_engine_url: str) -> None:
    assert url_kind(SERVER_URL) == "postgresql"
    with engine.connect() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    assert schema_engine_url.endswith(f"search_path%3D{schema}")
    checkpoint(engine)  # nothing to do on PostgreSQL, and it must not fail


def test_functions_round_trip(engine: Engine) -> None:
    functions = FunctionRepo(engine, TEST_SEALER)
    functions.insert(config())
    with pytest.raises(ResourceConflict):
        functions.insert(config())
    assert functions.get("hello") == config()
    functions.replace(config(revision_id="rev-2", memory_mb=512), expected_revision_id="rev-1")
    with pytest.raises(PreconditionFailed):
        functions.replace(config(revision_id="rev-3"), expected_revision_id="rev-1")
    with pytest.raises(ResourceNotFound):
        functions.replace(config("absent"), expected_revision_id="rev-1")
    assert [cfg.memory_mb for cfg in functions.all()] == [512]
    assert functions.code_in_use("ab" * 32)
    assert functions.delete("hello") is True
    assert functions.delete("hello") is False
    assert not functions.code_in_use("ab" * 32)


def test_versions_and_aliases_round_trip(engine: Engine) -> None:
    functions = FunctionRepo(engine, TEST_SEALER)
    functions.insert(config())
    first = config(version="1", revision_id="v1", code_sha256="cd" * 32)
    functions.insert_version(first, PublishedState(), latest="rev-1")
    with pytest.raises(PreconditionFailed):  # the counter moved on: no second version 1
        functions.insert_version(first, PublishedState(), latest="rev-1")
    assert functions.all_versions() == [first]
    assert functions.published_states() == {"hello": PublishedState(1, "rev-1")}
    assert functions.code_in_use("cd" * 32)
    alias = Alias("hello", "live", "1", "", "a1", additional_version="2", additional_weight=0.1)
    functions.insert_alias(alias)
    with pytest.raises(ResourceConflict):
        functions.insert_alias(alias)
    moved = dataclasses.replace(alias, function_version="2", revision_id="a2")
    functions.replace_alias(moved, expected_revision_id="a1")
    with pytest.raises(PreconditionFailed):
        functions.replace_alias(moved, expected_revision_id="a1")
    assert functions.all_aliases() == [moved]
    functions.delete("hello")
    assert functions.all_versions() == functions.all_aliases() == []
    assert not functions.code_in_use("cd" * 32)


def test_records_round_trip_newest_first(engine: Engine) -> None:
    records = RecordRepo(engine)
    with engine.begin() as connection:
        records.insert_many([record("r1"), record("r2", "other"), record("r3")], connection)
    found = records.recent("hello", 10)
    assert [r.request_id for r in found] == ["r3", "r1"]
    assert found[0] == dataclasses.replace(record("r3"), error_type="E" * 128)
    assert (records.count(), records.count("other")) == (3, 1)
