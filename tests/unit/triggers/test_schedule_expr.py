"""EventBridge schedule expressions (faas/triggers/schedule_expr.py): every rule, as a table
of expressions and the ticks they make, or EventBridge's refusal."""

from __future__ import annotations

import datetime as dt

import pytest

from faas.triggers.schedule_expr import INVALID, InvalidSchedule, parse

# 2026-12-05 is a Saturday.
NOW = dt.datetime(2026, 12, 5, 10, 7, 30, tzinfo=dt.UTC)


def ticks(expression: str, count: int, after: dt.datetime = NOW) -> list[str]:
    schedule = parse(expression)
    found, moment = [], after
    for _ in range(count):
        nxt = schedule.next_after(moment, anchor=NOW)
        assert nxt is not None
        found.append(nxt.strftime("%Y-%m-%d %a %H:%M"))
        moment = nxt
    return found


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # rate: every period from the moment the schedule was made (the anchor).
        ("rate(1 minute)", ["2026-12-05 Sat 10:08", "2026-12-05 Sat 10:09"]),
        ("rate(5 minutes)", ["2026-12-05 Sat 10:12", "2026-12-05 Sat 10:17"]),
        ("rate(1 hour)", ["2026-12-05 Sat 11:07", "2026-12-05 Sat 12:07"]),
        ("rate(2 days)", ["2026-12-07 Mon 10:07", "2026-12-09 Wed 10:07"]),
        # cron: minutes and hours, lists, ranges, increments.
        ("cron(0 12 * * ? *)", ["2026-12-05 Sat 12:00", "2026-12-06 Sun 12:00"]),
        ("cron(0/15 * * * ? *)", ["2026-12-05 Sat 10:15", "2026-12-05 Sat 10:30"]),
        ("cron(*/20 10 * * ? *)", ["2026-12-05 Sat 10:20", "2026-12-05 Sat 10:40"]),
        ("cron(5,35 8-9 * * ? *)", ["2026-12-06 Sun 08:05", "2026-12-06 Sun 08:35"]),
        ("cron(10-50/20 11 * * ? *)", ["2026-12-05 Sat 11:10", "2026-12-05 Sat 11:30"]),
        # day-of-week: 1-7 = SUN-SAT (2 is Monday, not Tuesday), names, ranges.
        ("cron(0 9 ? * 2 *)", ["2026-12-07 Mon 09:00", "2026-12-14 Mon 09:00"]),
        ("cron(0 9 ? * MON-FRI *)", ["2026-12-07 Mon 09:00", "2026-12-08 Tue 09:00"]),
        ("cron(0 9 ? * 1,7 *)", ["2026-12-06 Sun 09:00", "2026-12-12 Sat 09:00"]),
        # day-of-month and month (numbers and names), the year field.
        ("cron(0 0 1 JAN,JUL ? *)", ["2027-01-01 Fri 00:00", "2027-07-01 Thu 00:00"]),
        ("cron(0 0 29 2 ? *)", ["2028-02-29 Tue 00:00", "2032-02-29 Sun 00:00"]),
        ("cron(30 6 15 6 ? 2028-2029)", ["2028-06-15 Thu 06:30", "2029-06-15 Fri 06:30"]),
        # L, W and #.
        ("cron(0 18 L * ? *)", ["2026-12-31 Thu 18:00", "2027-01-31 Sun 18:00"]),
        ("cron(0 18 LW * ? *)", ["2026-12-31 Thu 18:00", "2027-01-29 Fri 18:00"]),
        ("cron(0 8 15W * ? *)", ["2026-12-15 Tue 08:00", "2027-01-15 Fri 08:00"]),
        # The 1st of 2027-05 is a Saturday: 1W is Monday the 3rd, never April.
        ("cron(0 8 1W 5 ? 2027)", ["2027-05-03 Mon 08:00"]),
        # The 31st of 2027-10 is a Sunday: 31W is Friday the 29th.
        ("cron(0 8 31W 10 ? 2027)", ["2027-10-29 Fri 08:00"]),
        ("cron(0 10 ? * 6L *)", ["2026-12-25 Fri 10:00", "2027-01-29 Fri 10:00"]),
        ("cron(0 10 ? * FRI#3 *)", ["2026-12-18 Fri 10:00", "2027-01-15 Fri 10:00"]),
        ("cron(0 10 ? * 2#1 *)", ["2026-12-07 Mon 10:00", "2027-01-04 Mon 10:00"]),
        ("cron(0 10 ? * L *)", ["2026-12-12 Sat 10:00", "2026-12-19 Sat 10:00"]),
    ],
)
def test_expressions_and_their_ticks(expression: str, expected: list[str]) -> None:
    assert ticks(expression, len(expected)) == expected


def test_the_years_run_out() -> None:
    schedule = parse("cron(0 0 1 1 ? 2027)")
    first = schedule.next_after(NOW, NOW)
    assert first == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    assert schedule.next_after(first, NOW) is None


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("rate(1 minutes)", "singular"),
        ("rate(5 minute)", "plural"),
        ("rate(0 minutes)", "positive"),
        ("rate(5 seconds)", "unit"),
        ("rate(-5 minutes)", "Use rate"),
        ("every 5 minutes", "Use rate"),
        ("cron(0 12 * * *)", "six fields"),
        ("cron(0 12 * * * *)", "Exactly one"),
        ("cron(0 12 ? * ? *)", "Exactly one"),
        ("cron(60 12 * * ? *)", "outside"),
        ("cron(0 24 * * ? *)", "outside"),
        ("cron(0 12 32 * ? *)", "outside"),
        ("cron(0 12 * 13 ? *)", "outside"),
        ("cron(0 12 ? * 0 *)", "outside"),
        ("cron(0 12 ? * 8 *)", "outside"),
        ("cron(0 12 * * ? 1969)", "outside"),
        ("cron(0 12 ? * FRI-MON *)", "backwards"),
        ("cron(0/0 12 * * ? *)", "increment"),
        ("cron(0 12 ? * FRI#6 *)", "1-5"),
        ("cron(0 12 * FOO ? *)", "not a value"),
    ],
)
def test_invalid_expressions_get_eventbridges_message(expression: str, reason: str) -> None:
    with pytest.raises(InvalidSchedule) as refused:
        parse(expression)
    assert str(refused.value).startswith(INVALID)
    assert reason in str(refused.value)
