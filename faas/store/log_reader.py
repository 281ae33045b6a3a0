"""Reading function logs: log groups, their streams, and events, page by page.

Events are stored one row per invocation (a chunk); a position names an event exactly: the
chunk's first timestamp, its id and the event's index in it, so a page ends anywhere and
the next starts there. FilterLogEvents walks a group's chunks by (first timestamp, id), each
invocation's lines together; GetLogEvents walks one stream by id, either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from sqlalchemy import Engine, and_, func, or_, select

from faas.domain import LogEvent, LogGroupInfo, LogPage, LogQuery, LogStreamInfo
from faas.store.tables import log_chunks, log_groups

_C = log_chunks.c
_G = log_groups.c
# Chunks read per query while a page fills, and the most messages a page holds (CloudWatch
# answers at most 1 MB).
CHUNKS_PER_READ = 200
PAGE_BYTES = 1024 * 1024
# A page stops after this many chunks were looked at, matched or not, so a filter that
# matches nothing in a large group answers quickly with a token to go on.
CHUNKS_PER_PAGE = 5000
Position = tuple[int, int, int]  # (first_ms, chunk id, event index)
_CHUNK_COLUMNS = (_C.id, _C.log_stream, _C.request_id, _C.first_ms, _C.ingested_ms, _C.events)


class LogReader:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- groups and streams -----------------------------------------------------------------

    def group(self, name: str) -> LogGroupInfo | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(log_groups).where(_G.name == name)).mappings().first()
        return None if row is None else _group(row)

    def groups(self, prefix: str, after: str | None, limit: int) -> list[LogGroupInfo]:
        """Groups named `prefix`..., by name, after `after`; at most `limit`."""
        query = select(log_groups).order_by(_G.name).limit(limit)
        if prefix:
            query = query.where(_G.name.startswith(prefix, autoescape=True))
        if after is not None:
            query = query.where(_G.name > after)
        with self._engine.connect() as connection:
            return [_group(row) for row in connection.execute(query).mappings()]

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
        first = func.min(_C.first_ms)
        last = func.max(_C.last_ms)
        query = (
            select(
                _C.log_stream,
                first,
                last,
                func.max(_C.ingested_ms),
                func.sum(_C.bytes),
            )
            .where(_C.log_group == group)
            .group_by(_C.log_stream)
        )
        if prefix:
            query = query.where(_C.log_stream.startswith(prefix, autoescape=True))
        key: Any = last if by_last_event else _C.log_stream
        query = query.order_by(key.desc() if descending else key, _C.log_stream)
        query = query.offset(offset).limit(limit)
        with self._engine.connect() as connection:
            return [
                LogStreamInfo(str(name), int(lo), int(lo), int(hi), int(ingested), int(size))
                for name, lo, hi, ingested, size in connection.execute(query)
            ]

    def stream_exists(self, group: str, stream: str) -> bool:
        query = select(_C.id).where(_C.log_group == group, _C.log_stream == stream).limit(1)
        with self._engine.connect() as connection:
            return connection.execute(query).first() is not None

    # -- events -------------------------------------------------------------------------------

    def filter(self, query: LogQuery, position: Position | None) -> LogPage:
        """The group's events that `query` wants, from `position` on, in (invocation start,
        line) order: at most query.limit events or about 1 MB."""
        events: list[LogEvent] = []
        size = 0
        looked = 0
        for chunk_first, chunk in self._chunks(query, position):
            looked += 1
            for event in chunk:
                if position is not None and (chunk_first, event.chunk_id, event.index) < position:
                    continue
                if not _wanted(event, query):
                    continue
                if len(events) >= query.limit or size + len(event.message) > PAGE_BYTES:
                    return LogPage(tuple(events), (chunk_first, event.chunk_id, event.index))
                events.append(event)
                size += len(event.message)
            if looked >= CHUNKS_PER_PAGE:
                last = chunk[-1] if chunk else None
                if last is not None:
                    return LogPage(tuple(events), (chunk_first, last.chunk_id, last.index + 1))
        return LogPage(tuple(events), None)

    def _chunks(
        self, query: LogQuery, position: Position | None
    ) -> Iterator[tuple[int, list[LogEvent]]]:
        where = _chunk_conditions(query)
        after = position
        while True:
            statement = select(*_CHUNK_COLUMNS).where(*where)
            if after is not None:
                first_ms, chunk_id, _ = after
                statement = statement.where(
                    or_(_C.first_ms > first_ms, and_(_C.first_ms == first_ms, _C.id >= chunk_id))
                )
            statement = statement.order_by(_C.first_ms, _C.id).limit(CHUNKS_PER_READ)
            with self._engine.connect() as connection:
                rows = connection.execute(statement).all()
            for row in rows:
                yield int(row.first_ms), _events(row)
            if len(rows) < CHUNKS_PER_READ:
                return
            last = rows[-1]
            after = (int(last.first_ms), int(last.id) + 1, 0)

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
        """A stream's events after (forward) or before `position` ((chunk id, index)), in
        time order either way; with no position, from the start or back from the end."""
        events: list[LogEvent] = []
        size = 0
        for event in self._stream_walk(group, stream, position, forward):
            if start_ms is not None and event.timestamp_ms < start_ms:
                continue
            if end_ms is not None and event.timestamp_ms >= end_ms:
                continue
            if len(events) >= limit or size + len(event.message) > PAGE_BYTES:
                break
            events.append(event)
            size += len(event.message)
        return events if forward else events[::-1]

    def _stream_walk(
        self, group: str, stream: str, position: tuple[int, int] | None, forward: bool
    ) -> Iterator[LogEvent]:
        where = [_C.log_group == group, _C.log_stream == stream]
        bound = position[0] if position is not None else None
        while True:
            statement = select(*_CHUNK_COLUMNS).where(*where)
            if bound is not None:
                statement = statement.where(_C.id >= bound if forward else _C.id <= bound)
            order = _C.id if forward else _C.id.desc()
            statement = statement.order_by(order).limit(CHUNKS_PER_READ)
            with self._engine.connect() as connection:
                rows = connection.execute(statement).all()
            for row in rows:
                chunk = _events(row)
                for event in chunk if forward else reversed(chunk):
                    if position is not None and not _beyond(event, position, forward):
                        continue
                    yield event
            if len(rows) < CHUNKS_PER_READ:
                return
            bound = int(rows[-1].id) + (1 if forward else -1)

    def newer(
        self, group: str, after_id: int, request_id: str | None, limit: int
    ) -> list[LogEvent]:
        """Events of chunks stored after chunk `after_id`, by id (the live tail)."""
        statement = select(*_CHUNK_COLUMNS).where(_C.log_group == group, _C.id > after_id)
        if request_id is not None:
            statement = statement.where(_C.request_id == request_id)
        statement = statement.order_by(_C.id).limit(limit)
        with self._engine.connect() as connection:
            rows = connection.execute(statement).all()
        return [event for row in rows for event in _events(row)]

    def last_chunk_id(self, group: str) -> int:
        statement = select(func.max(_C.id)).where(_C.log_group == group)
        with self._engine.connect() as connection:
            return int(connection.execute(statement).scalar() or 0)


def _chunk_conditions(query: LogQuery) -> list[Any]:
    """The chunks that may hold events `query` wants."""
    where: list[Any] = [_C.log_group == query.log_group]
    if query.streams:
        where.append(_C.log_stream.in_(query.streams))
    if query.stream_prefix:
        where.append(_C.log_stream.startswith(query.stream_prefix, autoescape=True))
    if query.start_ms is not None:
        where.append(_C.last_ms >= query.start_ms)
    if query.end_ms is not None:
        where.append(_C.first_ms <= query.end_ms)
    if query.request_id is not None:
        where.append(_C.request_id == query.request_id)
    if query.upto_chunk_id is not None:
        where.append(_C.id <= query.upto_chunk_id)
    return where


def _events(row: Any) -> list[LogEvent]:
    decoded = orjson.loads(row.events)
    return [
        LogEvent(
            log_stream=str(row.log_stream),
            timestamp_ms=int(at),
            message=str(message),
            ingestion_ms=int(row.ingested_ms),
            chunk_id=int(row.id),
            index=index,
            request_id=str(row.request_id),
        )
        for index, (at, message) in enumerate(decoded)
    ]


def _beyond(event: LogEvent, position: tuple[int, int], forward: bool) -> bool:
    here = (event.chunk_id, event.index)
    return here > position if forward else here < position


def _wanted(event: LogEvent, query: LogQuery) -> bool:
    if query.start_ms is not None and event.timestamp_ms < query.start_ms:
        return False
    if query.end_ms is not None and event.timestamp_ms > query.end_ms:
        return False
    return query.matches is None or query.matches(event.message)


def _group(row: Any) -> LogGroupInfo:
    return LogGroupInfo(
        name=row["name"],
        created_ms=int(row["created_ms"]),
        retention_days=row["retention_days"],
        stored_bytes=int(row["stored_bytes"]),
    )
