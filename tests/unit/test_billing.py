"""Billing arithmetic (faas/billing.py) against hand-computed cases: rounding to the
millisecond, memory sizes, init billed or not, the free tier crossed, months in UTC,
ephemeral storage, provisioned concurrency and the duration tiers."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest

from faas.billing import (
    Usage,
    bill,
    billed_ms,
    ephemeral_gb_seconds,
    gb_seconds,
    month_of,
    month_range_ms,
    provisioned_gb_seconds,
    tiered,
)
from faas.config import BillingSettings

D = Decimal
PRICES = BillingSettings().prices()


@pytest.mark.parametrize(
    ("duration_ns", "init_ns", "expected_ms"),
    [
        (1_000_100, 0, 2),  # 1.0001 ms -> 2 ms
        (1_000_000, 0, 1),  # exactly 1 ms
        (999_999, 0, 1),
        (0, 0, 1),  # never below 1 ms
        (2_500_000, 150_200_000, 153),  # a cold start, init billed: 152.7 ms -> 153
        (2_500_000, 0, 3),  # the same without init
    ],
)
def test_billed_milliseconds(duration_ns: int, init_ns: int, expected_ms: int) -> None:
    assert billed_ms(duration_ns, init_ns) == expected_ms


@pytest.mark.parametrize(
    ("billed", "memory_mb", "expected"),
    [
        (1000, 1769, D("1.7275390625")),
        (1000, 10240, D("10")),
        (2, 128, D("0.00025")),
        (153, 128, D("0.019125")),
    ],
)
def test_gb_seconds_are_exact(billed: int, memory_mb: int, expected: Decimal) -> None:
    assert gb_seconds(billed, memory_mb) == expected


def test_the_free_tier_crossed_mid_month_is_shared_in_proportion() -> None:
    usages = {
        "a": Usage(requests=1_000_000, gb_seconds=D(300_000)),
        "b": Usage(requests=500_000, gb_seconds=D(200_000)),
    }
    month = bill(usages, PRICES)
    # 0.5M requests over the free million: $0.10; 100,000 GB-s over the free 400,000.
    assert month.free_tier.requests == 1_000_000
    assert month.free_tier.gb_seconds == D(400_000)
    assert month.exact_total == D("0.1") + D(100_000) * D("0.0000166667")
    assert month.total == D("1.77")
    a, b = month.lines
    assert (a.request_cost, b.request_cost) == (D("0.0666666667"), D("0.0333333333"))
    assert (a.duration_cost, b.duration_cost) == (D("1.0000020000"), D("0.6666680000"))
    without = bill(usages, dataclasses.replace(PRICES, free_tier=False))
    assert without.exact_total == D("0.3") + D(500_000) * D("0.0000166667")
    assert without.total == D("8.63")


def test_months_are_utc_calendar_months() -> None:
    last_ms = int(dt.datetime(2026, 1, 31, 23, 59, 59, 999000, tzinfo=dt.UTC).timestamp() * 1000)
    assert month_of(last_ms) == "2026-01"
    assert month_of(last_ms + 1) == "2026-02"
    start, end = month_range_ms("2026-12")
    assert month_of(start) == "2026-12" and month_of(end - 1) == "2026-12"
    assert month_of(end) == "2027-01"
    with pytest.raises(ValueError):
        month_range_ms("2026-13")


def test_ephemeral_storage_above_512_mb() -> None:
    assert ephemeral_gb_seconds(1000, 512) == 0
    assert ephemeral_gb_seconds(1000, 10240) == D("9.5")
    month = bill({"f": Usage(ephemeral_gb_seconds=D("9.5"))}, PRICES)
    assert month.lines[0].ephemeral_cost == D("0.0000002936")  # 0.00000029355, half up
    assert month.exact_total == D("0.00000029355")


def test_provisioned_concurrency_in_five_minute_increments_without_free_tier() -> None:
    assert provisioned_gb_seconds(301, 1024) == D(600)
    assert provisioned_gb_seconds(300, 1024) == D(300)
    assert provisioned_gb_seconds(0, 1024) == 0
    assert provisioned_gb_seconds(1, 512, workers=2) == D(300)
    usage = Usage(provisioned_gb_seconds=D(600), provisioned_duration_gb_seconds=D(100))
    month = bill({"f": usage}, PRICES)
    assert month.exact_total == D(600) * D("0.0000041667") + D(100) * D("0.0000097222")
    assert month.free_tier.gb_seconds == 0  # the free tier covers on-demand duration only


def test_duration_tiers() -> None:
    assert tiered(D(7_000_000_000), PRICES) == D("115000.2")
    assert tiered(D(16_000_000_000), PRICES) == D("100000.2") + D(135_000) + D("13333.4")
    # 400,000 free GB-s come off first: exactly the first tier is left.
    month = bill({"f": Usage(gb_seconds=D(6_000_400_000))}, PRICES)
    assert month.exact_total == D("100000.2")
    assert bill({}, PRICES).total == 0
