"""Accepting async events: each is committed to the queue table before its caller gets 202.

Commits are grouped: while one transaction runs (in a thread, off the event loop), the events
accepted meanwhile wait for the next, which takes them all (up to `max_batch`). A burst of
async calls so costs a few transactions, not one each.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from faas.domain import QueuedEvent
from faas.errors import ServiceError, TooManyRequests
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
        self._max_batch = max_batch
        self._max_events = max_events
        self._on_committed = on_committed
        self._pending: list[tuple[QueuedEvent, asyncio.Future[None]]] = []
        self._committing: asyncio.Task[None] | None = None
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
        if self.depth + len(self._pending) >= self._max_events:
            raise TooManyRequests(
                f"The async invocation queue is full ({self._max_events} events, "
                "queue.max_events); try again later",
                reason=QUEUE_FULL_REASON,
            )
        waiter = asyncio.get_running_loop().create_future()
        self._pending.append((event, waiter))
        if self._committing is None:
            self._committing = asyncio.get_running_loop().create_task(self._commit_pending())
        await waiter

    async def _commit_pending(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    await asyncio.to_thread(self._repo.enqueue_many, [e for e, _ in batch])
                except Exception as exc:
                    log.error("async events not accepted: %s", exc)
                    error = ServiceError("The async invocation could not be queued; try again")
                    for _, waiter in batch:
                        if not waiter.done():
                            waiter.set_exception(error)
                    continue
                self.depth += len(batch)
                for _, waiter in batch:
                    if not waiter.done():
                        waiter.set_result(None)
                self._on_committed()
        finally:
            self._committing = None
