"""The async invocation queue's rows: enqueue, claim under a lease, and the ways out.

One code path for SQLite and PostgreSQL. A claim selects due rows with `FOR UPDATE SKIP
LOCKED` (PostgreSQL; SQLite has one writer and ignores it), then takes each with an UPDATE
that checks again that nobody holds a live lease on it, so two claimers (later: two nodes)
never run one event at the same time. Every later change names the lease owner and the
attempt it claimed: a claimer whose lease ran out and was taken over changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Engine,
    RowMapping,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)

from faas.domain import QueuedEvent
from faas.store.tables import dead_letters, event_queue


@dataclass(frozen=True, slots=True)
class Lease:
    """Who runs a claimed event, and which attempt of it."""

    owner: str
    attempt: int


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """Events of one function waiting or running, and when the oldest was accepted."""

    function_name: str
    events: int
    oldest_enqueued_ms: int


class EventQueueRepo:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def enqueue_many(self, events: Sequence[QueuedEvent]) -> None:
        """Commit every event in one transaction (the group commit behind the 202s)."""
        if not events:
            return
        with self._engine.begin() as connection:
            connection.execute(insert(event_queue), [event_row(event) for event in events])

    def count(self) -> int:
        with self._engine.connect() as connection:
            return int(
                connection.execute(select(func.count()).select_from(event_queue)).scalar_one()
            )

    def depths(self) -> list[QueueDepth]:
        query = select(
            event_queue.c.function_name,
            func.count(),
            func.min(event_queue.c.enqueued_at_ms),
        ).group_by(event_queue.c.function_name)
        with self._engine.connect() as connection:
            return [
                QueueDepth(name, int(count), int(oldest))
                for name, count, oldest in connection.execute(query)
            ]

    def claim(
        self, owner: str, now_ms: int, lease_ms: int, limit: int, skip: Sequence[str] = ()
    ) -> list[QueuedEvent]:
        """Up to `limit` due events nobody holds, leased to `owner` until now + lease_ms,
        their attempt counted. `skip`: functions not to take now (throttled).

        One statement: UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING.
        The outer WHERE checks the lease again, so a row another claimer took between the
        two is not taken twice (SQLite: one writer at a time; it has no FOR UPDATE)."""
        if limit <= 0:
            return []
        free = or_(event_queue.c.lease_owner.is_(None), event_queue.c.lease_expires_ms < now_ms)
        due = and_(event_queue.c.not_before_ms <= now_ms, free)
        if skip:
            due = and_(due, event_queue.c.function_name.not_in(list(skip)))
        candidates = (
            select(event_queue.c.id)
            .where(due)
            .order_by(event_queue.c.not_before_ms)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            update(event_queue)
            .where(event_queue.c.id.in_(candidates.scalar_subquery()), free)
            .values(
                lease_owner=owner,
                lease_expires_ms=now_ms + lease_ms,
                attempts=event_queue.c.attempts + 1,
            )
            .returning(*event_queue.c)
        )
        with self._engine.begin() as connection:
            rows = connection.execute(statement).mappings().all()
        return [_event(row, attempts=row["attempts"]) for row in rows]

    def extend(self, request_ids: Sequence[str], owner: str, until_ms: int) -> None:
        """Renew the leases `owner` holds on these events (it is still running them)."""
        if not request_ids:
            return
        with self._engine.begin() as connection:
            connection.execute(
                update(event_queue)
                .where(
                    event_queue.c.request_id.in_(list(request_ids)),
                    event_queue.c.lease_owner == owner,
                )
                .values(lease_expires_ms=until_ms)
            )

    def complete(self, request_id: str, lease: Lease, follow_up: QueuedEvent | None = None) -> bool:
        """The event is done: it leaves the queue, and `follow_up` (its destination's event)
        enters it, in one transaction. False (and nothing changed) if the lease was no longer
        this one's."""
        return self.complete_many([(request_id, lease, follow_up)])[0]

    def complete_many(self, done: Sequence[tuple[str, Lease, QueuedEvent | None]]) -> list[bool]:
        """`complete` for several events in one transaction (one DELETE ... RETURNING, one
        INSERT of the follow-ups); each one's outcome."""
        if not done:
            return []
        held = tuple_(event_queue.c.lease_owner, event_queue.c.request_id, event_queue.c.attempts)
        keys = [(lease.owner, request_id, lease.attempt) for request_id, lease, _ in done]
        with self._engine.begin() as connection:
            gone = {
                row[0]
                for row in connection.execute(
                    delete(event_queue).where(held.in_(keys)).returning(event_queue.c.request_id)
                )
            }
            follow_ups = [event_row(f) for rid, _, f in done if f is not None and rid in gone]
            if follow_ups:
                connection.execute(insert(event_queue), follow_ups)
        return [request_id in gone for request_id, _, _ in done]

    def retry_later(self, request_id: str, lease: Lease, not_before_ms: int, error: str) -> bool:
        """Give the event back, due again at `not_before_ms` (the attempt stays counted)."""
        return self._give_back(request_id, lease, not_before_ms, error, attempts_delta=0)

    def defer(self, request_id: str, lease: Lease, not_before_ms: int, reason: str) -> bool:
        """Give the event back without counting the attempt (it never ran: throttled)."""
        return self._give_back(request_id, lease, not_before_ms, reason, attempts_delta=-1)

    def dead_letter(
        self, event: QueuedEvent, lease: Lease, failed_at_ms: int, condition: str, error: str
    ) -> bool:
        """Move the event to the dead-letter store, in one transaction with its leaving."""
        with self._engine.begin() as connection:
            gone = connection.execute(delete(event_queue).where(_held(event.request_id, lease)))
            if gone.rowcount != 1:
                return False
            connection.execute(
                insert(dead_letters).values(
                    request_id=event.request_id,
                    function_name=event.function_name,
                    qualifier=event.qualifier,
                    payload=event.payload,
                    client_context=event.client_context,
                    enqueued_at_ms=event.enqueued_at_ms,
                    failed_at_ms=failed_at_ms,
                    attempts=event.attempts,
                    condition=condition,
                    last_error=error,
                )
            )
        return True

    def _give_back(
        self, request_id: str, lease: Lease, not_before_ms: int, note: str, *, attempts_delta: int
    ) -> bool:
        with self._engine.begin() as connection:
            given = connection.execute(
                update(event_queue)
                .where(_held(request_id, lease))
                .values(
                    lease_owner=None,
                    lease_expires_ms=None,
                    not_before_ms=not_before_ms,
                    last_error=note,
                    attempts=event_queue.c.attempts + attempts_delta,
                )
            )
            return bool(given.rowcount == 1)


def _held(request_id: str, lease: Lease) -> ColumnElement[bool]:
    return and_(
        event_queue.c.request_id == request_id,
        event_queue.c.lease_owner == lease.owner,
        event_queue.c.attempts == lease.attempt,
    )


def event_row(event: QueuedEvent) -> dict[str, object]:
    return {
        "request_id": event.request_id,
        "function_name": event.function_name,
        "qualifier": event.qualifier,
        "payload": event.payload,
        "client_context": event.client_context,
        "enqueued_at_ms": event.enqueued_at_ms,
        "attempts": event.attempts,
        "not_before_ms": event.not_before_ms,
    }


def _event(row: RowMapping, *, attempts: int) -> QueuedEvent:
    return QueuedEvent(
        request_id=row["request_id"],
        function_name=row["function_name"],
        qualifier=row["qualifier"],
        payload=bytes(row["payload"]),
        client_context=row["client_context"],
        enqueued_at_ms=row["enqueued_at_ms"],
        attempts=attempts,
        not_before_ms=row["not_before_ms"],
        last_error=row["last_error"],
    )
