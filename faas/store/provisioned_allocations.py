"""How long provisioned concurrency was allocated (`provisioned_allocations`), for the bill.

Lambda bills provisioned concurrency from the time it is configured until it is removed,
whether or not it serves, rounded up to 5 minutes. An allocation is one interval at one
size (workers x MemorySize): it is closed and a new one opened whenever either changes, in
the same transaction that changes the function, so the intervals cannot disagree with it.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Connection, Engine, and_, insert, or_, select, update

from faas import billing
from faas.domain import LATEST
from faas.store.tables import provisioned_allocations

_A = provisioned_allocations.c


def reallocate(
    connection: Connection,
    function_name: str,
    workers: int,
    memory_mb: int,
    now_ms: int,
    *,
    qualifier: str = LATEST,
) -> None:
    """Make the open allocation of the function's `qualifier` `workers` x `memory_mb` (none
    for 0 workers), in the caller's transaction; nothing changes when it already is."""
    open_ = connection.execute(
        select(_A.id, _A.workers, _A.memory_mb).where(
            _A.function_name == function_name,
            _A.qualifier == qualifier,
            _A.ended_at_ms.is_(None),
        )
    ).all()
    if len(open_) == 1 and (open_[0].workers, open_[0].memory_mb) == (workers, memory_mb):
        return
    if open_:
        connection.execute(
            update(provisioned_allocations)
            .where(_A.id.in_([row.id for row in open_]))
            .values(ended_at_ms=now_ms)
        )
    if workers > 0:
        connection.execute(
            insert(provisioned_allocations).values(
                function_name=function_name,
                qualifier=qualifier,
                workers=workers,
                memory_mb=memory_mb,
                started_at_ms=now_ms,
            )
        )


def deallocate_all(connection: Connection, function_name: str, now_ms: int) -> None:
    """Close every open allocation of the function (it is being deleted)."""
    connection.execute(
        update(provisioned_allocations)
        .where(_A.function_name == function_name, _A.ended_at_ms.is_(None))
        .values(ended_at_ms=now_ms)
    )


class ProvisionedAllocationRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def month(self, month: str, now_ms: int) -> dict[str, billing.Usage]:
        """Function -> the provisioned GB-seconds allocated in the month (up to `now_ms` for an
        allocation still open), each interval's part of the month rounded up to 5 minutes."""
        start_ms, end_ms = billing.month_range_ms(month)
        query = select(_A.function_name, _A.workers, _A.memory_mb, _A.started_at_ms, _A.ended_at_ms)
        query = query.where(
            and_(
                _A.started_at_ms < end_ms, or_(_A.ended_at_ms.is_(None), _A.ended_at_ms > start_ms)
            )
        )
        usage: dict[str, billing.Usage] = defaultdict(billing.Usage)
        with self._engine.connect() as connection:
            for name, workers, memory_mb, started, ended in connection.execute(query):
                until = min(end_ms, now_ms if ended is None else ended)
                allocated_ms = until - max(start_ms, started)
                if allocated_ms <= 0:
                    continue
                seconds = -(-allocated_ms // 1000)
                usage[name] += billing.Usage(
                    provisioned_gb_seconds=billing.provisioned_gb_seconds(
                        seconds, memory_mb, workers
                    )
                )
        return dict(usage)
