"""The audit log's writer: events are handed over on the event loop and written to the
database by one thread of their own, in batches.

Promises:
- `submit` never blocks and never raises: an audited call does not wait for the database, and
  a failed audit write never fails or delays its answer.
- A clean stop loses nothing: every event submitted before `stop` is written before it returns.
- A batch that cannot be written is retried; if it still fails, each lost event is logged at
  ERROR (the server log then holds what the table could not) and counted, never hidden.
- At most `max_queued` events wait to be written. Past that (a flood of refused requests
  faster than the database takes them) new events are dropped, counted and logged, so memory
  stays bounded.
- `flushed()` waits until everything submitted so far is written: a reader of the log sees
  the calls answered before its own.
- Between batches the same thread deletes the events past their retention, on a timer.

Its own thread and not the records ingester's: a failing audit insert must never hold back
the records. Audit batches are small and rare next to records, so the two writers seldom meet
at SQLite's write lock, and when they do, the busy timeout orders them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine

from faas.domain import AuditEvent, AuditQuery
from faas.store.repos import AuditRepo

_log = logging.getLogger(__name__)

MAX_QUEUED = 10_000
MAX_BATCH_ROWS = 500
RETRY_DELAYS_S = (0.05, 0.5)
FLUSH_TIMEOUT_S = 2.0
# Lost events are each logged, up to this many per failed batch (then only their number).
MAX_LOST_LOGGED = 20
DROP_LOG_INTERVAL_S = 10.0
DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class AuditStats:
    """Counters since the start, for /health."""

    written: int
    failed: int  # could not be written (logged)
    dropped: int  # refused because too many were waiting (logged)
    deleted: int  # past their retention


@dataclass(frozen=True, slots=True)
class _Barrier:
    """Resolved once everything queued before it is written (or given up on)."""

    future: asyncio.Future[None]


class _Stop:
    """Queued by stop(): everything before it is written, then the thread ends."""


_STOP = _Stop()
_Item = list[AuditEvent] | _Barrier | _Stop


class _State(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPED = "stopped"


class AuditLog:
    """Writes audit events in the background and reads them back; see the module doc."""

    def __init__(
        self,
        engine: Engine,
        *,
        retention_days: int,
        retention_interval_s: float,
        max_queued: int = MAX_QUEUED,
        max_batch_rows: int = MAX_BATCH_ROWS,
        retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._repo = AuditRepo(engine)
        self._retention_days = retention_days
        self._retention_interval_s = retention_interval_s
        self._max_queued = max_queued
        self._max_batch_rows = max_batch_rows
        self._retry_delays_s = tuple(retry_delays_s)
        self._clock = clock
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._state = _State.NEW
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # Loop thread only.
        self._outbox: list[AuditEvent] = []
        self._in_flight = 0  # submitted, not yet written or given up on
        self._dropped = 0
        self._last_drop_logged = -math.inf
        # Writer thread only (read from the loop for stats).
        self._written = 0
        self._failed = 0
        self._deleted = 0

    @property
    def stats(self) -> AuditStats:
        return AuditStats(self._written, self._failed, self._dropped, self._deleted)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._state is not _State.NEW:
            raise RuntimeError("an AuditLog can be started only once")
        self._loop = loop
        self._state = _State.RUNNING
        self._thread = threading.Thread(target=self._run, name="faas-audit")
        self._thread.start()

    def submit(self, event: AuditEvent) -> None:
        """Queue `event` to be written. Call on the event loop thread; never blocks or raises."""
        if self._state is not _State.RUNNING or self._loop is None:
            self._drop(event, "the audit log is not running")
            return
        if self._in_flight >= self._max_queued:
            self._drop(event, f"{self._in_flight} events are waiting to be written")
            return
        self._in_flight += 1
        # Events of one loop iteration travel together: one queue put per iteration.
        if not self._outbox:
            self._loop.call_soon(self._flush_outbox)
        self._outbox.append(event)

    async def flushed(self, timeout_s: float = FLUSH_TIMEOUT_S) -> bool:
        """Wait until every event submitted so far is written; False if that took too long."""
        if self._state is not _State.RUNNING or self._loop is None:
            return True
        self._flush_outbox()
        barrier = _Barrier(self._loop.create_future())
        self._queue.put(barrier)
        try:
            await asyncio.wait_for(asyncio.shield(barrier.future), timeout_s)
        except TimeoutError:
            _log.warning("audit log: events still being written after %.1f s", timeout_s)
            return False
        return True

    def recent(self, query: AuditQuery) -> list[AuditEvent]:
        """The events `query` asks for, newest first (blocking: call it from a thread)."""
        return self._repo.recent(query)

    async def stop(self) -> None:
        """Write everything already submitted, then end the thread."""
        if self._state is not _State.RUNNING:
            self._state = _State.STOPPED
            return
        self._state = _State.STOPPED
        self._flush_outbox()
        self._queue.put(_STOP)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        stats = self.stats
        _log.info(
            "audit log stopped: %d events written, %d failed, %d dropped",
            stats.written,
            stats.failed,
            stats.dropped,
        )

    # --- loop thread -------------------------------------------------------------------------

    def _flush_outbox(self) -> None:
        if self._outbox:
            self._queue.put(self._outbox)
            self._outbox = []

    def _drop(self, event: AuditEvent, why: str) -> None:
        self._dropped += 1
        now = time.monotonic()
        if now - self._last_drop_logged >= DROP_LOG_INTERVAL_S:
            self._last_drop_logged = now
            _log.error(
                "audit log: event dropped (%s): %s; %d dropped since the start",
                why,
                describe(event),
                self._dropped,
            )

    def _settle(self, written_or_lost: int, barriers: Sequence[_Barrier]) -> None:
        self._in_flight -= written_or_lost
        for barrier in barriers:
            if not barrier.future.done():
                barrier.future.set_result(None)

    # --- writer thread -----------------------------------------------------------------------

    def _run(self) -> None:
        retention_due = time.monotonic() if self._retention_days > 0 else math.inf
        while True:
            timeout = None if retention_due == math.inf else retention_due - time.monotonic()
            item: _Item | None
            try:
                item = self._queue.get(timeout=None if timeout is None else max(0.0, timeout))
            except queue.Empty:
                item = None
            if item is not None and self._write_from(item):
                return
            if time.monotonic() >= retention_due:
                self._apply_retention()
                retention_due = time.monotonic() + self._retention_interval_s

    def _write_from(self, first: _Item) -> bool:
        """Write `first` and what is already queued behind it (up to one batch); True once
        the stop marker was reached."""
        events: list[AuditEvent] = []
        barriers: list[_Barrier] = []
        stopping = False
        item: _Item | None = first
        while item is not None:
            if isinstance(item, _Stop):
                stopping = True
                break
            if isinstance(item, _Barrier):
                barriers.append(item)
            else:
                events.extend(item)
            if len(events) >= self._max_batch_rows:
                break
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                item = None
        for start in range(0, len(events), self._max_batch_rows):
            self._write(events[start : start + self._max_batch_rows])
        self._hand_back(len(events), barriers)
        return stopping

    def _write(self, events: Sequence[AuditEvent]) -> None:
        for delay_s in (*self._retry_delays_s, None):
            try:
                self._repo.insert_many(events)
            except Exception as exc:  # the thread must survive; the events are logged below
                if delay_s is not None:
                    _log.warning(
                        "audit log: writing %d events failed, retrying: %s", len(events), exc
                    )
                    time.sleep(delay_s)
                    continue
                self._lost(events, exc)
                return
            self._written += len(events)
            return

    def _lost(self, events: Sequence[AuditEvent], error: Exception) -> None:
        self._failed += len(events)
        _log.error(
            "AUDIT LOG WRITE FAILED: %d events could not be stored (%s); %d lost since the start",
            len(events),
            error,
            self._failed,
        )
        for event in events[:MAX_LOST_LOGGED]:
            _log.error("audit event not stored: %s", describe(event))
        if len(events) > MAX_LOST_LOGGED:
            _log.error("... and %d more audit events not stored", len(events) - MAX_LOST_LOGGED)

    def _hand_back(self, written_or_lost: int, barriers: Sequence[_Barrier]) -> None:
        if not written_or_lost and not barriers:
            return
        assert self._loop is not None
        # A closed loop has nobody waiting any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._settle, written_or_lost, barriers)

    def _apply_retention(self) -> None:
        cutoff_ms = int(self._clock() * 1000) - self._retention_days * DAY_MS
        try:
            deleted = self._repo.delete_older_than(cutoff_ms)
        except Exception as exc:  # retried at the next interval
            _log.warning("audit log: deleting events past their retention failed: %s", exc)
            return
        self._deleted += deleted
        if deleted:
            _log.info(
                "audit log: %d events older than %d days deleted", deleted, self._retention_days
            )


def describe(event: AuditEvent) -> str:
    """One line with every field of `event`, for the server log."""
    moment = dt.datetime.fromtimestamp(event.time_ms / 1000, tz=dt.UTC).isoformat()
    return (
        f"time={moment} request_id={event.request_id} key={event.key_name or '-'} "
        f"key_id={event.key_id or '-'} action={event.action} resource={event.resource or '-'} "
        f"outcome={event.outcome} status={event.status} error={event.error_code or '-'} "
        f"{event.method} {event.path} from {event.source_ip}"
    )
