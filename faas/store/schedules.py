"""Schedule triggers, and claiming their ticks.

A tick is claimed by moving `last_tick_ms` forward with an UPDATE that only succeeds if the
tick is later than the one stored, in the same transaction as the queued event it causes: a
tick fires at most once, whoever (a restarted server, later another node) tries it again.
"""

from __future__ import annotations

from sqlalchemy import Engine, RowMapping, delete, insert, or_, select, update

from faas.domain import QueuedEvent, ScheduleTrigger
from faas.store.queue import event_row
from faas.store.tables import event_queue, schedules


class ScheduleRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(self) -> list[ScheduleTrigger]:
        query = select(schedules).order_by(schedules.c.created_ms, schedules.c.id)
        with self._engine.connect() as connection:
            return [_schedule(row) for row in connection.execute(query).mappings()]

    def add(self, schedule: ScheduleTrigger) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                insert(schedules).values(
                    id=schedule.id,
                    function_name=schedule.function_name,
                    expression=schedule.expression,
                    created_ms=schedule.created_ms,
                    last_tick_ms=schedule.last_tick_ms,
                )
            )

    def remove(self, schedule_id: str) -> bool:
        with self._engine.begin() as connection:
            gone = connection.execute(delete(schedules).where(schedules.c.id == schedule_id))
            return bool(gone.rowcount)

    def claim_tick(self, schedule_id: str, tick_ms: int, event: QueuedEvent | None) -> bool:
        """Record `tick_ms` as fired and queue `event`, in one transaction; False (nothing
        changed) when this tick or a later one was fired already, or the schedule is gone.
        `event` None: the tick is skipped (passed over), not fired."""
        with self._engine.begin() as connection:
            claimed = connection.execute(
                update(schedules)
                .where(
                    schedules.c.id == schedule_id,
                    or_(schedules.c.last_tick_ms.is_(None), schedules.c.last_tick_ms < tick_ms),
                )
                .values(last_tick_ms=tick_ms)
            )
            if claimed.rowcount != 1:
                return False
            if event is not None:
                connection.execute(insert(event_queue).values(event_row(event)))
        return True


def _schedule(row: RowMapping) -> ScheduleTrigger:
    return ScheduleTrigger(
        id=row["id"],
        function_name=row["function_name"],
        expression=row["expression"],
        created_ms=row["created_ms"],
        last_tick_ms=row["last_tick_ms"],
    )
