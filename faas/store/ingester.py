"""The ingester: one thread moving records from the journal into the database.

It wakes every `interval_s` (or when a query asks to be drained, or at stop), reads what was
appended since its last pass and inserts it in batches of at most `max_batch_rows`, one
transaction each, with INSERT ... ON CONFLICT (request_id, attempt) DO NOTHING: a row seen twice (a
replay after a crash re-reads a whole segment) is stored once. A segment is deleted only once
every row of it is committed and the writer has moved on to the next one, so the journal stays
a segment or two long. SQLite releases the GIL while it commits, so the event loop keeps
serving meanwhile. On SQLite this thread also checkpoints the WAL every
`checkpoint_interval_s`, after a pass (so not while a pass commits).

Where the position is kept: in memory only. After a crash, every segment still on disk is
read again from its start (`replay`, before the server answers anything); the unique request
id drops what was already stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.pool import PoolProxiedConnection

from faas.domain import StoredSummary
from faas.errors import ServiceError
from faas.store import rollups
from faas.store.engine import checkpoint
from faas.store.journal import Position, read_entries, segment_path, segment_seqs
from faas.store.repos import MalformedRows, RecordRepo

_log = logging.getLogger(__name__)

# Warn once this many checkpoints in a row found the WAL over its limit and could not start it
# over because a reader was in the way.
WAL_STUCK_WARN_TICKS = 30

_LARGEST_ID = "SELECT coalesce(max(id), 0) FROM invocations"

# Rows per INSERT statement on SQLite (a batch of max_batch_rows is one transaction of
# several statements).
SQLITE_STATEMENT_ROWS = 32

_Row = list[Any]
# What a database refuses for a row's values (or the JSON parser for an entry), as opposed to
# a database that is down: those rows are dropped, one by one, with an error.
_REFUSED = (
    IntegrityError,
    DataError,
    sqlite3.IntegrityError,
    sqlite3.DataError,
    orjson.JSONDecodeError,
    MalformedRows,
)


class Ingester:
    """See the module doc. `appended` returns the journal writer's position (read from this
    thread: it must be one atomic attribute read)."""

    def __init__(
        self,
        engine: Engine,
        directory: Path,
        *,
        max_batch_rows: int = 2000,
        interval_s: float = 0.1,
        checkpoint_interval_s: float = 1.0,
        wal_limit_bytes: int = 64 * 1024 * 1024,
        on_stored: Callable[[StoredSummary], None] | None = None,
    ) -> None:
        if max_batch_rows < 1:
            raise ValueError("max_batch_rows must be at least 1")
        # Called (in this thread) with a summary of the rows each commit really stored.
        self._on_stored = on_stored
        self._engine = engine
        self._repo = RecordRepo(engine)
        self._directory = directory
        self._max_batch_rows = max_batch_rows
        self._interval_s = interval_s
        self._checkpoint_interval_s = checkpoint_interval_s
        self._wal_limit_bytes = wal_limit_bytes
        self._sqlite = engine.dialect.name == "sqlite"
        self._raw: PoolProxiedConnection | None = None  # ingester thread only (SQLite)
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._appended: Callable[[], Position] = lambda: (0, 0)
        self._position: Position = (0, 0)  # ingester thread only
        self._next_checkpoint = 0.0
        self._missed_restarts = 0
        # Loop thread only: the last position reported, and the drains waiting for more.
        self.ingested: Position = (0, 0)
        self._waiters: list[tuple[Position, asyncio.Future[None]]] = []
        self.rows_ingested = 0  # written by the ingester thread only

    # --- at start, before the thread ------------------------------------------------------

    def replay(self) -> int:
        """Insert every segment on disk and delete it (blocking; before anything is appended).
        Returns how many entries were read (rows already stored included)."""
        entries = 0
        for seq in segment_seqs(self._directory):
            path = segment_path(self._directory, seq)
            payloads = read_entries(path).payloads
            self._insert(payloads)
            entries += len(payloads)
            path.unlink()
        return entries

    def start(
        self, loop: asyncio.AbstractEventLoop, appended: Callable[[], Position], first: Position
    ) -> None:
        self._loop = loop
        self._appended = appended
        self._position = self.ingested = first
        self._next_checkpoint = time.monotonic() + self._checkpoint_interval_s
        self._thread = threading.Thread(target=self._run, name="faas-ingester")
        self._thread.start()

    # --- on the loop ------------------------------------------------------------------------

    async def drained(self, target: Position) -> None:
        """Return once everything before `target` is in the database; ServiceError if the
        database refused it."""
        if self.ingested >= target:
            return
        assert self._loop is not None
        waiter = self._loop.create_future()
        self._waiters.append((target, waiter))
        self._wake.set()
        await waiter

    async def stop(self) -> None:
        """Ingest everything appended (the writer is closed by now), delete the journal's
        last segment, end the thread. If the database fails now, the journal stays for the
        next start to replay."""
        if self._thread is None:
            return
        self._stopping = True
        self._wake.set()
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    def _passed(self, position: Position, failure: BaseException | None) -> None:
        self.ingested = position
        waiting = []
        for target, waiter in self._waiters:
            if waiter.done():
                continue
            if target <= position:
                waiter.set_result(None)
            elif failure is not None:
                error = ServiceError(f"invocation records could not be stored: {failure}")
                error.__cause__ = failure
                waiter.set_exception(error)
            else:
                waiting.append((target, waiter))
        self._waiters = waiting

    # --- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        self._connect()
        try:
            while True:
                self._wake.wait(self._interval_s)
                # Cleared before the position is read: a drain that set it asked for no more
                # than that position.
                self._wake.clear()
                stopping = self._stopping
                failure = self._ingest_until(self._appended())
                self._report(failure)
                if stopping:
                    if failure is None:
                        segment_path(self._directory, self._position[0]).unlink(missing_ok=True)
                    return
                self._checkpoint_when_due()
        finally:
            if self._raw is not None:
                self._raw.close()
                self._raw = None

    def _connect(self) -> None:
        if not self._sqlite:
            return
        try:
            self._raw = self._engine.raw_connection()
            # When this connection starts the WAL over, it also cuts the file back to the
            # limit (a burst or an old file may have left it larger).
            self._raw.execute(f"PRAGMA journal_size_limit={self._wal_limit_bytes}")
        except Exception as exc:  # the SQLAlchemy path still works, only slower
            _log.error("records ingester: no direct SQLite connection (%s)", exc)
            return
        if not self._repo.sqlite_reads_json(self._raw):
            _log.info("records ingester: this SQLite has no JSON functions; using executemany")
            self._raw.close()
            self._raw = None

    def _report(self, failure: BaseException | None) -> None:
        assert self._loop is not None
        # RuntimeError: the loop is closed, nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._passed, self._position, failure)

    def _ingest_until(self, target: Position) -> BaseException | None:
        """Move the entries before `target` into the database; the failure, if any."""
        try:
            while self._position < target:
                seq, offset = self._position
                if seq < target[0]:
                    self._finish_segment(seq, offset)
                else:
                    self._ingest_part(seq, offset, target[1] - offset)
        except Exception as exc:  # retried on the next pass; the journal keeps the rows
            _log.error("records ingester: %s (will retry)", exc)
            return exc
        return None

    def _finish_segment(self, seq: int, offset: int) -> None:
        """A segment the writer left: the rest of it, then it goes."""
        path = segment_path(self._directory, seq)
        self._insert(read_entries(path, offset).payloads)
        path.unlink(missing_ok=True)
        self._position = (seq + 1, 0)

    def _ingest_part(self, seq: int, offset: int, size: int) -> None:
        """`size` bytes the writer has finished, of the segment it writes. If they do not
        hold valid entries (the writer only ever leaves a torn entry at the end of a segment
        it then leaves), the rest waits for the segment to be finished and read to its end."""
        frames = read_entries(segment_path(self._directory, seq), offset, size)
        self._insert(frames.payloads)
        self._position = (seq, offset + frames.consumed)
        if frames.problem or not frames.consumed:
            raise ServiceError(
                f"records journal segment {seq} at byte {offset + frames.consumed}: "
                f"{frames.problem or 'no complete entry'}"
            )

    def _insert(self, payloads: Sequence[bytes]) -> None:
        for start in range(0, len(payloads), self._max_batch_rows):
            self._commit(payloads[start : start + self._max_batch_rows])
        self.rows_ingested += len(payloads)

    def _commit(self, payloads: Sequence[bytes]) -> None:
        try:
            if self._raw is not None:
                self._commit_sqlite(payloads)
            else:
                self._commit_rows([orjson.loads(payload) for payload in payloads])
        except _REFUSED:
            # A row the database (or the JSON parser) refuses would stop the journal
            # forever: store the others, one by one.
            for payload in payloads:
                self._commit_one(payload)

    def _commit_one(self, payload: bytes) -> None:
        try:
            self._commit_rows([orjson.loads(payload)])
        except _REFUSED as exc:
            _log.error("invocation record refused, dropped: %s (%r)", exc, payload[:200])

    def _commit_rows(self, rows: Sequence[_Row]) -> None:
        summary = None
        with self._engine.begin() as connection:
            ids = self._repo.insert_rows_once(rows, connection)
            if ids:
                stored = rollups.stored_ids(ids)
                # The month's bill moves with the records, in the same transaction.
                rollups.add_to_rollups(connection, stored)
                if self._on_stored is not None:
                    summary = rollups.summary(connection, stored)
        self._stored(summary)

    def _stored(self, summary: StoredSummary | None) -> None:
        """Tell the metrics what was committed (never fails the ingest)."""
        if self._on_stored is None or summary is None:
            return
        try:
            self._on_stored(summary)
        except Exception:
            _log.exception("counting stored records for the metrics failed")

    def _commit_sqlite(self, payloads: Sequence[bytes]) -> None:
        """SQLite's fast path: the batch as one JSON array in one statement, on the thread's
        own driver connection. One statement is one GIL release for the whole batch, where an
        executemany releases and retakes it for every row (and the loop pays for each
        hand-over); nor is any row parsed in Python."""
        assert self._raw is not None
        summary = None
        try:
            # One writer: the rows this transaction stores are the ids above the largest now.
            before = self._raw.execute(_LARGEST_ID).fetchone()[0]
            for start in range(0, len(payloads), SQLITE_STATEMENT_ROWS):
                if start:
                    # Between statements, the GIL goes to the event loop if it waits for it
                    # (a long batch held it for milliseconds: the c=1 p99 of records on).
                    time.sleep(0)
                part = payloads[start : start + SQLITE_STATEMENT_ROWS]
                self._repo.insert_json_rows_once_sqlite(b"[" + b",".join(part) + b"]", self._raw)
            after = self._raw.execute(_LARGEST_ID).fetchone()[0]
            if after > before:
                # The month's bill moves with the records, in the same transaction.
                rollups.add_to_rollups_sqlite(self._raw, before, after)
                if self._on_stored is not None:
                    summary = rollups.summary_sqlite(self._raw, before, after)
            self._raw.commit()
        except BaseException:
            self._raw.rollback()
            raise
        self._stored(summary)

    def _checkpoint_when_due(self) -> None:
        if not self._sqlite or time.monotonic() < self._next_checkpoint:
            return
        self._next_checkpoint = time.monotonic() + self._checkpoint_interval_s
        try:
            restarted = checkpoint(self._engine, restart_above_bytes=self._wal_limit_bytes)
        except Exception as exc:  # a missed checkpoint is retried on the next tick
            _log.warning("WAL checkpoint failed: %s", exc)
            return
        self._missed_restarts = 0 if restarted else self._missed_restarts + 1
        if self._missed_restarts and self._missed_restarts % WAL_STUCK_WARN_TICKS == 0:
            _log.warning(
                "the WAL is over store.wal_limit_mb and could not be started over for %d "
                "checkpoints: a reader keeps the database open (a backup, a shell?)",
                self._missed_restarts,
            )
