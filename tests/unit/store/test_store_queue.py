"""The async invocation queue's rows (faas/store/queue.py), on SQLite and PostgreSQL alike:
claims under leases, never one event to two claimers at once, and every way out checks the
lease it was given."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from faas.domain import QueuedEvent
from faas.store.queue import EventQueueRepo, Lease


def event(n: int, *, not_before_ms: int = 0, function: str = "f") -> QueuedEvent:
    return QueuedEvent(
        request_id=f"00000000-0000-7000-8000-{n:012d}",
        function_name=function,
        qualifier=None,
        payload=b'{"n": %d}' % n,
        client_context=None,
        enqueued_at_ms=1_000,
        not_before_ms=not_before_ms,
    )


def test_a_claim_leases_due_events_and_counts_their_attempt(store_engine: Engine) -> None:
    repo = EventQueueRepo(store_engine)
    repo.enqueue_many([event(1), event(2), event(3, not_before_ms=5_000)])
    claimed = repo.claim("a", now_ms=2_000, lease_ms=1_000, limit=10)
    assert sorted(e.request_id[-1] for e in claimed) == ["1", "2"]
    assert {e.attempts for e in claimed} == {1}
    # Leased: nobody else gets them until the lease lapses.
    assert repo.claim("b", now_ms=2_500, lease_ms=1_000, limit=10) == []
    again = repo.claim("b", now_ms=3_001, lease_ms=1_000, limit=10)
    assert sorted(e.request_id[-1] for e in again) == ["1", "2"]
    assert {e.attempts for e in again} == {2}
    # The first claimer's lease is gone: what it does with the events changes nothing.
    assert not repo.complete(claimed[0].request_id, Lease("a", 1))
    assert repo.complete(again[0].request_id, Lease("b", 2))
    assert repo.count() == 2


def test_concurrent_claimers_never_share_an_event(store_engine: Engine) -> None:
    repo = EventQueueRepo(store_engine)
    repo.enqueue_many([event(n) for n in range(200)])
    taken: dict[str, list[str]] = {}

    def claim_all(owner: str) -> None:
        mine = taken.setdefault(owner, [])
        while batch := repo.claim(owner, now_ms=2_000, lease_ms=60_000, limit=7):
            mine += [e.request_id for e in batch]

    threads = [threading.Thread(target=claim_all, args=(f"owner-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [rid for ids in taken.values() for rid in ids]
    assert len(everything) == 200
    assert len(set(everything)) == 200


def test_retry_defer_and_dead_letter_check_the_lease(store_engine: Engine) -> None:
    repo = EventQueueRepo(store_engine)
    repo.enqueue_many([event(1), event(2), event(3)])
    first, second, third = sorted(
        repo.claim("a", now_ms=2_000, lease_ms=1_000, limit=10), key=lambda e: e.request_id
    )
    assert repo.retry_later(first.request_id, Lease("a", 1), 10_000, "ValueError: no")
    assert repo.defer(second.request_id, Lease("a", 1), 10_000, "throttled")
    assert not repo.retry_later(third.request_id, Lease("other", 1), 10_000, "x")
    assert repo.dead_letter(third, Lease("a", 1), 3_000, "RetriesExhausted", "boom")
    assert repo.claim("b", now_ms=9_999, lease_ms=1_000, limit=10) == []
    later = {e.request_id: e for e in repo.claim("b", now_ms=10_000, lease_ms=1_000, limit=10)}
    assert later[first.request_id].attempts == 2  # a retry counts
    assert later[second.request_id].attempts == 1  # a throttled try does not
    assert later[first.request_id].last_error == "ValueError: no"
    assert repo.count() == 2


def test_completing_with_a_follow_up_is_one_step(store_engine: Engine) -> None:
    repo = EventQueueRepo(store_engine)
    repo.enqueue_many([event(1)])
    (claimed,) = repo.claim("a", now_ms=2_000, lease_ms=1_000, limit=1)
    follow_up = event(99, function="alerts")
    assert repo.complete(claimed.request_id, Lease("a", 1), follow_up)
    (next_one,) = repo.claim("a", now_ms=2_000, lease_ms=1_000, limit=5)
    assert (next_one.function_name, next_one.request_id) == ("alerts", follow_up.request_id)
    # A stale lease neither completes nor enqueues anything.
    assert not repo.complete(next_one.request_id, Lease("a", 7), event(100))
    assert repo.count() == 1


def test_skipped_functions_are_not_claimed_and_depths_are_per_function(
    store_engine: Engine,
) -> None:
    repo = EventQueueRepo(store_engine)
    repo.enqueue_many([event(1, function="busy"), event(2, function="free")])
    claimed = repo.claim("a", now_ms=2_000, lease_ms=1_000, limit=10, skip=["busy"])
    assert [e.function_name for e in claimed] == ["free"]
    depths = {d.function_name: (d.events, d.oldest_enqueued_ms) for d in repo.depths()}
    assert depths == {"busy": (1, 1_000), "free": (1, 1_000)}
