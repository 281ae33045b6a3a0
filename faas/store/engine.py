"""Engines for the one database URL: SQLite (WAL, tuned pragmas) or PostgreSQL.

Everything SQLite-specific lives here, so no other module needs to know which database it
talks to.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import QueuePool

from faas.config import ConfigError

# How long a connection waits for another one's lock before failing.
BUSY_TIMEOUT_MS = 5000
# How long a RESTART checkpoint may hold commits back while it waits for readers to finish.
RESTART_WAIT_MS = 10

_SQLITE_PRAGMAS = (
    # First, so the journal_mode switch below waits instead of failing when another
    # connection holds the file.
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA journal_mode=WAL",
    # In WAL mode NORMAL loses nothing when the process is killed (only on power loss),
    # and saves an fsync per commit.
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    # Automatic checkpoints run inside whichever commit crosses the threshold and set the
    # p99; the records ingester checkpoints on a timer from a side connection instead.
    "PRAGMA wal_autocheckpoint=0",
)


def url_kind(url: str) -> str:
    """ "sqlite" or "postgresql": the database family of a SQLAlchemy URL."""
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError as exc:
        raise ConfigError(f"store.url: not a database URL: {url!r}") from exc
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"store.url: unsupported database {backend!r} (use sqlite or postgresql)")
    return backend


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL, in-memory and URI databases."""
    if url_kind(url) != "sqlite":
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve()


def make_engine(url: str) -> Engine:
    """An engine for `url`, tuned for its database family."""
    if url_kind(url) == "sqlite":
        return _make_sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True)


# PostgreSQL advisory locks are keyed by one bigint per database; "faas" in ASCII.
_SCHEMA_LOCK_KEY = 0x66616173


def lock_schema(connection: Connection) -> None:
    """Hold the database's schema lock until `connection`'s transaction ends; call it first
    in that transaction. Servers starting at once then migrate one after the other, and the
    later ones find nothing left to do."""
    if connection.dialect.name == "postgresql":
        # Transaction-scoped: the commit or rollback releases it, and so does the server
        # ending the session of a node that died holding it.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
    else:
        # pysqlite opens a transaction only before DML, so DDL would otherwise commit
        # statement by statement; IMMEDIATE also takes the write lock now, before reading
        # the schema revision, as PostgreSQL's advisory lock does.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def compact(engine: Engine) -> None:
    """Rewrite the database without its free pages and old row versions (after secrets were
    rewritten, so that their earlier form is nowhere in the files). Blocking, heavy: only at
    start, after a migration that needs it."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.exec_driver_sql("VACUUM")
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            connection.exec_driver_sql("VACUUM FULL functions")


# SQLite's WAL frame header, on top of each page.
_WAL_FRAME_HEADER = 24


def checkpoint(engine: Engine, *, restart_above_bytes: int | None = None) -> bool:
    """Fold SQLite's WAL back into the database file without blocking readers or writers;
    and, once the WAL holds more than `restart_above_bytes`, start it over.

    A passive checkpoint copies the pages but never restarts the WAL while commits keep
    arriving (SQLite starts the log over only once a checkpoint has caught up with the last
    commit), so under steady load the file grows without bound: ~23 MB/s at concurrency 1
    here. Past the limit a RESTART checkpoint waits for the commit in progress, holds the
    next ones while it finishes (the passive pass did the copying) and makes the next commit
    write from the start of the file again, which so stays about that size. Measured at c=1:
    p99 and p99.9 as with passive checkpoints alone; a TRUNCATE checkpoint instead (which
    also shrinks the file) held commits for ~50 ms each time.

    A RESTART also waits for every reader (a backup, a shell, a long listing) and blocks
    commits meanwhile, so it may wait only RESTART_WAIT_MS: if a reader is still there, the
    WAL is started over on a later tick. Returns False when such a restart was due but could
    not happen."""
    if engine.dialect.name != "sqlite":
        return True
    with engine.connect() as connection:
        _, wal_frames, _ = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
        if restart_above_bytes is None or wal_frames <= 0:
            return True
        page_size = connection.exec_driver_sql("PRAGMA page_size").scalar_one()
        if wal_frames * (page_size + _WAL_FRAME_HEADER) <= restart_above_bytes:
            return True
        connection.exec_driver_sql(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
        try:
            busy, _, _ = connection.exec_driver_sql("PRAGMA wal_checkpoint(RESTART)").one()
        finally:  # a pooled connection: the next user expects the usual timeout
            connection.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return not busy


def copy_sqlite(engine: Engine, destination: Path) -> None:
    """A consistent copy of the SQLite database at `destination`, taken with SQLite's online
    backup API while writers go on: in WAL mode the copy is one read transaction, which
    commits never wait for (only a WAL restart waits for it, and gives up after
    RESTART_WAIT_MS: see `checkpoint`). The copy is one self-contained file (no -wal)."""
    if engine.dialect.name != "sqlite":
        raise ValueError(f"not a SQLite engine: {engine.dialect.name}")
    target = sqlite3.connect(destination)
    try:
        source = engine.raw_connection()
        try:
            driver = source.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            # pages=-1 (the default): every page in one step, so one snapshot; copied in
            # several steps, a commit by another connection would start the copy over.
            driver.backup(target)
        finally:
            source.close()
        target.execute("PRAGMA journal_mode=DELETE")  # a restored file needs no -wal beside it
    finally:
        target.close()


def _make_sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    options: dict[str, Any] = {}
    # URI filenames (file:...) are left to SQLite as given.
    if database and database != ":memory:" and not database.startswith("file:"):
        _prepare_database_file(Path(database))
        # A pool of real connections: the records ingester, its checkpoints and request
        # handlers use the file from different threads at once. (In-memory databases
        # keep SQLAlchemy's default pool: there each connection is its own database.)
        options["poolclass"] = QueuePool
    engine = create_engine(url, connect_args={"check_same_thread": False}, **options)
    event.listen(engine, "connect", _apply_sqlite_pragmas)
    return engine


def _prepare_database_file(path: Path) -> None:
    # Records and environments are private: SQLite gives its -wal and -shm files the
    # database file's mode, so creating the file 0o600 first protects all three.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
    finally:
        os.close(descriptor)


def _apply_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()
