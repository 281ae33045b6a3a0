"""Schema migrations on SQLite: a fresh database, databases from releases before migrations,
one from a newer faas, starting twice or at once, and writing the next revision."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, Text

from faas.domain import FunctionConfig, InvocationStatus, LoggingConfig
from faas.store import DatabaseTooNew, FunctionRepo, RecordRepo, make_engine, migrate
from faas.store.migrations.__main__ import write_revision
from faas.store.schema import SCRIPT_DIRECTORY
from faas.store.tables import metadata
from tests.helpers.configs import function_config
from tests.helpers.databases import (
    ALL_REVISIONS,
    DUMPS,
    HEAD,
    current_revisions,
    make_old_data_dir,
    schema_differences,
    sqlite_dump,
    sqlite_rows,
)
from tests.helpers.sealing import TEST_SEALER


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "faas.db"


@pytest.fixture
def engine(db_path: Path) -> Iterator[Engine]:
    made = make_engine(f"sqlite:///{db_path}")
    yield made
    made.dispose()


def faas_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name.startswith("faas")]


def test_a_fresh_database_gets_every_revision_and_exactly_the_schema_of_tables_py(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="faas"):
        assert migrate(engine, sealer=TEST_SEALER) == ALL_REVISIONS
    assert current_revisions(engine) == (HEAD,)
    assert schema_differences(engine) == []
    assert faas_log(caplog) == [
        f"database schema upgraded to {HEAD} (applied: {', '.join(ALL_REVISIONS)})"
    ]


def test_the_comparison_sees_a_change_to_tables_py_that_no_revision_made(engine: Engine) -> None:
    migrate(engine, sealer=TEST_SEALER)
    changed = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["functions"].append_column(Column("architecture", String(16)))
    differences = schema_differences(engine, changed)
    assert [(kind, table, column.name) for kind, _, table, column in differences] == [
        ("add_column", "functions", "architecture")
    ]


@pytest.mark.parametrize("dump", DUMPS)
def test_a_database_from_before_migrations_keeps_every_row_and_value(
    tmp_path: Path, dump: str, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "data"
    code = make_old_data_dir(data_dir, dump)
    path = data_dir / "faas.db"
    before = {table: sqlite_rows(path, table) for table in ("functions", "invocations")}
    assert (len(before["functions"]), len(before["invocations"])) == (1, 3)
    engine = make_engine(f"sqlite:///{path}")
    try:
        with caplog.at_level(logging.INFO, logger="faas"):
            applied = migrate(engine, sealer=TEST_SEALER)
        revisions, differences = current_revisions(engine), schema_differences(engine)
        (greeter,) = FunctionRepo(engine, TEST_SEALER).all()
        records = RecordRepo(engine).recent("greeter", 10)
    finally:
        engine.dispose()

    # Stamped with the baseline, not re-created; later revisions (if any) applied on top.
    assert applied == ALL_REVISIONS[1:]
    assert revisions == (HEAD,)
    assert differences == []
    assert f"brought to the baseline revision {ALL_REVISIONS[0]}" in " ".join(faas_log(caplog))
    after = {table: sqlite_rows(path, table) for table in before}
    for table, old_rows in before.items():
        assert len(after[table]) == len(old_rows), table
        kept = [
            {name: new[name] for name in old}
            for old, new in zip(old_rows, after[table], strict=True)
        ]
        # Every value as it was, but the environment: sealed by revision 0004.
        sealed = [row.pop("environment", None) for row in kept]
        assert kept == [{k: v for k, v in row.items() if k != "environment"} for row in old_rows]
        assert all(value is None or value.startswith("sealed:") for value in sealed), table
    # Columns the first release lacked read as their defaults.
    (function_row,) = after["functions"]
    added = ("network", "reserved_concurrency", "snap_start", "provisioned_concurrency")
    assert [function_row[name] for name in added] == ["default", None, 0, None]
    assert (greeter.name, greeter.memory_mb, greeter.timeout_s, greeter.environment) == (
        "greeter",
        256,
        5,
        {"GREETING": "hello"},
    )
    assert (greeter.code_sha256, greeter.code_size) == (code.sha256, code.size)
    assert greeter.sandbox_uid == 0  # given by the uid revision, in name order
    assert greeter.logging == LoggingConfig()  # Text, in its own log group, as before
    assert [(r.status, r.error_type) for r in records] == [
        (InvocationStatus.UNHANDLED, "ValueError"),
        (InvocationStatus.SUCCESS, None),
        (InvocationStatus.SUCCESS, None),
    ]


def test_any_column_the_baseline_has_is_added_to_an_older_database(tmp_path: Path) -> None:
    """`version` came with the first release's tables, yet bringing a database to the
    baseline adds whichever of the baseline's columns it lacks."""
    data_dir = tmp_path / "data"
    make_old_data_dir(data_dir, "first_release.sql")
    with closing(sqlite3.connect(data_dir / "faas.db")) as raw, raw:
        raw.execute("ALTER TABLE functions DROP COLUMN version")
    engine = make_engine(f"sqlite:///{data_dir / 'faas.db'}")
    try:
        migrate(engine, sealer=TEST_SEALER)
        (greeter,) = FunctionRepo(engine, TEST_SEALER).all()
        differences = schema_differences(engine)
    finally:
        engine.dispose()
    assert (greeter.name, greeter.version, differences) == ("greeter", "$LATEST", [])


def test_migrating_a_database_at_head_changes_and_logs_nothing(
    engine: Engine, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    migrate(engine, sealer=TEST_SEALER)
    FunctionRepo(engine, TEST_SEALER).insert(config("kept"))
    before = sqlite_dump(db_path)
    with caplog.at_level(logging.DEBUG, logger="faas"):
        assert migrate(engine, sealer=TEST_SEALER) == []
    assert sqlite_dump(db_path) == before
    assert faas_log(caplog) == []


def test_a_database_from_a_newer_faas_is_refused_in_one_line_and_left_untouched(
    engine: Engine, db_path: Path
) -> None:
    migrate(engine, sealer=TEST_SEALER)
    FunctionRepo(engine, TEST_SEALER).insert(config("kept"))
    with closing(sqlite3.connect(db_path)) as raw, raw:  # what a newer faas would leave
        raw.execute("CREATE TABLE queue (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        raw.execute("UPDATE alembic_version SET version_num = '9999'")
    before = sqlite_dump(db_path)

    with pytest.raises(DatabaseTooNew) as refused:
        migrate(engine, sealer=TEST_SEALER)

    assert str(refused.value) == (
        f"the database at sqlite:///{db_path} has schema revision 9999, newer than this faas "
        f"knows ({HEAD}): upgrade faas, or restore a backup made with this version"
    )
    assert sqlite_dump(db_path) == before


def test_two_starts_at_once_migrate_one_after_the_other(db_path: Path) -> None:
    engines = [make_engine(f"sqlite:///{db_path}") for _ in range(2)]
    # The file exists, in WAL mode, before both start: SQLite may refuse a second connection's
    # switch to WAL while the first is still creating the file (engine.py's pragmas), which
    # is not what this test is about.
    with engines[0].connect():
        pass
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


def test_a_new_table_in_tables_py_becomes_a_revision_that_creates_it(tmp_path: Path) -> None:
    """`python -m faas.store.migrations MESSAGE`, on a copy of the script directory."""
    scripts = tmp_path / "migrations"
    shutil.copytree(SCRIPT_DIRECTORY, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    wanted = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(wanted)
    Table(
        "queue",
        wanted,
        Column("id", Integer, primary_key=True),
        Column("payload", Text, nullable=False),
    )

    written = write_revision("add the queue table", scripts, wanted)

    assert written == scripts / "versions" / f"r{len(ALL_REVISIONS) + 1:04d}_add_the_queue_table.py"
    engine = make_engine(f"sqlite:///{tmp_path}/faas.db")
    try:
        assert migrate(engine, scripts, sealer=TEST_SEALER) == [
            *ALL_REVISIONS,
            f"{len(ALL_REVISIONS) + 1:04d}",
        ]
        assert schema_differences(engine, wanted) == []
    finally:
        engine.dispose()


def test_a_start_that_fails_halfway_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    """Bringing an old database to the baseline, stamping it and upgrading it commit as one."""
    scripts = tmp_path / "migrations"
    shutil.copytree(SCRIPT_DIRECTORY, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "r9000_fails.py").write_text(FAILING_REVISION)
    data_dir = tmp_path / "data"
    make_old_data_dir(data_dir, "first_release.sql")
    before = sqlite_dump(data_dir / "faas.db")
    engine = make_engine(f"sqlite:///{data_dir / 'faas.db'}")
    try:
        with pytest.raises(RuntimeError, match="halfway"):
            migrate(engine, scripts, sealer=TEST_SEALER)
    finally:
        engine.dispose()
    assert sqlite_dump(data_dir / "faas.db") == before


FAILING_REVISION = f"""
import sqlalchemy as sa
from alembic import op

revision = "9000"
down_revision = {HEAD!r}


def upgrade():
    op.create_table("queue", sa.Column("id", sa.Integer, primary_key=True))
    op.add_column("functions", sa.Column("architecture", sa.String(16)))
    raise RuntimeError("this revision fails halfway")
"""


def config(name: str) -> FunctionConfig:
    return function_config(name)
