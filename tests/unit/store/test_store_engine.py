from __future__ import annotations

import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect

from faas.config import ConfigError
from faas.domain import FunctionConfig
from faas.store import FunctionRepo, checkpoint, make_engine, migrate, url_kind
from faas.store.engine import BUSY_TIMEOUT_MS
from tests.helpers.sealing import TEST_SEALER


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "data" / "faas.db"


@pytest.fixture
def engine(db_path: Path) -> Iterator[Engine]:
    made = make_engine(f"sqlite:///{db_path}")
    yield made
    made.dispose()


def test_sqlite_parent_directory_and_file_are_private(engine: Engine, db_path: Path) -> None:
    migrate(engine, sealer=TEST_SEALER)
    assert stat.S_IMODE(db_path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    # SQLite gives its side files the database file's mode.
    assert stat.S_IMODE(Path(f"{db_path}-wal").stat().st_mode) == 0o600


def test_an_existing_database_file_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "faas.db"
    path.touch(mode=0o644)
    make_engine(f"sqlite:///{path}").dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("pragma", "expected"),
    [
        ("journal_mode", "wal"),
        ("synchronous", 1),  # NORMAL
        ("busy_timeout", 5000),
        ("foreign_keys", 1),
        ("wal_autocheckpoint", 0),
    ],
)
def test_every_sqlite_connection_is_tuned(engine: Engine, pragma: str, expected: object) -> None:
    # Hold two connections at once so the second is a fresh one from the pool.
    with engine.connect() as first, engine.connect() as second:
        for connection in (first, second):
            assert connection.exec_driver_sql(f"PRAGMA {pragma}").scalar_one() == expected


def test_migrating_again_keeps_data(engine: Engine) -> None:
    migrate(engine, sealer=TEST_SEALER)
    FunctionRepo(engine, TEST_SEALER).insert(_config("kept"))
    migrate(engine, sealer=TEST_SEALER)
    assert {"functions", "invocations"} <= set(inspect(engine).get_table_names())
    assert FunctionRepo(engine, TEST_SEALER).get("kept") is not None


def test_writes_stay_in_the_wal_until_checkpoint(engine: Engine, db_path: Path) -> None:
    migrate(engine, sealer=TEST_SEALER)
    checkpoint(engine)
    size_before = db_path.stat().st_size
    big_environment = {f"KEY_{i}": "x" * 200 for i in range(500)}  # ~100 KB per row
    repo = FunctionRepo(engine, TEST_SEALER)
    for index in range(60):  # ~6 MB: past SQLite's default 1000-page auto checkpoint
        repo.insert(_config(f"fn{index}", environment=big_environment))
    assert db_path.stat().st_size == size_before, "no automatic checkpoint may run"
    checkpoint(engine)
    assert db_path.stat().st_size > size_before + 5_000_000


def test_the_wal_stays_bounded_under_steady_commits(engine: Engine, db_path: Path) -> None:
    """A passive checkpoint alone never starts the WAL over while commits keep coming."""
    migrate(engine, sealer=TEST_SEALER)
    wal = db_path.with_name(db_path.name + "-wal")
    stop = threading.Event()
    environment = {f"KEY_{i}": "x" * 100 for i in range(50)}  # ~5 KB per row

    def commit_until_stopped() -> None:
        repo, index = FunctionRepo(engine, TEST_SEALER), 0
        while not stop.is_set():
            repo.insert(_config(f"fn{index}", environment=environment))
            index += 1

    committer = threading.Thread(target=commit_until_stopped)
    committer.start()
    largest = 0
    try:
        for _ in range(100):  # ~2 s of steady commits, checkpointed every 20 ms
            checkpoint(engine, restart_above_bytes=1_000_000)
            largest = max(largest, wal.stat().st_size)
            time.sleep(0.02)
    finally:
        stop.set()
        committer.join()
    assert largest < 8_000_000, f"the WAL grew to {largest} bytes"
    assert FunctionRepo(engine, TEST_SEALER).get("fn0") is not None


def test_a_reader_in_the_way_delays_the_wal_restart_not_the_commits(
    engine: Engine, db_path: Path
) -> None:
    migrate(engine, sealer=TEST_SEALER)
    environment = {f"KEY_{i}": "x" * 200 for i in range(500)}  # ~100 KB per row
    repo = FunctionRepo(engine, TEST_SEALER)
    for index in range(20):  # ~2 MB of WAL
        repo.insert(_config(f"fn{index}", environment=environment))
    reader = sqlite3.connect(db_path)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM functions").fetchone()  # holds its snapshot
    try:
        began = time.monotonic()
        assert checkpoint(engine, restart_above_bytes=1_000_000) is False
        assert time.monotonic() - began < BUSY_TIMEOUT_MS / 1000 / 2  # gave up, did not wait
    finally:
        reader.rollback()
        reader.close()
    assert checkpoint(engine, restart_above_bytes=1_000_000) is True
    with engine.connect() as connection:  # the pooled connection got its usual timeout back
        timeouts = {connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one()}
    assert timeouts == {BUSY_TIMEOUT_MS}


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("sqlite:///some/faas.db", "sqlite"),
        ("sqlite://", "sqlite"),
        ("postgresql://u@h/db", "postgresql"),
        ("postgresql+psycopg://u@h:5432/db", "postgresql"),
    ],
)
def test_url_kind(url: str, kind: str) -> None:
    assert url_kind(url) == kind


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url"])
def test_unsupported_urls_are_rejected_with_the_key_named(url: str) -> None:
    with pytest.raises(ConfigError, match=r"store\.url"):
        make_engine(url)


def _config(name: str, environment: dict[str, str] | None = None) -> FunctionConfig:
    return FunctionConfig(
        name=name,
        runtime="python3.11",
        handler="app.handler",
        role="arn:aws:iam::000000000000:role/lambda",
        memory_mb=128,
        timeout_s=3,
        ephemeral_storage_mb=512,
        environment=environment or {},
        description="",
        code_sha256="0" * 64,
        code_size=10,
        revision_id="rev-1",
        last_modified="2024-01-01T00:00:00.000+0000",
    )
