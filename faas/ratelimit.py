"""Per-key rate limits: one token bucket per access key and class of call.

A bucket holds at most `burst` tokens and gains `rate` tokens a second; a call takes one, and a
call that finds less than one is refused with Lambda's 429 (`TooManyRequestsException`, Reason
`CallerRateLimitExceeded`) and told when the next token will be there (`Retry-After`).

Two classes: `invoke` (lambda:InvokeFunction) and `management` (every other call), each with
its own rate and burst; a rate of 0 means unlimited, and such a class costs a single check.

Promises, relied on by the gateway:
- O(1) per call: a dictionary lookup and a few float operations; no lock, because only the
  event loop thread calls `admit`.
- The clock is a parameter (monotonic seconds), so tests step it by hand. A clock that goes
  backwards never adds tokens and never locks a key out: the bucket starts counting again from
  the earlier reading.
- Memory stays bounded by the keys actually calling: a bucket that has refilled to its burst
  is the same as a new one, so such buckets are dropped once there are many.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from faas.config import RateLimitSettings
from faas.errors import TooManyRequests

CALLER_RATE_LIMIT_EXCEEDED = "CallerRateLimitExceeded"
RATE_EXCEEDED_MESSAGE = "Rate exceeded"
# Past this many buckets, full ones are dropped (they hold nothing a new bucket would not).
PRUNE_ABOVE_BUCKETS = 10_000

Clock = Callable[[], float]


class RateClass(enum.Enum):
    INVOKE = "invoke"
    MANAGEMENT = "management"


@dataclass(frozen=True, slots=True)
class Rate:
    """`per_s` tokens a second, at most `burst` at once; `per_s == 0` is unlimited."""

    per_s: float
    burst: int

    @classmethod
    def of(cls, per_s: float, burst: int) -> Rate:
        """From the settings' convention: a burst of 0 is one second's worth (at least 1)."""
        return cls(per_s, burst if burst > 0 else max(1, math.ceil(per_s)))

    @property
    def unlimited(self) -> bool:
        return self.per_s <= 0


def refill(tokens: float, elapsed_s: float, rate: Rate) -> float:
    """The tokens a bucket holds `elapsed_s` after it held `tokens`: never above the burst,
    and a negative elapsed time (a clock that stepped back) adds nothing."""
    if elapsed_s <= 0:
        return tokens
    tokens += elapsed_s * rate.per_s
    # A comparison, not min(): this runs on every limited call.
    return tokens if tokens < rate.burst else float(rate.burst)


def wait_s(tokens: float, rate: Rate) -> float:
    """Seconds until a bucket holding `tokens` (< 1) holds one whole token."""
    return (1.0 - tokens) / rate.per_s


class TokenBucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, updated: float) -> None:
        self.tokens = tokens
        self.updated = updated

    def take(self, now: float, rate: Rate) -> float:
        """Take one token: 0.0 when there was one, else the seconds until there will be."""
        self.tokens = refill(self.tokens, now - self.updated, rate)
        # Backwards too: from here on, elapsed time is counted from this reading.
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return wait_s(self.tokens, rate)

    def is_full(self, now: float, rate: Rate) -> bool:
        return refill(self.tokens, now - self.updated, rate) >= rate.burst


class ClassLimit:
    """The buckets of one class of call, one per key."""

    __slots__ = ("_buckets", "_clock", "_prune_above", "_rate")

    def __init__(self, rate: Rate, clock: Clock) -> None:
        self._rate = rate
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._prune_above = PRUNE_ABOVE_BUCKETS

    @property
    def bucket_count(self) -> int:
        return len(self._buckets)

    def admit(self, key_name: str) -> None:
        """Count one call of `key_name`; TooManyRequests if it is over its rate. Loop thread."""
        now = self._clock()
        bucket = self._buckets.get(key_name)
        if bucket is None:
            bucket = self._new_bucket(key_name, now)
        wait = bucket.take(now, self._rate)
        if wait:
            raise TooManyRequests(
                RATE_EXCEEDED_MESSAGE, CALLER_RATE_LIMIT_EXCEEDED, max(1, math.ceil(wait))
            )

    def _new_bucket(self, key_name: str, now: float) -> TokenBucket:
        if len(self._buckets) >= self._prune_above:
            self._drop_full_buckets(now)
        bucket = self._buckets[key_name] = TokenBucket(float(self._rate.burst), now)
        return bucket

    def _drop_full_buckets(self, now: float) -> None:
        rate = self._rate
        self._buckets = {
            key: bucket for key, bucket in self._buckets.items() if not bucket.is_full(now, rate)
        }
        # So that many busy keys do not make every new bucket pay for a scan: the next one
        # comes only after as many new buckets again.
        self._prune_above = max(PRUNE_ABOVE_BUCKETS, 2 * len(self._buckets))


class RateLimiter:
    """Token buckets per class and key; keyed by the key's name (the principal), so rotating
    a key keeps its bucket. The gateway asks once per route for its class's `ClassLimit`
    (None when unlimited) and calls it for every request."""

    def __init__(self, settings: RateLimitSettings, clock: Clock = time.monotonic) -> None:
        rates = {
            RateClass.INVOKE: Rate.of(settings.invoke_per_s, settings.invoke_burst),
            RateClass.MANAGEMENT: Rate.of(settings.management_per_s, settings.management_burst),
        }
        self._classes = {
            rate_class: None if rate.unlimited else ClassLimit(rate, clock)
            for rate_class, rate in rates.items()
        }

    def for_class(self, rate_class: RateClass) -> ClassLimit | None:
        """The buckets of `rate_class`, or None when its calls are not limited."""
        return self._classes[rate_class]

    def admit(self, rate_class: RateClass, key_name: str) -> None:
        """`for_class(rate_class).admit(key_name)`, when the class is limited."""
        limit = self._classes[rate_class]
        if limit is not None:
            limit.admit(key_name)

    @property
    def bucket_count(self) -> int:
        return sum(limit.bucket_count for limit in self._classes.values() if limit is not None)
