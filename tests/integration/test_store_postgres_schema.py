"""Schema migrations on a real PostgreSQL, each test in a database of its own."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect, text

from faas.store import DatabaseTooNew, FunctionRepo, RecordRepo, make_engine, migrate
from faas.store.engine import lock_schema
from faas.store.migrations import baseline
from tests.helpers.databases import ALL_REVISIONS, HEAD, current_revisions, schema_differences
from tests.helpers.postgres import require_postgres
from tests.helpers.sealing import TEST_SEALER

pytestmark = pytest.mark.postgres

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
# The columns the first release lacked (the same list as tests/fixtures/first_release.sql).
LATER_COLUMNS = {
    "functions": ("network", "reserved_concurrency", "snap_start", "provisioned_concurrency"),
    "invocations": ("isolation",),
}


@pytest.fixture(scope="module")
def admin() -> Iterator[Engine]:
    require_postgres()
    made = create_engine(f"{SERVER}/test", isolation_level="AUTOCOMMIT")
    yield made
    made.dispose()


@pytest.fixture
def database(admin: Engine) -> Iterator[str]:
    """The name of a new, empty database, dropped after the test."""
    name = f"faas_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))


@pytest.fixture
def engine(database: str) -> Iterator[Engine]:
    made = make_engine(f"{SERVER}/{database}")
    yield made
    made.dispose()


def test_a_fresh_database_gets_exactly_the_schema_of_tables_py_and_again_nothing(
    engine: Engine,
) -> None:
    assert migrate(engine, sealer=TEST_SEALER) == ALL_REVISIONS
    assert current_revisions(engine) == (HEAD,)
    assert schema_differences(engine) == []
    assert migrate(engine, sealer=TEST_SEALER) == []
    assert current_revisions(engine) == (HEAD,)


def test_two_nodes_starting_at_once_both_start(database: str) -> None:
    engines = [make_engine(f"{SERVER}/{database}") for _ in range(2)]
    both_ready = threading.Barrier(2)
    results: list[list[str] | BaseException] = []

    def start(engine: Engine) -> None:
        both_ready.wait()
        try:
            results.append(migrate(engine, sealer=TEST_SEALER))
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=start, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    assert [result for result in results if isinstance(result, BaseException)] == []
    assert sorted(results, key=len) == [[], ALL_REVISIONS]


def test_a_node_waits_while_another_holds_the_schema_lock(engine: Engine, database: str) -> None:
    waiting = make_engine(f"{SERVER}/{database}")
    results: list[list[str]] = []
    migration = threading.Thread(
        target=lambda: results.append(migrate(waiting, sealer=TEST_SEALER))
    )
    try:
        with engine.connect() as holder, holder.begin():
            lock_schema(holder)
            migration.start()
            migration.join(timeout=1.0)
            assert migration.is_alive(), "migrated while another node held the schema lock"
            assert inspect(engine).get_table_names() == []
        migration.join(timeout=30)
    finally:
        waiting.dispose()
    assert results == [ALL_REVISIONS]


@pytest.mark.parametrize("release", ["previous", "first"])
def test_a_database_from_before_migrations_keeps_its_rows(engine: Engine, release: str) -> None:
    # What create_schema() of those releases made on PostgreSQL, with one row in each table.
    baseline.metadata.create_all(engine)
    lacking = LATER_COLUMNS if release == "first" else {}
    with engine.begin() as connection:
        for table, columns in lacking.items():
            for column in columns:
                connection.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        connection.execute(text(FUNCTION_ROW))
        connection.execute(text(RECORD_ROW))

    assert migrate(engine, sealer=TEST_SEALER) == ALL_REVISIONS[1:]

    assert current_revisions(engine) == (HEAD,)
    assert schema_differences(engine) == []
    (greeter,) = FunctionRepo(engine, TEST_SEALER).all()
    (record,) = RecordRepo(engine).recent("greeter", 10)
    assert (greeter.name, greeter.memory_mb, greeter.environment, greeter.network) == (
        "greeter",
        256,
        {"GREETING": "hello"},
        "default",
    )
    assert (greeter.snap_start, greeter.reserved_concurrency) == (False, None)
    assert (record.request_id, record.billed_ms, record.error_type) == ("r-1", 5, "ValueError")


def test_a_database_from_a_newer_faas_is_refused_without_the_password_and_untouched(
    engine: Engine, database: str
) -> None:
    migrate(engine, sealer=TEST_SEALER)
    with engine.begin() as connection:
        connection.execute(text(FUNCTION_ROW))
        connection.execute(text("CREATE TABLE queue (id BIGINT PRIMARY KEY)"))
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    before = fingerprint(engine)
    # Trust authentication ignores the password: it is there to be left out of the message.
    with_password = make_engine(f"postgresql+psycopg://postgres:s3cret@127.0.0.1:5432/{database}")
    try:
        with pytest.raises(DatabaseTooNew) as refused:
            migrate(with_password, sealer=TEST_SEALER)
    finally:
        with_password.dispose()
    assert str(refused.value) == (
        f"the database at {SERVER}/{database} has schema revision 9999, newer than this faas "
        f"knows ({HEAD}): upgrade faas, or restore a backup made with this version"
    )
    assert fingerprint(engine) == before


def fingerprint(engine: Engine) -> dict[str, Any]:
    """Tables, their columns, the stamped revision and the functions' rows."""
    schema = inspect(engine)
    with engine.connect() as connection:
        return {
            "tables": {
                name: [column["name"] for column in schema.get_columns(name)]
                for name in schema.get_table_names()
            },
            "revision": connection.execute(text("SELECT * FROM alembic_version")).all(),
            "functions": connection.execute(text("SELECT * FROM functions")).all(),
        }


# Only the columns every release had.
FUNCTION_ROW = (
    "INSERT INTO functions (name, runtime, handler, role, memory_mb, timeout_s, "
    "ephemeral_storage_mb, environment, description, code_sha256, code_size, revision_id, "
    "last_modified) VALUES ('greeter', 'python3.11', 'app.handler', 'r', 256, 5, 512, "
    """'{"GREETING": "hello"}', 'says hello', 'ab', 258, 'rev-1', 'now')"""
)
RECORD_ROW = (
    "INSERT INTO invocations (request_id, function_name, function_version, started_at_ms, "
    "duration_ms, billed_ms, memory_mb, max_memory_used_mb, init_duration_ms, status, "
    "error_type) VALUES ('r-1', 'greeter', '$LATEST', 1, 4.6, 5, 256, 3, NULL, 'Unhandled', "
    "'ValueError')"
)
