"""The dead-letter store as the platform API uses it: list, re-drive, delete; and the
retention sweep.

A re-driven dead letter becomes a new event with a new request id (as an event re-driven
from a Lambda dead-letter queue is a new invocation): its attempts count from 0, its age
starts again, and the records of its new attempts never collide with those of the attempts
that failed (records are unique per request id and attempt).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence

from faas.domain import DeadLetter
from faas.queue.enqueuer import Enqueuer
from faas.request_ids import RequestIds
from faas.store.dead_letters import DeadLetterRepo, Redriven

log = logging.getLogger(__name__)

DAY_S = 86400


class DeadLetters:
    def __init__(
        self,
        repo: DeadLetterRepo,
        enqueuer: Enqueuer,
        wake: Callable[[], None],
        *,
        retention_days: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._repo = repo
        self._enqueuer = enqueuer
        self._wake = wake
        self._retention_s = retention_days * DAY_S
        self._clock = clock
        self._ids = RequestIds()
        self._ids_lock = threading.Lock()  # re-drives run in threads, maybe two at once

    async def counts(self) -> dict[str, int]:
        """Dead letters kept, per function (for /metrics)."""
        return await asyncio.to_thread(self._repo.counts)

    async def list_for(self, function_name: str, limit: int) -> list[DeadLetter]:
        return await asyncio.to_thread(self._repo.list_for, function_name, limit)

    async def redrive(
        self, function_name: str, request_ids: Sequence[str] | None
    ) -> list[Redriven]:
        """Put the function's dead letters (those of `request_ids`, or all) back on the queue,
        due now; the dispatcher is woken."""
        now_ms = int(self._clock() * 1000)
        moved = await asyncio.to_thread(
            self._repo.redrive, function_name, request_ids, now_ms, self._new_id
        )
        if moved:
            self._enqueuer.depth += len(moved)
            self._wake()
        return moved

    async def delete(self, function_name: str, request_ids: Sequence[str] | None) -> list[str]:
        return await asyncio.to_thread(self._repo.delete, function_name, request_ids)

    def sweep(self) -> int:
        """Delete dead letters older than the retention (blocking)."""
        return self._repo.sweep(int((self._clock() - self._retention_s) * 1000))

    async def sweep_forever(self, interval_s: float) -> None:
        """The retention sweep: now, then every `interval_s`."""
        while True:
            try:
                deleted = await asyncio.to_thread(self.sweep)
                if deleted:
                    log.info("deleted %d dead letters past their retention", deleted)
            except Exception:
                log.exception("sweeping dead letters failed; will retry")
            await asyncio.sleep(interval_s)

    def _new_id(self) -> str:
        with self._ids_lock:
            return self._ids.new()
