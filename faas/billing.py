"""Pure billing math, the way Lambda bills: per request plus GB-seconds, per 1 ms.

Integers for time, Decimal for money; never float currency. Nothing here reads records or
settings: the caller hands in usage (per function, per month) and Prices.

- Billed duration: the duration rounded up to the next whole millisecond, at least 1 ms; for
  an on-demand cold start it includes the init phase (Lambda bills init since August 2025),
  unless Prices.bill_init is off.
- GB-seconds: billed ms / 1000 x MemorySize / 1024, exactly.
- Ephemeral storage above 512 MB: (storage MB - 512) / 1024 x billed seconds, its own price.
- Provisioned concurrency: the GB-seconds its workers are allocated, in 5-minute increments,
  at its own price, plus the lower duration price for invocations they serve; the free tier
  does not cover either.
- Account-wide, per calendar month (UTC): the free tier (1M requests, 400,000 GB-seconds of
  on-demand duration) comes off first; the duration tiers (beyond 6 and 15 billion GB-seconds)
  apply to the rest. Each function's amounts are its share of the account's charges, in
  proportion to its usage, so that the functions (or a tag's groups) add up to the total.
- Rounding: amounts are computed exactly (Decimal, 28 digits); each function's amounts are
  given to 10 decimal places and the month's total to the cent, both rounded half up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

NS_PER_MS = 1_000_000
MB_PER_GB = Decimal(1024)
MS_PER_S = Decimal(1000)
FREE_STORAGE_MB = 512
PROVISIONED_INCREMENT_S = 300
LINE_PLACES = Decimal("0.0000000001")
CENT = Decimal("0.01")
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Tier:
    """Duration GB-seconds of the month beyond `from_gb_seconds` cost `price` each."""

    from_gb_seconds: int
    price: Decimal


@dataclass(frozen=True, slots=True)
class Prices:
    """Prices and rules of a bill: config.toml's [billing] (BillingSettings.prices(), the
    only home of their defaults: Lambda's x86 list prices)."""

    per_request: Decimal
    # The first tier's price; `tiers` the ones after it, lowest first.
    per_gb_second: Decimal
    tiers: tuple[Tier, ...]
    per_ephemeral_gb_second: Decimal
    per_provisioned_gb_second: Decimal
    per_provisioned_duration_gb_second: Decimal
    free_tier: bool
    free_requests: int
    free_gb_seconds: int
    bill_init: bool
    currency: str


@dataclass(frozen=True, slots=True)
class Charge:
    billed_ms: int
    gb_seconds: Decimal
    cost: Decimal


# -- one invocation ---------------------------------------------------------------------------


def billed_ms(duration_ns: int, init_ns: int = 0) -> int:
    """Duration (plus a cold start's init, when billed) rounded up to the next whole
    millisecond; at least 1 ms (Lambda since 2020)."""
    total = max(0, duration_ns) + max(0, init_ns)
    return max(1, -(-total // NS_PER_MS))


def gb_seconds(billed: int, memory_mb: int) -> Decimal:
    return (Decimal(memory_mb) / MB_PER_GB) * (Decimal(billed) / MS_PER_S)


def ephemeral_gb_seconds(billed: int, storage_mb: int) -> Decimal:
    """GB-seconds of ephemeral storage above the free 512 MB."""
    extra = max(0, storage_mb - FREE_STORAGE_MB)
    return (Decimal(extra) / MB_PER_GB) * (Decimal(billed) / MS_PER_S)


def provisioned_gb_seconds(allocated_s: int, memory_mb: int, workers: int = 1) -> Decimal:
    """GB-seconds of provisioned concurrency allocated for `allocated_s`, rounded up to
    Lambda's 5-minute increments."""
    increments = -(-max(0, allocated_s) // PROVISIONED_INCREMENT_S)
    seconds = increments * PROVISIONED_INCREMENT_S
    return Decimal(memory_mb * workers) / MB_PER_GB * Decimal(seconds)


def charge(duration_ns: int, memory_mb: int, prices: Prices) -> Charge:
    """One on-demand invocation alone (no free tier, first tier)."""
    billed = billed_ms(duration_ns)
    compute = gb_seconds(billed, memory_mb)
    return Charge(billed, compute, prices.per_request + compute * prices.per_gb_second)


# -- months -----------------------------------------------------------------------------------


def month_of(epoch_ms: int) -> str:
    """The UTC calendar month (YYYY-MM) an invocation that started at `epoch_ms` belongs to."""
    return dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC).strftime("%Y-%m")


def month_range_ms(month: str) -> tuple[int, int]:
    """[start, end) of a UTC calendar month, in epoch milliseconds; ValueError for a month
    that is not YYYY-MM."""
    start = dt.datetime.strptime(month, "%Y-%m").replace(tzinfo=dt.UTC)
    following = dt.datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=dt.UTC)
    return int(start.timestamp() * 1000), int(following.timestamp() * 1000)


# -- a month's bill ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Usage:
    """One function's (or group's) use in one month."""

    requests: int = 0
    billed_ms: int = 0
    # On-demand duration; duration served by provisioned workers is counted apart.
    gb_seconds: Decimal = ZERO
    ephemeral_gb_seconds: Decimal = ZERO
    provisioned_gb_seconds: Decimal = ZERO
    provisioned_duration_gb_seconds: Decimal = ZERO

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.requests + other.requests,
            self.billed_ms + other.billed_ms,
            self.gb_seconds + other.gb_seconds,
            self.ephemeral_gb_seconds + other.ephemeral_gb_seconds,
            self.provisioned_gb_seconds + other.provisioned_gb_seconds,
            self.provisioned_duration_gb_seconds + other.provisioned_duration_gb_seconds,
        )

    def __sub__(self, other: Usage) -> Usage:
        return self + Usage(
            -other.requests,
            -other.billed_ms,
            -other.gb_seconds,
            -other.ephemeral_gb_seconds,
            -other.provisioned_gb_seconds,
            -other.provisioned_duration_gb_seconds,
        )

    def __bool__(self) -> bool:
        return any(
            (
                self.requests,
                self.billed_ms,
                self.gb_seconds,
                self.ephemeral_gb_seconds,
                self.provisioned_gb_seconds,
                self.provisioned_duration_gb_seconds,
            )
        )


def usage_from_sums(
    requests: int, billed: int, billed_mb_ms: int, provisioned_mb_ms: int, ephemeral_mb_ms: int
) -> Usage:
    """A month's use from the integer sums the rollups keep: billed ms x MemorySize (all of
    it, and the part provisioned workers served) and billed ms x storage above 512 MB."""
    return Usage(
        requests=requests,
        billed_ms=billed,
        gb_seconds=_mb_ms_to_gb_seconds(billed_mb_ms - provisioned_mb_ms),
        ephemeral_gb_seconds=_mb_ms_to_gb_seconds(ephemeral_mb_ms),
        provisioned_duration_gb_seconds=_mb_ms_to_gb_seconds(provisioned_mb_ms),
    )


def _mb_ms_to_gb_seconds(mb_ms: int) -> Decimal:
    return Decimal(mb_ms) / MB_PER_GB / MS_PER_S


@dataclass(frozen=True, slots=True)
class Line:
    """One function's (or group's) part of the month's bill, to 10 decimal places."""

    name: str
    usage: Usage
    request_cost: Decimal
    duration_cost: Decimal
    ephemeral_cost: Decimal
    provisioned_cost: Decimal

    @property
    def total(self) -> Decimal:
        return _line(
            self.request_cost + self.duration_cost + self.ephemeral_cost + self.provisioned_cost
        )


@dataclass(frozen=True, slots=True)
class FreeTierUse:
    requests: int = 0
    gb_seconds: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class Bill:
    lines: tuple[Line, ...]
    free_tier: FreeTierUse
    # Exact, before rounding; `total` is it to the cent.
    exact_total: Decimal = ZERO
    usage: Usage = field(default_factory=Usage)

    @property
    def total(self) -> Decimal:
        return self.exact_total.quantize(CENT, rounding=ROUND_HALF_UP)


def bill(usages: Mapping[str, Usage], prices: Prices) -> Bill:
    """The month's bill for the account whose functions (or groups) used `usages`."""
    account = sum(usages.values(), Usage())
    free_requests = min(account.requests, prices.free_requests) if prices.free_tier else 0
    free_seconds = (
        min(account.gb_seconds, Decimal(prices.free_gb_seconds)) if prices.free_tier else ZERO
    )
    request_total = Decimal(account.requests - free_requests) * prices.per_request
    duration_total = tiered(account.gb_seconds - free_seconds, prices)
    lines = []
    exact = ZERO
    for name in sorted(usages):
        usage = usages[name]
        request_cost = _share(request_total, usage.requests, account.requests)
        duration_cost = _share(duration_total, usage.gb_seconds, account.gb_seconds)
        ephemeral_cost = usage.ephemeral_gb_seconds * prices.per_ephemeral_gb_second
        provisioned_cost = (
            usage.provisioned_gb_seconds * prices.per_provisioned_gb_second
            + usage.provisioned_duration_gb_seconds * prices.per_provisioned_duration_gb_second
        )
        exact += request_cost + duration_cost + ephemeral_cost + provisioned_cost
        lines.append(
            Line(
                name,
                usage,
                _line(request_cost),
                _line(duration_cost),
                _line(ephemeral_cost),
                _line(provisioned_cost),
            )
        )
    return Bill(tuple(lines), FreeTierUse(free_requests, free_seconds), exact, account)


def tiered(billable_gb_seconds: Decimal, prices: Prices) -> Decimal:
    """The duration charge of the month's billable on-demand GB-seconds, tier by tier."""
    bounds = [(Decimal(0), prices.per_gb_second)]
    bounds += [(Decimal(tier.from_gb_seconds), tier.price) for tier in prices.tiers]
    cost = ZERO
    for index, (start, price) in enumerate(bounds):
        end = bounds[index + 1][0] if index + 1 < len(bounds) else None
        if billable_gb_seconds <= start:
            break
        upper = billable_gb_seconds if end is None else min(billable_gb_seconds, end)
        cost += (upper - start) * price
    return cost


def _share(total: Decimal, part: Decimal | int, whole: Decimal | int) -> Decimal:
    if not whole:
        return ZERO
    return total * Decimal(part) / Decimal(whole)


def _line(amount: Decimal) -> Decimal:
    return amount.quantize(LINE_PLACES, rounding=ROUND_HALF_UP)
