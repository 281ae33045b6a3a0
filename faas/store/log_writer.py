"""Writing function logs to the database, off the records' path.

The invoker hands each invocation's framed events to `append` on the event loop: no system
call, no database. A thread writes what waits every `flush_interval_s`, all of it in one
transaction (one row per invocation, the log group's size kept with it). Logs waiting are
capped (`max_pending_bytes`): past it an invocation's logs are dropped and counted, so a flood
or a slow database never grows the server's memory nor holds up an invocation. A server killed
outright loses at most the logs of the last flush interval; records are journaled apart and
lose nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from faas.domain import LogChunk
from faas.store.tables import log_chunks, log_groups

_log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Pending:
    group: str
    stream: str
    request_id: str
    first_ms: int
    last_ms: int
    events: bytes


class LogWriter:
    def __init__(
        self,
        engine: Engine,
        *,
        flush_interval_s: float,
        max_pending_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._interval_s = flush_interval_s
        self._max_pending_bytes = max_pending_bytes
        self._clock = clock
        self._pending: list[_Pending] = []
        self._pending_bytes = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Loop thread: appended and written counts, and flushes waiting for a count.
        self._appended = 0
        self.written = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._on_written: list[Callable[[], None]] = []
        self.dropped = 0  # invocations whose logs were dropped (pending over the cap)
        self.failed = 0  # invocations whose logs the database refused
        self._known_groups: set[str] = set()  # writer thread only

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name="faas-log-writer")
        self._thread.start()

    def on_written(self, callback: Callable[[], None]) -> None:
        """Call `callback` on the loop after each write (the live tail wakes on it)."""
        self._on_written.append(callback)

    def forget_group(self, group: str) -> None:
        """The group was deleted: the next logs of it create it again."""
        with self._lock:
            self._known_groups.discard(group)

    # --- on the loop -------------------------------------------------------------------------

    def append(self, chunk: LogChunk) -> None:
        events = orjson.dumps(chunk.events)
        if self._pending_bytes + len(events) > self._max_pending_bytes or self._stopping:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                _log.warning(
                    "logs: %d invocations' logs dropped (writing fell behind)", self.dropped
                )
            return
        first = chunk.events[0][0] if chunk.events else int(self._clock() * 1000)
        last = max((at for at, _ in chunk.events), default=first)
        pending = _Pending(chunk.log_group, chunk.log_stream, chunk.request_id, first, last, events)
        with self._lock:
            self._pending.append(pending)
            self._pending_bytes += len(events)
        self._appended += 1

    async def flushed(self) -> None:
        """Return once everything appended so far is written (or refused)."""
        target = self._appended
        if self.written >= target or self._loop is None:
            return
        waiter = self._loop.create_future()
        self._waiters.append((target, waiter))
        self._wake.set()
        await waiter

    async def stop(self) -> None:
        if self._thread is None:
            return
        self._stopping = True
        self._wake.set()
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    def _done(self, count: int) -> None:
        self.written += count
        still = []
        for target, waiter in self._waiters:
            if waiter.done():
                continue
            if target <= self.written:
                waiter.set_result(None)
            else:
                still.append((target, waiter))
        self._waiters = still
        for callback in self._on_written:
            try:
                callback()
            except Exception:
                _log.exception("logs: a listener failed")

    # --- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval_s)
            self._wake.clear()
            stopping = self._stopping
            with self._lock:
                batch, self._pending = self._pending, []
                self._pending_bytes = 0
            if batch:
                self._write(batch)
                assert self._loop is not None
                with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
                    self._loop.call_soon_threadsafe(self._done, len(batch))
            if stopping:
                return

    def _write(self, batch: list[_Pending]) -> None:
        now_ms = int(self._clock() * 1000)
        rows = [
            {
                "log_group": p.group,
                "log_stream": p.stream,
                "request_id": p.request_id,
                "first_ms": p.first_ms,
                "last_ms": p.last_ms,
                "ingested_ms": now_ms,
                "bytes": len(p.events),
                "events": p.events.decode(),
            }
            for p in batch
        ]
        sizes: dict[str, int] = {}
        for pending in batch:
            sizes[pending.group] = sizes.get(pending.group, 0) + len(pending.events)
        try:
            with self._engine.begin() as connection:
                self._create_groups(connection, sizes, now_ms)
                connection.execute(insert(log_chunks), rows)
                for group, size in sizes.items():
                    connection.execute(
                        update(log_groups)
                        .where(log_groups.c.name == group)
                        .values(stored_bytes=log_groups.c.stored_bytes + size)
                    )
        except Exception as exc:  # logs are not records: counted, reported, not retried
            self.failed += len(batch)
            _log.error("logs: %d invocations' logs could not be written: %s", len(batch), exc)
            self._known_groups.clear()

    def _create_groups(self, connection: Connection, sizes: dict[str, int], now_ms: int) -> None:
        with self._lock:
            new = [group for group in sizes if group not in self._known_groups]
        if not new:
            return
        existing = set(
            connection.execute(
                select(log_groups.c.name).where(log_groups.c.name.in_(new))
            ).scalars()
        )
        missing = [group for group in new if group not in existing]
        if missing:
            module: Any = postgresql if connection.dialect.name == "postgresql" else sqlite
            connection.execute(
                module.insert(log_groups).on_conflict_do_nothing(),
                [{"name": group, "created_ms": now_ms} for group in missing],
            )
        with self._lock:
            self._known_groups.update(new)
