"""Group commit of invocation records.

The promise: an answered invocation is always on the books. Each request awaits the commit
of the batch holding its row before its response leaves, yet requests do not pay one commit
each: a single writer thread takes whatever has queued up while the previous commit ran and
commits it all at once. SQLite releases the GIL while it commits, so the event loop keeps
serving meanwhile.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import queue
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.pool import PoolProxiedConnection

from faas.domain import Record
from faas.errors import ServiceError
from faas.store.engine import checkpoint
from faas.store.repos import RecordRepo

_log = logging.getLogger(__name__)

# Warn once this many checkpoints in a row found the WAL over its limit and could not start it
# over because a reader was in the way.
WAL_STUCK_WARN_TICKS = 30


@dataclass(frozen=True, slots=True)
class _Submitted:
    record: Record
    future: asyncio.Future[None]


class _Stop:
    """Queued by stop(): everything queued before it is flushed, then the thread ends."""


_STOP = _Stop()

# Per submitted record: None when committed, else why it was not.
_Outcome = BaseException | None


class _State(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class RecordWriter:
    """One writer thread committing invocation records in batches; see the module doc."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch_rows: int = 512,
        checkpoint_interval_s: float = 1.0,
        wal_limit_bytes: int = 64 * 1024 * 1024,
        enabled: bool = True,
    ) -> None:
        if max_batch_rows < 1:
            raise ValueError("max_batch_rows must be at least 1")
        self._engine = engine
        self._records = RecordRepo(engine)
        self._max_batch_rows = max_batch_rows
        self._checkpoint_interval_s = checkpoint_interval_s
        self._wal_limit_bytes = wal_limit_bytes
        self._enabled = enabled
        self._queue: queue.SimpleQueue[list[_Submitted] | _Stop] = queue.SimpleQueue()
        self._outbox: list[_Submitted] = []  # loop thread only
        self._commits = 0  # written by the writer thread only
        self._raw: PoolProxiedConnection | None = None  # writer thread only (SQLite)
        self._state = _State.NEW
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads: list[threading.Thread] = []
        self._stop_checkpoints = threading.Event()
        # Only touched on the loop thread (submit and _settle), so it needs no lock.
        self._pending = 0

    @property
    def commits(self) -> int:
        """Group commits done so far (each holds one or more records)."""
        return self._commits

    @property
    def pending(self) -> int:
        """Records submitted whose futures have not been resolved yet."""
        return self._pending

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._state is not _State.NEW:
            raise RuntimeError("a RecordWriter can be started only once")
        self._loop = loop
        self._state = _State.RUNNING
        if not self._enabled:
            return
        self._threads.append(threading.Thread(target=self._write_loop, name="faas-records"))
        if self._engine.dialect.name == "sqlite":
            self._threads.append(
                threading.Thread(target=self._checkpoint_loop, name="faas-checkpoint")
            )
        for thread in self._threads:
            thread.start()

    def submit(self, record: Record) -> asyncio.Future[None]:
        """Queue `record`; the future resolves once it is committed (ServiceError if not).

        Call on the event loop thread.
        """
        if self._state is not _State.RUNNING or self._loop is None:
            raise ServiceError("the invocation record writer is not running")
        future: asyncio.Future[None] = self._loop.create_future()
        if not self._enabled:
            future.set_result(None)
            return future
        self._pending += 1
        # Records of one loop iteration travel together: one queue put (and one wake-up of
        # the writer thread) per iteration instead of one per request.
        if not self._outbox:
            self._loop.call_soon(self._flush_outbox)
        self._outbox.append(_Submitted(record, future))
        return future

    def _flush_outbox(self) -> None:
        if self._outbox:
            self._queue.put(self._outbox)
            self._outbox = []

    async def stop(self) -> None:
        """Commit everything already submitted, then end the threads."""
        if self._state is not _State.RUNNING:
            self._state = _State.STOPPED
            return
        self._state = _State.STOPPED
        self._flush_outbox()
        self._queue.put(_STOP)
        self._stop_checkpoints.set()
        # The writer hands its last batch to the loop before it exits, and that callback is
        # queued ahead of this await's wake-up: every future is resolved when stop returns.
        await asyncio.to_thread(self._join_threads)

    def _join_threads(self) -> None:
        for thread in self._threads:
            thread.join()

    def _write_loop(self) -> None:
        if self._engine.dialect.name == "sqlite":
            try:
                self._raw = self._engine.raw_connection()
                # When this connection starts the WAL over, it also cuts the file back to the
                # limit (a burst or an old file may have left it larger).
                self._raw.execute(f"PRAGMA journal_size_limit={self._wal_limit_bytes}")
            except Exception as exc:  # the SQLAlchemy path still works, only slower
                _log.error("record writer: no direct SQLite connection (%s)", exc)
        try:
            self._write_batches()
        finally:
            if self._raw is not None:
                self._raw.close()
                self._raw = None

    def _write_batches(self) -> None:
        waiting: list[_Submitted] = []  # queued records beyond the last batch's limit
        stopping = False
        while not (stopping and not waiting):
            if not waiting and not stopping:
                first = self._queue.get()
                if isinstance(first, _Stop):
                    return
                waiting = list(first)
            if not stopping:
                stopping = self._drain_into(waiting)
            batch = waiting[: self._max_batch_rows]
            waiting = waiting[self._max_batch_rows :]
            self._hand_back(batch, self._commit(batch))

    def _drain_into(self, waiting: list[_Submitted]) -> bool:
        """Add what is already queued, up to one batch; True once stop was seen."""
        while len(waiting) < self._max_batch_rows:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if isinstance(item, _Stop):
                return True
            waiting.extend(item)
        return False

    def _commit(self, batch: Sequence[_Submitted]) -> list[_Outcome]:
        try:
            self._insert([item.record for item in batch])
        except (IntegrityError, DataError, sqlite3.IntegrityError, sqlite3.DataError):
            # One bad row (say a reused request id) must not cost the others their records:
            # retry them one by one so only the offender fails.
            if len(batch) == 1:
                return self._commit_one(batch[0])
            return [outcome for item in batch for outcome in self._commit_one(item)]
        except Exception as exc:  # the thread must survive; the caller gets the error
            _log.error("group commit of %d invocation records failed: %s", len(batch), exc)
            return [exc] * len(batch)
        return [None] * len(batch)

    def _commit_one(self, item: _Submitted) -> list[_Outcome]:
        try:
            self._insert([item.record])
        except Exception as exc:  # the thread must survive; the caller gets the error
            _log.error("invocation record %s not stored: %s", item.record.request_id, exc)
            return [exc]
        return [None]

    def _insert(self, records: Sequence[Record]) -> None:
        self._insert_and_commit(records)
        self._commits += 1

    def _insert_and_commit(self, records: Sequence[Record]) -> None:
        if self._raw is None:
            with self._engine.begin() as connection:
                self._records.insert_many(records, connection)
            return
        # SQLite: the writer thread keeps one driver connection and talks to it directly;
        # SQLAlchemy's execution layer cost more than the insert and commit themselves.
        try:
            self._records.insert_many_sqlite(records, self._raw)
            self._raw.commit()
        except BaseException:
            self._raw.rollback()
            raise

    def _hand_back(self, batch: Sequence[_Submitted], outcomes: Sequence[_Outcome]) -> None:
        assert self._loop is not None
        try:
            # One wake-up of the loop per batch, not per record.
            self._loop.call_soon_threadsafe(self._settle_batch, batch, outcomes)
        except RuntimeError:
            _log.warning("event loop closed before %d records were acknowledged", len(batch))

    def _settle_batch(self, batch: Sequence[_Submitted], outcomes: Sequence[_Outcome]) -> None:
        for item, outcome in zip(batch, outcomes, strict=True):
            _settle(item, outcome)
        self._pending -= len(batch)

    def _checkpoint_loop(self) -> None:
        missed = 0  # ticks in a row on which the WAL was over its limit and readers in the way
        while not self._stop_checkpoints.wait(self._checkpoint_interval_s):
            try:
                restarted = checkpoint(self._engine, restart_above_bytes=self._wal_limit_bytes)
            except Exception as exc:  # a missed checkpoint is retried on the next tick
                _log.warning("WAL checkpoint failed: %s", exc)
                continue
            missed = 0 if restarted else missed + 1
            if missed and missed % WAL_STUCK_WARN_TICKS == 0:
                _log.warning(
                    "the WAL is over store.wal_limit_mb and could not be started over for %d "
                    "checkpoints: a reader keeps the database open (a backup, a shell?)",
                    missed,
                )


def _settle(item: _Submitted, outcome: _Outcome) -> None:
    if item.future.done():  # the awaiting request was cancelled; the row stands anyway
        return
    if outcome is None:
        item.future.set_result(None)
        return
    error = ServiceError(f"invocation record {item.record.request_id} could not be stored")
    error.__cause__ = outcome
    item.future.set_exception(error)
