from __future__ import annotations

import itertools
import time
import uuid

import pytest

from faas.request_ids import RequestIds


def test_ids_are_version_7_uuids_carrying_the_current_millisecond() -> None:
    before_ms = time.time_ns() // 1_000_000
    made = uuid.UUID(RequestIds().new())
    after_ms = time.time_ns() // 1_000_000
    assert made.version == 7
    assert made.variant == uuid.RFC_4122
    assert before_ms <= made.int >> 80 <= after_ms


def test_ids_of_one_process_are_unique_and_in_order() -> None:
    ids = RequestIds()
    made = [ids.new() for _ in range(20_000)]
    assert len(set(made)) == len(made)
    assert made == sorted(made)


def test_more_than_4096_ids_in_one_millisecond_stay_unique_and_ordered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen_ns = 1_700_000_000_000 * 1_000_000
    monkeypatch.setattr(time, "time_ns", lambda: frozen_ns)
    ids = RequestIds()
    made = [ids.new() for _ in range(10_000)]
    assert len(set(made)) == len(made)
    assert made == sorted(made)
    assert uuid.UUID(made[0]).int >> 80 == frozen_ns // 1_000_000


def test_a_clock_stepping_back_does_not_reorder_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_700_000_000_500 * 1_000_000]
    monkeypatch.setattr(time, "time_ns", lambda: now[0])
    ids = RequestIds()
    first = ids.new()
    now[0] -= 400 * 1_000_000  # NTP steps the clock back
    assert ids.new() > first


def test_the_counter_does_not_count_requests_from_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither the first id of a millisecond nor the gap between two ids tells how many
    requests the gateway took in it."""
    now = [1_700_000_000_000 * 1_000_000]
    monkeypatch.setattr(time, "time_ns", lambda: now[0])
    ids = RequestIds()
    starts = []
    for _ in range(50):
        now[0] += 1_000_000  # the next millisecond
        starts.append((uuid.UUID(ids.new()).int >> 64) & 0xFFF)
    assert len(set(starts)) > 10
    counters = [(uuid.UUID(ids.new()).int >> 64) & 0xFFF for _ in range(50)]
    gaps = {later - earlier for earlier, later in itertools.pairwise(counters)}
    assert len(gaps) > 3
