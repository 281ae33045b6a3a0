"""Function logs: what the invoker writes (faas.store.log_writer), what the CloudWatch Logs
API and `faas logs` read (faas.store.log_reader), and their retention
(faas.store.log_retention), behind one object the server builds."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from sqlalchemy import Engine, delete, select, update

from faas.config import LogSettings
from faas.domain import LogChunk
from faas.errors import ResourceNotFound
from faas.store.log_reader import LogReader
from faas.store.log_retention import LogRetention
from faas.store.log_writer import LogWriter
from faas.store.tables import log_chunks, log_groups

MB = 1024 * 1024
GROUP_NOT_FOUND = "The specified log group does not exist."
_DELETE_BATCH = 5000


class LogStore(LogReader):
    """The reads are LogReader's (blocking; `flushed` first to see the latest)."""

    def __init__(
        self, engine: Engine, settings: LogSettings, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(engine)
        self.writer = LogWriter(
            engine,
            flush_interval_s=settings.flush_interval_s,
            max_pending_bytes=settings.max_pending_mb * MB,
            clock=clock,
        )
        self.retention = LogRetention(
            engine,
            default_days=settings.retention_days,
            max_total_bytes=settings.max_total_mb * MB,
            batch_rows=settings.retention_batch_rows,
            clock=clock,
        )
        self._retention_interval_s = settings.retention_interval_s
        self._sweeper: asyncio.Task[None] | None = None
        self._written = asyncio.Event()
        self._closing = False
        self.writer.on_written(self._wake_readers)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """The writer thread and the retention sweeps."""
        self.writer.start(loop)
        self._sweeper = loop.create_task(self.retention.run_forever(self._retention_interval_s))

    async def stop(self) -> None:
        """Write what waits, then stop (appends are dropped from now on)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        await self.writer.stop()

    def append(self, chunk: LogChunk) -> None:
        self.writer.append(chunk)

    async def flushed(self) -> None:
        await self.writer.flushed()

    async def written(self, timeout_s: float) -> bool:
        """Return after the next write, or after `timeout_s` (the live tail's wait): False
        once the server is stopping (followers end, so that they do not hold up the stop)."""
        if self._closing:
            return False
        event = self._written
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout_s)
        return not self._closing

    def end_follows(self) -> None:
        """The server stops: live tails end now."""
        self._closing = True
        self._wake_readers()

    def _wake_readers(self) -> None:
        woken, self._written = self._written, asyncio.Event()
        woken.set()

    # -- log groups (blocking) ----------------------------------------------------------------

    def put_retention(self, group: str, days: int | None) -> None:
        with self._engine.begin() as connection:
            changed = connection.execute(
                update(log_groups).where(log_groups.c.name == group).values(retention_days=days)
            )
        if changed.rowcount == 0:
            raise ResourceNotFound(GROUP_NOT_FOUND)

    def delete_group(self, group: str) -> None:
        """The group and every event in it, in batches (a large group never holds the
        database for long)."""
        if self.group(group) is None:
            raise ResourceNotFound(GROUP_NOT_FOUND)
        with self._engine.begin() as connection:
            connection.execute(delete(log_groups).where(log_groups.c.name == group))
        self.writer.forget_group(group)
        while True:
            ids = (
                select(log_chunks.c.id).where(log_chunks.c.log_group == group).limit(_DELETE_BATCH)
            )
            with self._engine.begin() as connection:
                gone = connection.execute(
                    delete(log_chunks).where(log_chunks.c.id.in_(ids.scalar_subquery()))
                )
            if gone.rowcount < _DELETE_BATCH:
                return
