"""Admission control: how many invocations may run at once, per function and account-wide.

A function with reserved concurrency N runs at most N at once, and those N are set aside
from the account: every other function shares the unreserved pool, `account_limit` minus the
sum of all reservations. An invocation over its limit waits up to `max_wait_ms` for a slot
(at most `max_waiting` wait at once) and is otherwise refused with Lambda's 429.

Every admission and release is O(1): counters in memory, the reservation total kept up to
date as reservations change, no database and no scan. Everything here runs on the event
loop; reservation changes made on other threads must hop over (call_soon_threadsafe).

In-flight counts belong to the function, not to the pool a slot came from: when a
reservation is added or removed while calls run, those calls move with their function, so
"at most N at once" holds from the next admission on and no count goes stale.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from faas.config import ConcurrencySettings
from faas.errors import TooManyRequests

RESERVED_LIMIT_EXCEEDED = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_LIMIT_EXCEEDED = "ConcurrentInvocationLimitExceeded"
THROTTLED_MESSAGE = "Rate Exceeded."
RETRY_AFTER_S = 1


class Slot:
    """The right to run one invocation; `release()` gives it back (once, however often called)."""

    __slots__ = ("_controller", "_released", "function_name")

    def __init__(self, controller: AdmissionController, function_name: str) -> None:
        self._controller = controller
        self._released = False
        self.function_name = function_name

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        self._controller._release(self.function_name)


@dataclass(eq=False, slots=True)
class _Waiter:
    """One invocation waiting for a slot; the future gets the slot, or None on timeout."""

    function_name: str
    future: asyncio.Future[Slot | None]


@dataclass(eq=False, slots=True)
class _FunctionState:
    reserved: int | None = None
    in_flight: int = 0
    # Waiters of a reserved function only; others queue for the unreserved pool.
    waiters: OrderedDict[_Waiter, None] = field(default_factory=OrderedDict)

    @property
    def idle(self) -> bool:
        return self.reserved is None and self.in_flight == 0 and not self.waiters


class AdmissionController:
    """Slots for invocations: the reserved pools of some functions and the shared rest."""

    def __init__(
        self, settings: ConcurrencySettings, reservations: Mapping[str, int] | None = None
    ) -> None:
        self._account_limit = settings.account_limit
        self._max_wait_s = settings.max_wait_ms / 1000
        self._max_waiting = settings.max_waiting
        self._functions: dict[str, _FunctionState] = {}
        self._reserved_total = 0
        self._unreserved_in_flight = 0
        # Insertion-ordered with O(1) removal, so a waiter that gives up leaves at once.
        self._unreserved_waiters: OrderedDict[_Waiter, None] = OrderedDict()
        self._waiting = 0
        for name, reserved in (reservations or {}).items():
            self.set_reservation(name, reserved)

    # -- what callers may observe -----------------------------------------------------------

    @property
    def unreserved_capacity(self) -> int:
        """Size of the pool functions without a reservation share."""
        # A reservation total above the limit is possible after the limit was lowered in
        # the configuration; the shared pool is then empty, not negative.
        return max(0, self._account_limit - self._reserved_total)

    @property
    def unreserved_in_flight(self) -> int:
        return self._unreserved_in_flight

    @property
    def waiting(self) -> int:
        return self._waiting

    def in_flight(self, function_name: str) -> int:
        state = self._functions.get(function_name)
        return 0 if state is None else state.in_flight

    # -- admission --------------------------------------------------------------------------

    async def admit(self, function_name: str) -> Slot:
        """A slot for one invocation of the function, or TooManyRequests (Lambda's 429)."""
        if self._take(function_name):
            return Slot(self, function_name)
        if self._max_wait_s <= 0 or self._waiting >= self._max_waiting:
            raise self._throttled(function_name)
        if self._reservation(function_name) == 0:
            # Reserved 0 is how a function is switched off: waiting could never help.
            raise self._throttled(function_name)
        return await self._wait(function_name)

    def set_reservation(self, function_name: str, reserved: int | None) -> None:
        """Apply a reservation change (None removes it) from the next admission on."""
        if reserved is not None and reserved < 0:
            raise ValueError(f"reserved concurrency must not be negative, not {reserved}")
        state = self._functions.setdefault(function_name, _FunctionState())
        if state.reserved == reserved:
            self._forget_if_idle(function_name, state)
            return
        if state.reserved is None:
            self._move_to_reserved(function_name, state)
        elif reserved is None:
            self._move_to_unreserved(state)
        self._reserved_total += (reserved or 0) - (state.reserved or 0)
        state.reserved = reserved
        # A change can free slots on both sides: the function's own pool may have grown, and
        # the shared pool grows when a reservation shrinks or takes its calls with it.
        self._grant_reserved(state)
        self._grant_unreserved()
        self._forget_if_idle(function_name, state)

    # -- steps ------------------------------------------------------------------------------

    def _reservation(self, function_name: str) -> int | None:
        state = self._functions.get(function_name)
        return None if state is None else state.reserved

    def _take(self, function_name: str) -> bool:
        """Count one more invocation of the function if its pool has room."""
        state = self._functions.get(function_name)
        if state is None or state.reserved is None:
            if self._unreserved_in_flight >= self.unreserved_capacity:
                return False
            if state is None:
                state = self._functions[function_name] = _FunctionState()
            self._unreserved_in_flight += 1
        elif state.in_flight >= state.reserved:
            return False
        state.in_flight += 1
        return True

    def _release(self, function_name: str) -> None:
        state = self._functions[function_name]
        state.in_flight -= 1
        if state.reserved is None:
            self._unreserved_in_flight -= 1
            self._grant_unreserved()
        else:
            self._grant_reserved(state)
        self._forget_if_idle(function_name, state)

    async def _wait(self, function_name: str) -> Slot:
        loop = asyncio.get_running_loop()
        waiter = _Waiter(function_name, loop.create_future())
        self._queue_of(function_name)[waiter] = None
        self._waiting += 1
        timer = loop.call_later(self._max_wait_s, _give_up, waiter.future)
        try:
            slot = await waiter.future
        except BaseException:
            # Cancelled after a slot was already handed over: give it back, never leak it.
            _release_granted(waiter.future)
            raise
        finally:
            timer.cancel()
            self._waiting -= 1
            self._unqueue(waiter)
        if slot is None:
            raise self._throttled(function_name)
        return slot

    def _queue_of(self, function_name: str) -> OrderedDict[_Waiter, None]:
        state = self._functions.get(function_name)
        if state is None or state.reserved is None:
            return self._unreserved_waiters
        return state.waiters

    def _unqueue(self, waiter: _Waiter) -> None:
        self._unreserved_waiters.pop(waiter, None)
        state = self._functions.get(waiter.function_name)
        if state is not None:
            state.waiters.pop(waiter, None)
            self._forget_if_idle(waiter.function_name, state)

    def _grant_unreserved(self) -> None:
        """Hand freed slots of the shared pool to its waiters, oldest first."""
        queue = self._unreserved_waiters
        while queue and self._unreserved_in_flight < self.unreserved_capacity:
            waiter, _ = queue.popitem(last=False)
            self._grant(waiter)

    def _grant_reserved(self, state: _FunctionState) -> None:
        """Hand freed slots of one function's reservation to its waiters, oldest first."""
        while state.waiters and state.reserved is not None and state.in_flight < state.reserved:
            waiter, _ = state.waiters.popitem(last=False)
            self._grant(waiter)

    def _grant(self, waiter: _Waiter) -> None:
        # A waiter whose task was just cancelled or timed out no longer wants the slot.
        if not waiter.future.done() and self._take(waiter.function_name):
            waiter.future.set_result(Slot(self, waiter.function_name))

    def _move_to_reserved(self, function_name: str, state: _FunctionState) -> None:
        """The function's calls and waiters leave the shared pool for its own reservation."""
        self._unreserved_in_flight -= state.in_flight
        for waiter in [w for w in self._unreserved_waiters if w.function_name == function_name]:
            del self._unreserved_waiters[waiter]
            state.waiters[waiter] = None

    def _move_to_unreserved(self, state: _FunctionState) -> None:
        """The function's calls and waiters join the shared pool."""
        self._unreserved_in_flight += state.in_flight
        self._unreserved_waiters.update(state.waiters)
        state.waiters.clear()

    def _forget_if_idle(self, function_name: str, state: _FunctionState) -> None:
        # Unreserved functions with nothing running need no entry; this keeps the table
        # from growing with every function name ever invoked.
        if state.idle and self._functions.get(function_name) is state:
            del self._functions[function_name]

    def _throttled(self, function_name: str) -> TooManyRequests:
        reserved = self._reservation(function_name) is not None
        reason = RESERVED_LIMIT_EXCEEDED if reserved else ACCOUNT_LIMIT_EXCEEDED
        return TooManyRequests(THROTTLED_MESSAGE, reason=reason, retry_after_s=RETRY_AFTER_S)


def _give_up(future: asyncio.Future[Slot | None]) -> None:
    if not future.done():
        future.set_result(None)


def _release_granted(future: asyncio.Future[Slot | None]) -> None:
    if future.done() and not future.cancelled() and future.exception() is None:
        slot = future.result()
        if slot is not None:
            slot.release()
