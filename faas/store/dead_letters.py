"""The dead-letter store's rows: list, re-drive onto the event queue, delete, and the
retention sweep.

One code path for SQLite and PostgreSQL. A re-drive moves rows in one transaction: each
dead letter leaves the store and its event enters the queue together, so a crash in between
neither loses an event nor runs it twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, RowMapping, delete, func, insert, select

from faas.domain import DeadLetter
from faas.store.tables import dead_letters, event_queue


@dataclass(frozen=True, slots=True)
class Redriven:
    """A dead letter put back on the queue as a new event (`new_request_id`)."""

    request_id: str
    new_request_id: str


class DeadLetterRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def counts(self) -> dict[str, int]:
        """Dead letters kept, per function."""
        query = select(dead_letters.c.function_name, func.count()).group_by(
            dead_letters.c.function_name
        )
        with self._engine.connect() as connection:
            return {name: int(n) for name, n in connection.execute(query)}

    def list_for(self, function_name: str, limit: int) -> list[DeadLetter]:
        """The function's dead letters, oldest failure first."""
        query = (
            select(dead_letters)
            .where(dead_letters.c.function_name == function_name)
            .order_by(dead_letters.c.id)
            .limit(limit)
        )
        with self._engine.connect() as connection:
            return [_letter(row) for row in connection.execute(query).mappings()]

    def redrive(
        self,
        function_name: str,
        request_ids: Sequence[str] | None,
        now_ms: int,
        new_request_id: Callable[[], str],
    ) -> list[Redriven]:
        """Move the function's dead letters (those of `request_ids`, or all) back onto the
        event queue as new events: attempts from 0, accepted and due `now_ms` (so their age
        starts again). One transaction for all of them."""
        moved: list[Redriven] = []
        with self._engine.begin() as connection:
            query = (
                select(dead_letters)
                .where(_chosen(function_name, request_ids))
                .order_by(dead_letters.c.id)
                .with_for_update()
            )
            rows = connection.execute(query).mappings().all()
            if not rows:
                return []
            events = []
            for row in rows:
                fresh = new_request_id()
                moved.append(Redriven(row["request_id"], fresh))
                events.append(
                    {
                        "request_id": fresh,
                        "function_name": row["function_name"],
                        "qualifier": row["qualifier"],
                        "payload": bytes(row["payload"]),
                        "client_context": row["client_context"],
                        "enqueued_at_ms": now_ms,
                        "attempts": 0,
                        "not_before_ms": now_ms,
                    }
                )
            connection.execute(
                delete(dead_letters).where(dead_letters.c.id.in_([row["id"] for row in rows]))
            )
            connection.execute(insert(event_queue), events)
        return moved

    def delete(self, function_name: str, request_ids: Sequence[str] | None) -> list[str]:
        """Delete the function's dead letters (those of `request_ids`, or all); returns the
        request ids deleted."""
        with self._engine.begin() as connection:
            chosen = _chosen(function_name, request_ids)
            found = connection.execute(select(dead_letters.c.request_id).where(chosen))
            deleted = [str(request_id) for (request_id,) in found]
            if deleted:
                connection.execute(delete(dead_letters).where(chosen))
        return deleted

    def sweep(self, failed_before_ms: int) -> int:
        """Delete every dead letter that failed before `failed_before_ms` (retention)."""
        with self._engine.begin() as connection:
            gone = connection.execute(
                delete(dead_letters).where(dead_letters.c.failed_at_ms < failed_before_ms)
            )
        return int(gone.rowcount)


def _chosen(function_name: str, request_ids: Sequence[str] | None) -> ColumnElement[bool]:
    where = dead_letters.c.function_name == function_name
    if request_ids is not None:
        where = where & dead_letters.c.request_id.in_(list(request_ids))
    return where


def _letter(row: RowMapping) -> DeadLetter:
    return DeadLetter(
        request_id=row["request_id"],
        function_name=row["function_name"],
        qualifier=row["qualifier"],
        payload=bytes(row["payload"]),
        client_context=row["client_context"],
        enqueued_at_ms=row["enqueued_at_ms"],
        failed_at_ms=row["failed_at_ms"],
        attempts=row["attempts"],
        condition=row["condition"],
        last_error=row["last_error"],
    )
