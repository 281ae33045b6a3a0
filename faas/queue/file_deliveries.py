"""File events from buckets, queued exactly once per version of a file.

Each delivery changes the trigger's ledger row and inserts its queued event in one
transaction (faas/store/file_ledger.py), grouped like accepted events: the watcher, a rescan
and a restart may all offer the same version, and only the first commits it. The queue's
bound (queue.max_events) does not apply: a file event is never dropped, the ledger would
otherwise have to forget it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence

from faas.domain import FileDelivery, FileVersion
from faas.queue.batching import GroupCommit
from faas.queue.enqueuer import Enqueuer
from faas.store.file_ledger import FileLedgerRepo


class FileDeliveries:
    def __init__(
        self,
        repo: FileLedgerRepo,
        enqueuer: Enqueuer,
        *,
        max_batch: int,
        on_committed: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._repo = repo
        self._enqueuer = enqueuer
        self._on_committed = on_committed
        self._clock = clock
        self._commits: GroupCommit[FileDelivery, bool] = GroupCommit(
            self._commit, max_batch=max_batch
        )

    @property
    def waiting(self) -> int:
        """Deliveries waiting for their transaction."""
        return self._commits.waiting

    async def deliver(self, delivery: FileDelivery) -> bool:
        """Commit the delivery; True if it was new (its event is queued), False if this
        version (or this removal) was delivered before."""
        new = await self._commits.submit(delivery)
        if new and delivery.event is not None:
            self._enqueuer.depth += 1
            self._on_committed()
        return new

    async def versions(self, trigger_id: str) -> dict[str, FileVersion]:
        return await asyncio.to_thread(self._repo.versions, trigger_id)

    async def baseline(self, trigger_id: str, files: Iterable[tuple[str, FileVersion]]) -> None:
        rows = list(files)
        await asyncio.to_thread(self._repo.baseline, trigger_id, rows, self._now_ms())

    def _commit(self, deliveries: Sequence[FileDelivery]) -> list[bool]:
        return self._repo.deliver_many(deliveries, self._now_ms())

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)
