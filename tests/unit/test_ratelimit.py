"""Per-key token buckets: the refill math as a table, then the limiter with a clock stepped by
hand (no sleeping)."""

from __future__ import annotations

import pytest

from faas.config import RateLimitSettings
from faas.errors import TooManyRequests
from faas.ratelimit import (
    CALLER_RATE_LIMIT_EXCEEDED,
    PRUNE_ABOVE_BUCKETS,
    Rate,
    RateClass,
    RateLimiter,
    TokenBucket,
    refill,
    wait_s,
)


@pytest.mark.parametrize(
    ("tokens", "elapsed_s", "per_s", "burst", "expected"),
    [
        (0.0, 1.0, 2.0, 2, 2.0),  # a second at 2/s refills an empty bucket of 2
        (0.0, 0.25, 2.0, 2, 0.5),  # a quarter second: half a token
        (1.5, 10.0, 2.0, 2, 2.0),  # never above the burst
        (2.0, 0.0, 2.0, 2, 2.0),  # no time, no change
        (0.0, 1.0, 0.5, 3, 0.5),  # fractional rate: one token every 2 s
        (0.0, 3.0, 0.5, 3, 1.5),
        (0.0, 0.001, 1000.0, 5, 1.0),  # fast rates in small steps
        (0.75, -5.0, 2.0, 2, 0.75),  # the clock went back: nothing added, nothing taken
        (0.0, -0.001, 100.0, 10, 0.0),
    ],
)
def test_refill(tokens: float, elapsed_s: float, per_s: float, burst: int, expected: float) -> None:
    assert refill(tokens, elapsed_s, Rate(per_s, burst)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("tokens", "per_s", "expected_s"),
    [(0.0, 2.0, 0.5), (0.5, 2.0, 0.25), (0.0, 0.5, 2.0), (0.9, 10.0, 0.01), (0.0, 0.1, 10.0)],
)
def test_wait_until_the_next_token(tokens: float, per_s: float, expected_s: float) -> None:
    assert wait_s(tokens, Rate(per_s, 1)) == pytest.approx(expected_s)


@pytest.mark.parametrize(
    ("per_s", "burst", "expected"),
    [
        (10.0, 0, Rate(10.0, 10)),
        (0.5, 0, Rate(0.5, 1)),
        (2.5, 0, Rate(2.5, 3)),
        (5.0, 1, Rate(5.0, 1)),
    ],
)
def test_a_burst_of_zero_is_one_seconds_worth(per_s: float, burst: int, expected: Rate) -> None:
    assert Rate.of(per_s, burst) == expected


def test_a_bucket_takes_its_burst_at_once_then_one_token_per_refill() -> None:
    rate = Rate(2.0, 2)
    bucket = TokenBucket(2.0, updated=100.0)
    assert [bucket.take(100.0, rate) for _ in range(2)] == [0.0, 0.0]
    assert bucket.take(100.0, rate) == pytest.approx(0.5)  # empty: the next token in 0.5 s
    assert bucket.take(100.25, rate) == pytest.approx(0.25)  # a refused call takes nothing
    assert bucket.take(100.5, rate) == 0.0
    assert bucket.take(100.5, rate) == pytest.approx(0.5)


def test_a_clock_going_backwards_neither_adds_tokens_nor_locks_the_key_out() -> None:
    rate = Rate(1.0, 1)
    bucket = TokenBucket(1.0, updated=1000.0)
    assert bucket.take(1000.0, rate) == 0.0
    assert bucket.take(10.0, rate) == pytest.approx(1.0)  # an hour back: still empty
    # From the earlier reading on, time counts again: a second later there is a token.
    assert bucket.take(11.0, rate) == 0.0


class SteppedClock:
    def __init__(self, now: float = 50.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiter(clock: SteppedClock, **settings: float) -> RateLimiter:
    return RateLimiter(RateLimitSettings(**settings), clock)  # type: ignore[arg-type]


def refusal(call: RateLimiter, rate_class: RateClass, key: str) -> TooManyRequests:
    with pytest.raises(TooManyRequests) as raised:
        call.admit(rate_class, key)
    return raised.value


def test_over_the_rate_is_lambdas_429_with_retry_after() -> None:
    clock = SteppedClock()
    limits = limiter(clock, management_per_s=2, management_burst=2)
    limits.admit(RateClass.MANAGEMENT, "ci")
    limits.admit(RateClass.MANAGEMENT, "ci")
    refused = refusal(limits, RateClass.MANAGEMENT, "ci")
    assert (refused.status, refused.code) == (429, "TooManyRequestsException")
    assert refused.reason == CALLER_RATE_LIMIT_EXCEEDED
    assert refused.retry_after_s == 1  # 0.5 s, rounded up to whole seconds
    clock.now += 0.5
    limits.admit(RateClass.MANAGEMENT, "ci")


def test_retry_after_counts_whole_seconds_until_the_next_token() -> None:
    clock = SteppedClock()
    limits = limiter(clock, management_per_s=0.25, management_burst=1)
    limits.admit(RateClass.MANAGEMENT, "slow")
    assert refusal(limits, RateClass.MANAGEMENT, "slow").retry_after_s == 4
    clock.now += 2.5
    assert refusal(limits, RateClass.MANAGEMENT, "slow").retry_after_s == 2  # 1.5 s left


def test_keys_and_classes_have_buckets_of_their_own() -> None:
    clock = SteppedClock()
    limits = limiter(clock, management_per_s=1, management_burst=1, invoke_per_s=1, invoke_burst=1)
    limits.admit(RateClass.MANAGEMENT, "a")
    refusal(limits, RateClass.MANAGEMENT, "a")
    limits.admit(RateClass.MANAGEMENT, "b")
    limits.admit(RateClass.INVOKE, "a")
    refusal(limits, RateClass.INVOKE, "a")


def test_a_rate_of_zero_is_unlimited_and_keeps_no_bucket() -> None:
    limits = limiter(SteppedClock(), invoke_per_s=0, management_per_s=0)
    for _ in range(10_000):
        limits.admit(RateClass.INVOKE, "busy")
        limits.admit(RateClass.MANAGEMENT, "busy")
    assert limits.for_class(RateClass.INVOKE) is None
    assert limits.bucket_count == 0


def test_the_defaults_leave_invoke_unlimited_and_limit_management() -> None:
    limits = RateLimiter(RateLimitSettings())
    assert limits.for_class(RateClass.INVOKE) is None
    assert limits.for_class(RateClass.MANAGEMENT) is not None


def test_full_buckets_are_dropped_once_there_are_many_and_busy_ones_kept() -> None:
    clock = SteppedClock()
    limits = limiter(clock, management_per_s=1, management_burst=2)
    for number in range(PRUNE_ABOVE_BUCKETS - 1):
        limits.admit(RateClass.MANAGEMENT, f"key-{number}")
    limits.admit(RateClass.MANAGEMENT, "busy")
    limits.admit(RateClass.MANAGEMENT, "busy")  # empty
    assert limits.bucket_count == PRUNE_ABOVE_BUCKETS
    clock.now += 1.0  # the others are full again; "busy" holds 1 of 2
    limits.admit(RateClass.MANAGEMENT, "new")
    assert limits.bucket_count == 2
    # The busy key kept what it had used: one token left, not a fresh burst of two.
    limits.admit(RateClass.MANAGEMENT, "busy")
    refusal(limits, RateClass.MANAGEMENT, "busy")
