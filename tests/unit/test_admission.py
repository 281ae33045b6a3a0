"""The admission controller alone: who may run, who waits, who gets Lambda's 429."""

from __future__ import annotations

import asyncio

import pytest

from faas.admission import (
    ACCOUNT_LIMIT_EXCEEDED,
    RESERVED_LIMIT_EXCEEDED,
    AdmissionController,
    Slot,
)
from faas.config import ConcurrencySettings
from faas.errors import TooManyRequests


def controller(
    account_limit: int = 10,
    reservations: dict[str, int] | None = None,
    max_wait_ms: int = 0,
    max_waiting: int = 1000,
) -> AdmissionController:
    settings = ConcurrencySettings(
        account_limit=account_limit,
        unreserved_minimum=0,
        max_wait_ms=max_wait_ms,
        max_waiting=max_waiting,
    )
    return AdmissionController(settings, reservations)


async def admit_all(admission: AdmissionController, name: str, count: int) -> list[Slot]:
    return [await admission.admit(name) for _ in range(count)]


async def refused_reason(admission: AdmissionController, name: str) -> str:
    with pytest.raises(TooManyRequests) as refused:
        await admission.admit(name)
    assert refused.value.message == "Rate Exceeded."
    assert refused.value.retry_after_s == 1
    return refused.value.reason


async def wait_until_waiting(admission: AdmissionController, count: int) -> None:
    for _ in range(100):
        if admission.waiting == count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"expected {count} waiters, found {admission.waiting}")


@pytest.mark.parametrize(
    ("account_limit", "reservations", "name", "admitted", "reason"),
    [
        # A reservation caps its function, whatever the account has left.
        (10, {"f": 3}, "f", 3, RESERVED_LIMIT_EXCEEDED),
        # The unreserved pool is the account limit minus all reservations.
        (10, {"f": 3}, "g", 7, ACCOUNT_LIMIT_EXCEEDED),
        (10, {"f": 3, "h": 5}, "g", 2, ACCOUNT_LIMIT_EXCEEDED),
        (10, {}, "g", 10, ACCOUNT_LIMIT_EXCEEDED),
        # Reserved 0 switches a function off.
        (10, {"f": 0}, "f", 0, RESERVED_LIMIT_EXCEEDED),
        # Reservations above a (since lowered) account limit leave an empty pool, not a debt.
        (4, {"f": 6}, "g", 0, ACCOUNT_LIMIT_EXCEEDED),
    ],
)
async def test_admits_up_to_the_pool_size_then_refuses_with_the_pools_reason(
    account_limit: int, reservations: dict[str, int], name: str, admitted: int, reason: str
) -> None:
    admission = controller(account_limit, reservations)
    await admit_all(admission, name, admitted)
    assert await refused_reason(admission, name) == reason


async def test_unreserved_functions_share_one_pool() -> None:
    admission = controller(account_limit=5, reservations={"reserved": 2})
    await admit_all(admission, "a", 2)
    await admit_all(admission, "b", 1)
    assert await refused_reason(admission, "c") == ACCOUNT_LIMIT_EXCEEDED
    assert await refused_reason(admission, "a") == ACCOUNT_LIMIT_EXCEEDED


async def test_a_reserved_function_neither_uses_nor_starves_the_unreserved_pool() -> None:
    admission = controller(account_limit=5, reservations={"reserved": 2})
    await admit_all(admission, "other", 3)
    # The shared pool is full, yet the reservation is intact ...
    await admit_all(admission, "reserved", 2)
    assert admission.unreserved_in_flight == 3
    # ... and a full reservation does not spill into the shared pool.
    assert await refused_reason(admission, "reserved") == RESERVED_LIMIT_EXCEEDED


async def test_a_released_slot_is_admitted_again_and_release_is_idempotent() -> None:
    admission = controller(account_limit=1)
    slot = await admission.admit("f")
    slot.release()
    slot.release()  # a second release must not free a slot someone else holds
    again = await admission.admit("f")
    assert await refused_reason(admission, "g") == ACCOUNT_LIMIT_EXCEEDED
    again.release()
    assert admission.unreserved_in_flight == 0
    assert admission.in_flight("f") == 0


async def test_a_waiter_gets_the_slot_released_while_it_waits() -> None:
    admission = controller(account_limit=1, max_wait_ms=5_000)
    held = await admission.admit("f")
    waiting = asyncio.create_task(admission.admit("g"))
    await wait_until_waiting(admission, 1)
    held.release()
    slot = await asyncio.wait_for(waiting, 1)
    assert slot.function_name == "g"
    assert admission.in_flight("g") == 1
    assert admission.waiting == 0


async def test_waiters_of_a_reservation_are_served_oldest_first() -> None:
    admission = controller(reservations={"f": 1}, max_wait_ms=5_000)
    held = await admission.admit("f")
    first = asyncio.create_task(admission.admit("f"))
    await wait_until_waiting(admission, 1)
    second = asyncio.create_task(admission.admit("f"))
    await wait_until_waiting(admission, 2)
    held.release()
    (await asyncio.wait_for(first, 1)).release()
    await asyncio.wait_for(second, 1)
    assert admission.in_flight("f") == 1


async def test_a_freed_slot_is_handed_to_the_waiter_not_to_a_newcomer() -> None:
    admission = controller(account_limit=1, max_wait_ms=5_000, max_waiting=1)
    held = await admission.admit("f")
    waiting = asyncio.create_task(admission.admit("f"))
    await wait_until_waiting(admission, 1)
    held.release()
    # The waiter's task has not run yet, but the slot is already its own.
    assert await refused_reason(admission, "g") == ACCOUNT_LIMIT_EXCEEDED
    await asyncio.wait_for(waiting, 1)


async def test_a_waiter_times_out_into_429_with_its_pools_reason() -> None:
    admission = controller(account_limit=2, reservations={"f": 1}, max_wait_ms=30)
    await admission.admit("f")
    await admission.admit("g")
    assert await refused_reason(admission, "f") == RESERVED_LIMIT_EXCEEDED
    assert await refused_reason(admission, "g") == ACCOUNT_LIMIT_EXCEEDED
    assert admission.waiting == 0


async def test_waiters_beyond_max_waiting_are_refused_at_once() -> None:
    admission = controller(account_limit=1, max_wait_ms=60_000, max_waiting=2)
    await admission.admit("f")
    waiters = [asyncio.create_task(admission.admit("f")) for _ in range(2)]
    await wait_until_waiting(admission, 2)
    # With max_wait_ms at a minute, only an immediate refusal finishes within the timeout.
    async with asyncio.timeout(1):
        assert await refused_reason(admission, "g") == ACCOUNT_LIMIT_EXCEEDED
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    assert admission.waiting == 0


async def test_reserved_zero_is_refused_at_once_even_when_waiting_is_allowed() -> None:
    admission = controller(reservations={"off": 0}, max_wait_ms=60_000)
    async with asyncio.timeout(1):
        assert await refused_reason(admission, "off") == RESERVED_LIMIT_EXCEEDED
    assert admission.waiting == 0


async def test_a_cancelled_waiter_leaves_no_trace() -> None:
    admission = controller(account_limit=1, max_wait_ms=60_000, max_waiting=1)
    held = await admission.admit("f")
    waiting = asyncio.create_task(admission.admit("g"))
    await wait_until_waiting(admission, 1)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert admission.waiting == 0
    held.release()
    # The slot was not handed to the cancelled waiter: it is free for the next caller.
    (await admission.admit("h")).release()
    assert admission.unreserved_in_flight == 0


async def test_a_slot_freed_right_after_a_waiter_was_cancelled_goes_to_the_next_caller() -> None:
    admission = controller(account_limit=1, max_wait_ms=60_000)
    held = await admission.admit("f")
    waiting = asyncio.create_task(admission.admit("g"))
    await wait_until_waiting(admission, 1)
    waiting.cancel()
    held.release()  # the cancelled waiter is still queued: its task has not resumed yet
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert admission.in_flight("g") == 0
    (await admission.admit("h")).release()


async def test_a_waiter_cancelled_after_its_slot_was_granted_gives_it_back() -> None:
    admission = controller(account_limit=1, max_wait_ms=60_000)
    held = await admission.admit("f")
    waiting = asyncio.create_task(admission.admit("g"))
    await wait_until_waiting(admission, 1)
    held.release()  # grants the slot to the waiter, whose task has not resumed yet
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert admission.in_flight("g") == 0
    (await admission.admit("h")).release()


async def test_an_error_while_holding_a_slot_releases_it_with_try_finally() -> None:
    admission = controller(account_limit=1)

    async def failing_invocation() -> None:
        slot = await admission.admit("f")
        try:
            raise RuntimeError("worker died")
        finally:
            slot.release()

    with pytest.raises(RuntimeError):
        await failing_invocation()
    (await admission.admit("f")).release()


async def test_adding_a_reservation_moves_running_calls_out_of_the_shared_pool() -> None:
    admission = controller(account_limit=10)
    running = await admit_all(admission, "f", 3)
    admission.set_reservation("f", 2)
    assert admission.unreserved_in_flight == 0
    assert admission.unreserved_capacity == 8
    # Three run and two are allowed: nothing more until one ends; the calls are not disturbed.
    assert await refused_reason(admission, "f") == RESERVED_LIMIT_EXCEEDED
    running[0].release()
    assert await refused_reason(admission, "f") == RESERVED_LIMIT_EXCEEDED
    running[1].release()
    await admission.admit("f")
    running[2].release()
    assert admission.in_flight("f") == 1


async def test_removing_a_reservation_moves_running_calls_into_the_shared_pool() -> None:
    admission = controller(account_limit=4, reservations={"f": 2})
    running = await admit_all(admission, "f", 2)
    await admit_all(admission, "g", 2)
    admission.set_reservation("f", None)
    assert admission.unreserved_capacity == 4
    assert admission.unreserved_in_flight == 4
    assert await refused_reason(admission, "f") == ACCOUNT_LIMIT_EXCEEDED
    for slot in running:
        slot.release()
    assert admission.unreserved_in_flight == 2
    await admit_all(admission, "h", 2)


async def test_a_larger_reservation_wakes_the_functions_waiters() -> None:
    admission = controller(account_limit=10, reservations={"f": 1}, max_wait_ms=60_000)
    await admission.admit("f")
    waiting = asyncio.create_task(admission.admit("f"))
    await wait_until_waiting(admission, 1)
    admission.set_reservation("f", 2)
    await asyncio.wait_for(waiting, 1)
    assert admission.in_flight("f") == 2


async def test_a_smaller_reservation_elsewhere_wakes_shared_pool_waiters() -> None:
    admission = controller(account_limit=3, reservations={"f": 2}, max_wait_ms=60_000)
    await admission.admit("g")
    waiting = asyncio.create_task(admission.admit("g"))
    await wait_until_waiting(admission, 1)
    admission.set_reservation("f", 1)
    await asyncio.wait_for(waiting, 1)
    assert admission.unreserved_in_flight == 2


async def test_waiters_follow_their_function_when_it_gains_a_reservation() -> None:
    admission = controller(account_limit=3, max_wait_ms=60_000)
    await admit_all(admission, "g", 3)
    waiting = asyncio.create_task(admission.admit("f"))
    await wait_until_waiting(admission, 1)
    # The shared pool stays full (3 running, capacity 2), but f's own reservation is empty.
    admission.set_reservation("f", 1)
    slot = await asyncio.wait_for(waiting, 1)
    assert admission.in_flight("f") == 1
    slot.release()
    assert admission.in_flight("f") == 0


async def test_removing_a_reservation_queues_its_waiters_for_the_shared_pool() -> None:
    admission = controller(account_limit=3, reservations={"f": 1}, max_wait_ms=60_000)
    held = await admission.admit("f")
    await admit_all(admission, "g", 2)
    waiting = asyncio.create_task(admission.admit("f"))
    await wait_until_waiting(admission, 1)
    admission.set_reservation("f", None)
    assert not waiting.done()  # 3 run in a pool of 3
    held.release()
    await asyncio.wait_for(waiting, 1)
    assert admission.unreserved_in_flight == 3


async def test_reservations_given_at_start_count_against_the_account() -> None:
    admission = controller(account_limit=10, reservations={"f": 4, "g": 5})
    assert admission.unreserved_capacity == 1
    admission.set_reservation("g", None)
    assert admission.unreserved_capacity == 6
    admission.set_reservation("f", 4)  # unchanged: counted once
    assert admission.unreserved_capacity == 6


def test_a_negative_reservation_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="negative"):
        controller().set_reservation("f", -1)
