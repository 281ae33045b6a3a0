"""The billing arithmetic's laws on generated inputs: billed milliseconds round up and never
shrink as time grows, GB-seconds are exact Decimals, Usage adds up, and a month's bill is
monotonic in use, shares its total among the functions, and charges nothing inside the free
tier. (test_billing.py has the worked examples.)"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from faas.billing import (
    NS_PER_MS,
    Usage,
    bill,
    billed_ms,
    gb_seconds,
    usage_from_sums,
)
from faas.config import BillingSettings

PRICES = BillingSettings().prices()
NO_FREE_TIER = BillingSettings(free_tier=False).prices()
NANOS = st.integers(min_value=-NS_PER_MS, max_value=10**13)
MEMORY_MB = st.integers(min_value=128, max_value=10_240)
EXAMPLES = settings(max_examples=200, deadline=None)


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    requests = draw(st.integers(0, 10**7))
    billed = draw(st.integers(0, 10**10))
    memory = draw(MEMORY_MB)
    provisioned = draw(st.integers(0, billed)) * memory
    return usage_from_sums(requests, billed, billed * memory, provisioned, 0)


@EXAMPLES
@given(NANOS, NANOS)
def test_billed_ms_is_the_duration_rounded_up_to_a_whole_ms_at_least_one(
    duration_ns: int, init_ns: int
) -> None:
    billed = billed_ms(duration_ns, init_ns)
    total = max(0, duration_ns) + max(0, init_ns)
    assert billed >= 1
    assert (billed - 1) * NS_PER_MS < max(total, 1) <= billed * NS_PER_MS


@EXAMPLES
@given(NANOS, st.integers(0, 10**9))
def test_billed_ms_never_shrinks_as_time_grows(duration_ns: int, more_ns: int) -> None:
    assert billed_ms(duration_ns + more_ns) >= billed_ms(duration_ns)


@EXAMPLES
@given(st.integers(1, 10**9), MEMORY_MB)
def test_gb_seconds_are_exact(billed: int, memory_mb: int) -> None:
    exact = gb_seconds(billed, memory_mb)
    assert isinstance(exact, Decimal)
    # Exact: MB x ms / 1024 / 1000 has no rounding error to hide.
    assert exact * 1024 * 1000 == billed * memory_mb


@EXAMPLES
@given(usages(), usages(), usages())
def test_usage_adds_up(first: Usage, second: Usage, third: Usage) -> None:
    assert first + second == second + first
    assert (first + second) + third == first + (second + third)
    assert first + Usage() == first
    assert (first + second) - second == first


@EXAMPLES
@given(st.dictionaries(st.sampled_from("abcdef"), usages(), min_size=1, max_size=6))
def test_the_lines_share_the_total(usage_by_function: dict[str, Usage]) -> None:
    found = bill(usage_by_function, PRICES)
    lines = sum((line.total for line in found.lines), Decimal(0))
    # Each line is rounded to 10 places: they add up to the exact total within that rounding.
    assert abs(lines - found.exact_total) <= Decimal("0.0000000001") * len(found.lines) * 4


@EXAMPLES
@given(usages(), usages())
def test_more_use_never_costs_less(usage: Usage, more: Usage) -> None:
    for prices in (PRICES, NO_FREE_TIER):
        assert (
            bill({"f": usage + more}, prices).exact_total >= bill({"f": usage}, prices).exact_total
        )


@EXAMPLES
@given(st.integers(0, PRICES.free_requests), st.integers(0, PRICES.free_gb_seconds))
def test_use_inside_the_free_tier_costs_nothing(requests: int, gb_s: int) -> None:
    usage = Usage(requests=requests, billed_ms=gb_s * 1000, gb_seconds=Decimal(gb_s))
    assert bill({"f": usage}, PRICES).exact_total == 0
    if requests or gb_s:
        assert bill({"f": usage}, NO_FREE_TIER).exact_total > 0
