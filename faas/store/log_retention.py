"""Deleting function logs: by age (each log group's retention, PutRetentionPolicy, or
logs.retention_days) and by the total size of all groups (logs.max_total_mb, oldest first).

In small batches (logs.retention_batch_rows per transaction, the event loop served between
them), so a sweep never holds the database for long; each group's stored size moves with its
rows in the same transaction.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select, update

from faas.store.tables import log_chunks, log_groups

_log = logging.getLogger(__name__)

DAY_MS = 86_400_000
_C = log_chunks.c
_G = log_groups.c


class LogRetention:
    def __init__(
        self,
        engine: Engine,
        *,
        default_days: float,
        max_total_bytes: int,
        batch_rows: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._default_days = default_days
        self._max_total_bytes = max_total_bytes
        self._batch_rows = batch_rows
        self._clock = clock
        self.deleted = 0

    async def sweep(self) -> int:
        """Delete what is past its group's retention, then the oldest while all groups
        together are over the size cap; how many invocations' logs went."""
        total = 0
        groups = await asyncio.to_thread(self._retentions)
        for group, days in groups:
            if days > 0:
                cutoff = int(self._clock() * 1000 - days * DAY_MS)
                total += await self._in_batches(functools.partial(self._delete_old, group, cutoff))
        total += await self._in_batches(self._delete_over_size)
        self.deleted += total
        if total:
            _log.info(
                "logs: %d invocations' logs past their retention or the size cap deleted", total
            )
        return total

    async def run_forever(self, interval_s: float) -> None:
        while True:
            try:
                await self.sweep()
            except Exception as exc:  # retried on the next tick
                _log.warning("logs: retention sweep failed: %s", exc)
            await asyncio.sleep(interval_s)

    async def _in_batches(self, batch: Callable[[], int]) -> int:
        total = 0
        while True:
            deleted = await asyncio.to_thread(batch)
            total += deleted
            if deleted < self._batch_rows:
                return total
            await asyncio.sleep(0)  # requests first, between batches

    def _retentions(self) -> list[tuple[str, float]]:
        with self._engine.connect() as connection:
            rows = connection.execute(select(_G.name, _G.retention_days)).all()
        return [(name, self._default_days if days is None else float(days)) for name, days in rows]

    def _delete_old(self, group: str, cutoff_ms: int) -> int:
        oldest = (
            select(_C.id, _C.log_group, _C.bytes)
            .where(_C.log_group == group, _C.last_ms < cutoff_ms)
            .order_by(_C.id)
            .limit(self._batch_rows)
        )
        with self._engine.begin() as connection:
            return _delete(connection, connection.execute(oldest).all())

    def _delete_over_size(self) -> int:
        with self._engine.begin() as connection:
            stored = int(connection.execute(select(func.sum(_G.stored_bytes))).scalar() or 0)
            if stored <= self._max_total_bytes:
                return 0
            oldest = select(_C.id, _C.log_group, _C.bytes).order_by(_C.id).limit(self._batch_rows)
            rows = connection.execute(oldest).all()
            # No more than it takes to be back under the cap.
            excess, chosen = stored - self._max_total_bytes, []
            for row in rows:
                chosen.append(row)
                excess -= int(row.bytes)
                if excess <= 0:
                    break
            return _delete(connection, chosen)


def _delete(connection: Connection, rows: Sequence[Any]) -> int:
    if not rows:
        return 0
    connection.execute(delete(log_chunks).where(_C.id.in_([row.id for row in rows])))
    freed: dict[str, int] = {}
    for row in rows:
        freed[row.log_group] = freed.get(row.log_group, 0) + int(row.bytes)
    for group, size in freed.items():
        connection.execute(
            update(log_groups).where(_G.name == group).values(stored_bytes=_G.stored_bytes - size)
        )
    return len(rows)
