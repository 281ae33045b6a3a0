"""SlotPool: kinds kept at their target ahead of demand, slots given back kept up to a limit,
the idle ones handed over at stop."""

from __future__ import annotations

import itertools
import time

from faas.pool.slotpool import MAX_IDLE_PER_KIND, SlotPool


def make_pool(kinds: list[str]) -> SlotPool[str, str]:
    numbers = itertools.count(1)
    return SlotPool(
        target=2, make=lambda kind: f"{kind}{next(numbers)}", kinds=lambda: kinds, name="test"
    )


def test_each_kind_is_kept_at_its_target_and_refilled_after_a_take() -> None:
    pool = make_pool(["a", "b"])
    pool.start()
    try:
        assert pool.has_idle("a") and pool.has_idle("b")
        taken = [pool.take("a"), pool.take("a")]
        assert None not in taken
        deadline = time.monotonic() + 5
        while not pool.has_idle("a") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pool.has_idle("a")
        assert pool.take("c") is None  # a kind not kept ready: the caller makes one
    finally:
        leftovers = pool.stop()
    # Both of b, and a's refill (one or both, as far as it got before the stop).
    assert {"b", "a"} == {slot[0] for slot in leftovers} and len(leftovers) in (3, 4)
    assert not set(leftovers) & set(taken)


def test_slots_given_back_are_kept_up_to_the_limit_and_not_after_stop() -> None:
    pool = make_pool([])
    pool.start()
    kept = [pool.give_back("x", f"x{i}") for i in range(MAX_IDLE_PER_KIND + 1)]
    assert kept == [True] * MAX_IDLE_PER_KIND + [False]
    assert len(pool.stop()) == MAX_IDLE_PER_KIND
    assert pool.give_back("x", "late") is False
