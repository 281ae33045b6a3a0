"""Deleting invocation records past their retention (store.records_retention_days).

In small batches (store.retention_batch_rows per transaction, the event loop served between
them), oldest first along the primary key, so a sweep never holds the database for long. The
monthly billing rollups are kept: a month bills the same once its records are gone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from sqlalchemy import Engine, delete, select

from faas.store.tables import invocations

log = logging.getLogger(__name__)

DAY_MS = 86_400_000


class RecordRetention:
    def __init__(
        self,
        engine: Engine,
        *,
        retention_days: float,
        batch_rows: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._retention_ms = int(retention_days * DAY_MS)
        self._batch_rows = batch_rows
        self._clock = clock
        self.deleted = 0

    def delete_batch(self) -> int:
        """Delete up to one batch of records past their retention (blocking); how many."""
        cutoff_ms = int(self._clock() * 1000) - self._retention_ms
        oldest = (
            select(invocations.c.id)
            .where(invocations.c.started_at_ms < cutoff_ms)
            .order_by(invocations.c.id)
            .limit(self._batch_rows)
        )
        with self._engine.begin() as connection:
            gone = connection.execute(
                delete(invocations).where(invocations.c.id.in_(oldest.scalar_subquery()))
            )
        return int(gone.rowcount)

    async def sweep(self) -> int:
        """Delete every record past its retention, batch by batch; how many went."""
        total = 0
        while True:
            deleted = await asyncio.to_thread(self.delete_batch)
            total += deleted
            if deleted < self._batch_rows:
                break
            await asyncio.sleep(0)  # requests first, between batches
        self.deleted += total
        if total:
            log.info("records: %d past their retention deleted", total)
        return total

    async def run_forever(self, interval_s: float) -> None:
        while True:
            try:
                await self.sweep()
            except Exception as exc:  # retried on the next tick
                log.warning("records: deleting those past their retention failed: %s", exc)
            await asyncio.sleep(interval_s)
