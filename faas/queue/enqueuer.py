"""Accepting async events: each is committed to the queue table before its caller gets 202.

Commits are grouped: while one transaction runs (in a thread, off the event loop), the events
accepted meanwhile wait for the next, which takes them all (up to `max_batch`). A burst of
async calls so costs a few transactions, not one each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from faas.domain import QueuedEvent
from faas.errors import DiskFull, ServiceError, TooManyRequests, is_disk_full
from faas.queue.batching import GroupCommit
from faas.store.queue import EventQueueRepo

log = logging.getLogger(__name__)

QUEUE_FULL_REASON = "AsyncQueueFull"


class Enqueuer:
    def __init__(
        self,
        repo: EventQueueRepo,
        *,
        max_batch: int,
        max_events: int,
        on_committed: Callable[[], None],
    ) -> None:
        self._repo = repo
        self._max_events = max_events
        self._on_committed = on_committed
        self._commits: GroupCommit[QueuedEvent, None] = GroupCommit(
            self._commit, max_batch=max_batch
        )
        # Events in the table, as this server knows it (read at start, then counted).
        self.depth = 0

    def start(self) -> None:
        self.depth = self._repo.count()

    def left_queue(self, events: int = 1) -> None:
        """Events that completed or were moved out (the dispatcher reports them)."""
        self.depth = max(0, self.depth - events)

    async def enqueue(self, event: QueuedEvent) -> None:
        """Return once `event` is committed; TooManyRequests when the queue is full,
        ServiceError when the database refused it."""
        if self.depth + self._commits.waiting >= self._max_events:
            raise TooManyRequests(
                f"The async invocation queue is full ({self._max_events} events, "
                "queue.max_events); try again later",
                reason=QUEUE_FULL_REASON,
            )
        try:
            await self._commits.submit(event)
        except Exception as exc:
            log.error("async events not accepted: %s", exc)
            if is_disk_full(exc):
                raise DiskFull("the async invocation") from exc
            raise ServiceError("The async invocation could not be queued; try again") from exc
        self.depth += 1
        self._on_committed()

    def _commit(self, events: Sequence[QueuedEvent]) -> list[None]:
        self._repo.enqueue_many(events)
        return [None] * len(events)
