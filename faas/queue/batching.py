"""Group commit: callers wait for their item's transaction, and the items that arrive while
one transaction runs share the next.

The transaction runs in a thread, off the event loop. Used for accepting events (each 202
follows its commit) and for events leaving the queue (a commit per event capped the drain at
a few hundred events a second).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


class GroupCommit(Generic[Item, Outcome]):
    def __init__(
        self, commit: Callable[[Sequence[Item]], Sequence[Outcome]], *, max_batch: int
    ) -> None:
        self._commit = commit
        self._max_batch = max_batch
        self._pending: list[tuple[Item, asyncio.Future[Outcome]]] = []
        self._running: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        return len(self._pending)

    async def submit(self, item: Item) -> Outcome:
        """Return the item's outcome once its transaction committed; raise what the
        transaction raised (every item of a failed batch gets the error)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Outcome] = loop.create_future()
        self._pending.append((item, waiter))
        if self._running is None:
            self._running = loop.create_task(self._commit_pending())
        return await waiter

    async def _commit_pending(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    outcomes = await asyncio.to_thread(self._commit, [item for item, _ in batch])
                except Exception as exc:
                    for _, waiter in batch:
                        if not waiter.done():
                            waiter.set_exception(exc)
                    continue
                for (_, waiter), outcome in zip(batch, outcomes, strict=True):
                    if not waiter.done():
                        waiter.set_result(outcome)
        finally:
            self._running = None
