"""Schedule ticks into the queue: a tick is claimed and its event queued in one transaction
(faas/store/schedules.py), so it fires at most once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from faas.domain import QueuedEvent
from faas.queue.enqueuer import Enqueuer
from faas.store.schedules import ScheduleRepo


class ScheduleTicks:
    def __init__(
        self, repo: ScheduleRepo, enqueuer: Enqueuer, *, on_committed: Callable[[], None]
    ) -> None:
        self._repo = repo
        self._enqueuer = enqueuer
        self._on_committed = on_committed

    async def fire(self, schedule_id: str, tick_ms: int, event: QueuedEvent | None) -> bool:
        """True if this call claimed the tick (and queued `event`, unless None: a tick passed
        over); False if it had been claimed already."""
        fired = await asyncio.to_thread(self._repo.claim_tick, schedule_id, tick_ms, event)
        if fired and event is not None:
            self._enqueuer.depth += 1
            self._on_committed()
        return fired
