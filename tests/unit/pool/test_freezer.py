"""When idle workers are frozen and thawed, on a clock the test moves by hand."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from faas.pool.freezer import IdleFreezer

FREEZE_AFTER_S = 0.1


class ManualClock:
    """loop.call_later for tests: callbacks run only when advance() passes their time."""

    def __init__(self) -> None:
        self.now = 0.0
        self._due: list[tuple[float, int, ManualTimer]] = []
        self._order = itertools.count()

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> ManualTimer:
        timer = ManualTimer(callback)
        heapq.heappush(self._due, (self.now + delay_s, next(self._order), timer))
        return timer

    def advance(self, seconds: float) -> None:
        until = self.now + seconds
        while self._due and self._due[0][0] <= until:
            when, _, timer = heapq.heappop(self._due)
            self.now = when
            if not timer.cancelled:
                timer.callback()
        self.now = until


@dataclass
class ManualTimer:
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass(eq=False)
class FakeWorker:
    can_freeze: bool = True
    idle: bool = True
    frozen: bool = False
    thaw_fails: bool = False
    calls: list[str] = field(default_factory=list)

    def freeze(self) -> bool:
        self.calls.append("freeze")
        self.frozen = True
        return True

    def thaw(self) -> bool:
        if not self.frozen:
            return True
        self.calls.append("thaw")
        if self.thaw_fails:
            return False
        self.frozen = False
        return True


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def freezer(clock: ManualClock) -> IdleFreezer:
    return IdleFreezer(FREEZE_AFTER_S, clock.call_later)


def test_a_worker_idle_past_the_threshold_is_frozen(
    clock: ManualClock, freezer: IdleFreezer
) -> None:
    worker = FakeWorker()
    freezer.became_idle(worker)
    clock.advance(FREEZE_AFTER_S * 0.9)
    assert not worker.frozen
    clock.advance(FREEZE_AFTER_S * 0.2)
    assert worker.frozen and freezer.pending == 0


def test_a_busy_worker_is_never_frozen(clock: ManualClock, freezer: IdleFreezer) -> None:
    """Handed work within the threshold, again and again: no freeze, no thaw on its path."""
    worker = FakeWorker()
    for _ in range(20):
        freezer.became_idle(worker)
        clock.advance(FREEZE_AFTER_S / 2)
        assert freezer.handed_work(worker)
        clock.advance(FREEZE_AFTER_S * 3)  # busy for a long time: still no freeze
    assert worker.calls == []


def test_a_frozen_worker_is_thawed_when_handed_work(
    clock: ManualClock, freezer: IdleFreezer
) -> None:
    worker = FakeWorker()
    freezer.became_idle(worker)
    clock.advance(FREEZE_AFTER_S * 5)
    assert freezer.handed_work(worker)
    assert worker.calls == ["freeze", "thaw"] and not worker.frozen
    clock.advance(FREEZE_AFTER_S * 5)  # busy: the old timer is spent, no new one
    assert worker.calls == ["freeze", "thaw"]
    freezer.became_idle(worker)  # idle again: a new timer
    clock.advance(FREEZE_AFTER_S * 2)
    assert worker.calls == ["freeze", "thaw", "freeze"]


def test_a_worker_that_cannot_be_thawed_is_refused(
    clock: ManualClock, freezer: IdleFreezer
) -> None:
    worker = FakeWorker(thaw_fails=True)
    freezer.became_idle(worker)
    clock.advance(FREEZE_AFTER_S * 2)
    assert not freezer.handed_work(worker)


def test_a_worker_that_left_the_pool_is_not_frozen(
    clock: ManualClock, freezer: IdleFreezer
) -> None:
    worker = FakeWorker()
    freezer.became_idle(worker)
    freezer.forget(worker)  # stopped by the reaper, evicted, retired
    clock.advance(FREEZE_AFTER_S * 2)
    assert worker.calls == [] and freezer.pending == 0


def test_a_worker_no_longer_idle_when_its_timer_fires_is_not_frozen(
    clock: ManualClock, freezer: IdleFreezer
) -> None:
    worker = FakeWorker()
    freezer.became_idle(worker)
    worker.idle = False  # died, say, and nobody told the freezer yet
    clock.advance(FREEZE_AFTER_S * 2)
    assert worker.calls == []


def test_becoming_idle_twice_keeps_one_timer(clock: ManualClock, freezer: IdleFreezer) -> None:
    worker = FakeWorker()
    freezer.became_idle(worker)
    clock.advance(FREEZE_AFTER_S * 0.6)
    freezer.became_idle(worker)  # the threshold counts from the later one
    clock.advance(FREEZE_AFTER_S * 0.6)
    assert not worker.frozen and freezer.pending == 1
    clock.advance(FREEZE_AFTER_S * 0.6)
    assert worker.calls == ["freeze"]


@pytest.mark.parametrize(("freeze_after_s", "can_freeze"), [(0.0, True), (FREEZE_AFTER_S, False)])
def test_nothing_is_scheduled_when_freezing_is_off_or_impossible(
    clock: ManualClock, freeze_after_s: float, can_freeze: bool
) -> None:
    freezer = IdleFreezer(freeze_after_s, clock.call_later)
    worker = FakeWorker(can_freeze=can_freeze)
    freezer.became_idle(worker)
    clock.advance(10.0)
    assert worker.calls == [] and freezer.pending == 0
    assert freezer.handed_work(worker)


def test_stop_cancels_every_timer(clock: ManualClock, freezer: IdleFreezer) -> None:
    workers = [FakeWorker() for _ in range(3)]
    for worker in workers:
        freezer.became_idle(worker)
    freezer.stop()
    clock.advance(FREEZE_AFTER_S * 2)
    assert all(worker.calls == [] for worker in workers)
