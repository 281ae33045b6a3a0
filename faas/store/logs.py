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
from faas.domain import LogChunk, LogEvent, LogGroupInfo, LogPage, LogQuery, LogStreamInfo
from faas.errors import ResourceNotFound
from faas.store.log_reader import LogReader, Position
from faas.store.log_retention import LogRetention
from faas.store.log_writer import LogWriter
from faas.store.tables import log_chunks, log_groups

MB = 1024 * 1024
GROUP_NOT_FOUND = "The specified log group does not exist."
_DELETE_BATCH = 5000


class LogStore:
    def __init__(
        self, engine: Engine, settings: LogSettings, clock: Callable[[], float] = time.time
    ) -> None:
        self._engine = engine
        self.writer = LogWriter(
            engine,
            flush_interval_s=settings.flush_interval_s,
            max_pending_bytes=settings.max_pending_mb * MB,
            clock=clock,
        )
        self.reader = LogReader(engine)
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
        if self.reader.group(group) is None:
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

    # -- reading (blocking; `flushed` first to see the latest) ---------------------------------

    def group(self, name: str) -> LogGroupInfo | None:
        return self.reader.group(name)

    def groups(self, prefix: str, after: str | None, limit: int) -> list[LogGroupInfo]:
        return self.reader.groups(prefix, after, limit)

    def streams(
        self,
        group: str,
        *,
        prefix: str,
        by_last_event: bool,
        descending: bool,
        offset: int,
        limit: int,
    ) -> list[LogStreamInfo]:
        return self.reader.streams(
            group,
            prefix=prefix,
            by_last_event=by_last_event,
            descending=descending,
            offset=offset,
            limit=limit,
        )

    def stream_exists(self, group: str, stream: str) -> bool:
        return self.reader.stream_exists(group, stream)

    def filter(self, query: LogQuery, position: Position | None) -> LogPage:
        return self.reader.filter(query, position)

    def stream_events(
        self,
        group: str,
        stream: str,
        *,
        start_ms: int | None,
        end_ms: int | None,
        position: tuple[int, int] | None,
        forward: bool,
        limit: int,
    ) -> list[LogEvent]:
        return self.reader.stream_events(
            group,
            stream,
            start_ms=start_ms,
            end_ms=end_ms,
            position=position,
            forward=forward,
            limit=limit,
        )

    def newer(
        self, group: str, after_id: int, request_id: str | None, limit: int
    ) -> list[LogEvent]:
        return self.reader.newer(group, after_id, request_id, limit)

    def last_chunk_id(self, group: str) -> int:
        return self.reader.last_chunk_id(group)
