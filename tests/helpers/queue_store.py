"""Scenarios of the queue's repositories (event queue, dead letters, event invoke configs),
run against SQLite and PostgreSQL alike (tests/unit/store/test_store_dead_letters.py)."""

from __future__ import annotations

import itertools

from sqlalchemy import Engine

from faas.domain import EventInvokeConfig, QueuedEvent
from faas.store.dead_letters import DeadLetterRepo
from faas.store.event_configs import EventConfigRepo
from faas.store.queue import EventQueueRepo, Lease


def event(request_id: str, function_name: str = "fn", payload: bytes = b'{"n": 1}') -> QueuedEvent:
    return QueuedEvent(
        request_id=request_id,
        function_name=function_name,
        qualifier=None,
        payload=payload,
        client_context=None,
        enqueued_at_ms=1_000,
        not_before_ms=1_000,
    )


def dead_letter_via_queue(queue: EventQueueRepo, queued: QueuedEvent, failed_at_ms: int) -> None:
    """Enqueue, claim and fail `queued` for good: the dispatcher's path into the store."""
    queue.enqueue_many([queued])
    (claimed,) = queue.claim("owner", now_ms=2_000, lease_ms=60_000, limit=1)
    lease = Lease("owner", claimed.attempts)
    assert queue.dead_letter(claimed, lease, failed_at_ms, "RetriesExhausted", "boom")


def failed_events_are_listed_redriven_and_deleted(engine: Engine) -> None:
    queue, letters = EventQueueRepo(engine), DeadLetterRepo(engine)
    dead_letter_via_queue(queue, event("a"), failed_at_ms=5_000)
    dead_letter_via_queue(queue, event("b"), failed_at_ms=6_000)
    dead_letter_via_queue(queue, event("c", function_name="other"), failed_at_ms=7_000)
    assert queue.count() == 0
    listed = letters.list_for("fn", limit=10)
    assert [(x.request_id, x.attempts, x.condition, x.last_error) for x in listed] == [
        ("a", 1, "RetriesExhausted", "boom"),
        ("b", 1, "RetriesExhausted", "boom"),
    ]
    assert listed[0].payload == b'{"n": 1}' and listed[0].failed_at_ms == 5_000
    assert [x.request_id for x in letters.list_for("fn", limit=1)] == ["a"]

    # Re-driven: new events (new ids), attempts from 0, accepted and due now.
    fresh = (f"new-{n}" for n in itertools.count())
    moved = letters.redrive("fn", ["b"], now_ms=9_000, new_request_id=lambda: next(fresh))
    assert [(m.request_id, m.new_request_id) for m in moved] == [("b", "new-0")]
    assert [x.request_id for x in letters.list_for("fn", limit=10)] == ["a"]
    (requeued,) = queue.claim("owner", now_ms=9_000, lease_ms=60_000, limit=5)
    assert (requeued.request_id, requeued.attempts, requeued.enqueued_at_ms) == ("new-0", 1, 9_000)
    assert requeued.payload == b'{"n": 1}'
    assert letters.redrive("fn", ["nobody"], 9_000, lambda: "x") == []

    # Deleted: only the function's own, by id or all.
    assert letters.delete("fn", ["c"]) == []
    assert letters.delete("fn", None) == ["a"]
    assert letters.list_for("fn", limit=10) == []
    assert [x.request_id for x in letters.list_for("other", limit=10)] == ["c"]


def redriving_everything_moves_every_letter_in_one_go(engine: Engine) -> None:
    queue, letters = EventQueueRepo(engine), DeadLetterRepo(engine)
    for n in range(5):
        dead_letter_via_queue(queue, event(f"e{n}"), failed_at_ms=5_000)
    fresh = (f"new-{n}" for n in itertools.count())
    moved = letters.redrive("fn", None, now_ms=9_000, new_request_id=lambda: next(fresh))
    assert [m.request_id for m in moved] == [f"e{n}" for n in range(5)]
    assert queue.count() == 5
    assert letters.list_for("fn", limit=10) == []


def the_retention_sweep_deletes_old_letters_only(engine: Engine) -> None:
    queue, letters = EventQueueRepo(engine), DeadLetterRepo(engine)
    dead_letter_via_queue(queue, event("old"), failed_at_ms=1_000)
    dead_letter_via_queue(queue, event("new"), failed_at_ms=10_000)
    assert letters.sweep(failed_before_ms=5_000) == 1
    assert [x.request_id for x in letters.list_for("fn", limit=10)] == ["new"]


def event_configs_are_put_listed_and_deleted_per_function(engine: Engine) -> None:
    configs = EventConfigRepo(engine)
    first = EventInvokeConfig("fn", "$LATEST", 1, 120, None, "arn:x", last_modified_ms=1)
    configs.put(first)
    configs.put(EventInvokeConfig("other", "$LATEST", None, None, "arn:y", None, 2))
    assert configs.get("fn", "$LATEST") == first
    replaced = EventInvokeConfig("fn", "$LATEST", None, 300, None, None, last_modified_ms=3)
    configs.put(replaced)
    assert configs.for_event("fn", None) == replaced
    assert configs.list_for("fn") == [replaced]
    assert configs.delete("fn") == 1
    assert configs.get("fn", "$LATEST") is None
    assert configs.get("other", "$LATEST") is not None
