"""Pure billing math, the way Lambda bills: per request plus GB-seconds, per 1 ms.

Integers for time, Decimal for money; never float currency.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

NS_PER_MS = 1_000_000
MB_PER_GB = Decimal(1024)
MS_PER_S = Decimal(1000)


@dataclass(frozen=True, slots=True)
class Prices:
    per_request: Decimal
    per_gb_second: Decimal


@dataclass(frozen=True, slots=True)
class Charge:
    billed_ms: int
    gb_seconds: Decimal
    cost: Decimal


def billed_ms(duration_ns: int) -> int:
    """Duration rounded up to the next whole millisecond; at least 1 ms (Lambda since 2020)."""
    if duration_ns <= 0:
        return 1
    return max(1, -(-duration_ns // NS_PER_MS))


def gb_seconds(billed: int, memory_mb: int) -> Decimal:
    return (Decimal(memory_mb) / MB_PER_GB) * (Decimal(billed) / MS_PER_S)


def charge(duration_ns: int, memory_mb: int, prices: Prices) -> Charge:
    billed = billed_ms(duration_ns)
    compute = gb_seconds(billed, memory_mb)
    return Charge(billed, compute, prices.per_request + compute * prices.per_gb_second)
