"""EventBridge schedule expressions, parsed and stepped (pure; UTC).

`rate(1 minute)`, `rate(5 minutes)`, hours, days: singular for 1, plural otherwise. A rate's
ticks fall every period from the moment the schedule was made.

`cron(minutes hours day-of-month month day-of-week year)`, EventBridge's six fields:
- minutes 0-59, hours 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 1-7
  (1 = SUN, as EventBridge counts, not Unix cron's 0-6) or SUN-SAT, year 1970-2199;
- `,` lists, `-` ranges, `*` every value, `/` increments (`0/15`, `*/10`, `10-50/5`);
- exactly one of day-of-month and day-of-week is `?` (no value);
- day-of-month `L` (the last day), `LW` (the last weekday), `15W` (the weekday nearest the
  15th, within the month); day-of-week `L` (the last day of the week, Saturday), `6L` (the
  last Friday of the month), `6#3` (the third Friday).

No maintained Python library computes these exactly (croniter counts days of the week 0-6
from Sunday, has no year field and reads `?` as `*`), so this small parser does.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

INVALID = "Parameter ScheduleExpression is not valid."
MIN_YEAR, MAX_YEAR = 1970, 2199
MONTHS = {name.upper(): number for number, name in enumerate(calendar.month_abbr) if name}
# EventBridge's day-of-week numbers: 1 = SUN ... 7 = SAT.
DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
RATE_RE = re.compile(r"^rate\(\s*(\d+)\s+([a-z]+)\s*\)$")
CRON_RE = re.compile(r"^cron\((.*)\)$")
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
MAX_EXPRESSION_CHARS = 256


class InvalidSchedule(ValueError):
    """EventBridge's message, then what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{INVALID} {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Rate:
    seconds: int

    def next_after(self, moment: dt.datetime, anchor: dt.datetime) -> dt.datetime | None:
        """The first tick after `moment`: anchor + k periods, k >= 1."""
        period = dt.timedelta(seconds=self.seconds)
        if moment < anchor + period:
            return anchor + period
        elapsed = (moment - anchor) // period
        return anchor + (elapsed + 1) * period


@dataclass(frozen=True, slots=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    day_matches: Callable[[dt.date], bool]

    def next_after(self, moment: dt.datetime, anchor: dt.datetime) -> dt.datetime | None:
        """The first minute after `moment` every field matches (`anchor` plays no part);
        None if none is left (years run out at 2199)."""
        start = moment.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        day = start.date()
        first = True
        while day.year <= MAX_YEAR:
            if day.year not in self.years:
                day, first = dt.date(day.year + 1, 1, 1), False
                continue
            if day.month not in self.months:
                day, first = _first_of_next_month(day), False
                continue
            if self.day_matches(day):
                found = self._time_on(day, start if first else None)
                if found is not None:
                    return found
            day, first = day + dt.timedelta(days=1), False
        return None

    def _time_on(self, day: dt.date, not_before: dt.datetime | None) -> dt.datetime | None:
        for hour in sorted(self.hours):
            for minute in sorted(self.minutes):
                candidate = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC)
                if not_before is None or candidate >= not_before:
                    return candidate
        return None


Schedule = Rate | Cron


def parse(expression: str) -> Schedule:
    """InvalidSchedule, saying what is wrong, for anything EventBridge would refuse."""
    text = expression.strip()
    if len(text) > MAX_EXPRESSION_CHARS:
        raise InvalidSchedule(f"It is longer than {MAX_EXPRESSION_CHARS} characters.")
    rate = RATE_RE.match(text)
    if rate is not None:
        return _rate(int(rate.group(1)), rate.group(2))
    cron = CRON_RE.match(text)
    if cron is not None:
        return _cron(cron.group(1))
    raise InvalidSchedule("Use rate(VALUE UNIT) or cron(MINUTES HOURS DAY MONTH WEEKDAY YEAR).")


def _rate(value: int, unit: str) -> Rate:
    singular = unit.removesuffix("s")
    if singular not in UNIT_SECONDS:
        raise InvalidSchedule("The unit of a rate is minute(s), hour(s) or day(s).")
    if value < 1:
        raise InvalidSchedule("The value of a rate must be a positive whole number.")
    if value == 1 and unit != singular:
        raise InvalidSchedule(f"A rate of 1 takes the singular unit: rate(1 {singular}).")
    if value > 1 and unit == singular:
        raise InvalidSchedule(f"A rate above 1 takes the plural unit: rate({value} {unit}s).")
    return Rate(value * UNIT_SECONDS[singular])


def _cron(body: str) -> Cron:
    fields = body.split()
    if len(fields) != 6:
        raise InvalidSchedule(
            "A cron expression has six fields: minutes hours day-of-month month day-of-week year."
        )
    minutes, hours, day_of_month, month, day_of_week, year = fields
    if (day_of_month == "?") == (day_of_week == "?"):
        raise InvalidSchedule(
            "Exactly one of day-of-month and day-of-week must be ? (the other gives the days)."
        )
    days = (
        _day_of_week_matcher(day_of_week)
        if day_of_month == "?"
        else _day_of_month_matcher(day_of_month)
    )
    return Cron(
        minutes=_values(minutes, 0, 59, "minutes"),
        hours=_values(hours, 0, 23, "hours"),
        months=_values(month, 1, 12, "month", MONTHS),
        years=_values(year, MIN_YEAR, MAX_YEAR, "year"),
        day_matches=days,
    )


def _values(
    field: str, low: int, high: int, name: str, names: dict[str, int] | None = None
) -> frozenset[int]:
    """A field of `,` lists of `*`, `N`, `N-M`, each optionally `/STEP`."""
    found: set[int] = set()
    for part in field.split(","):
        found.update(_part(part, low, high, name, names or {}))
    return frozenset(found)


def _part(part: str, low: int, high: int, name: str, names: dict[str, int]) -> range:
    base, slash, step_text = part.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) < 1:
            raise InvalidSchedule(
                f"The increment in {name} field {part!r} must be a positive number."
            )
        step = int(step_text)
    if base == "*":
        start, end = low, high
    elif "-" in base:
        first, _, last = base.partition("-")
        start, end = _value(first, low, high, name, names), _value(last, low, high, name, names)
        if start > end:
            raise InvalidSchedule(f"The range {base!r} in the {name} field runs backwards.")
    else:
        start = _value(base, low, high, name, names)
        end = high if slash else start
    return range(start, end + 1, step)


def _value(text: str, low: int, high: int, name: str, names: dict[str, int]) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        raise InvalidSchedule(f"{text!r} is not a value of the {name} field ({low}-{high}).")
    value = int(text)
    if not low <= value <= high:
        raise InvalidSchedule(f"{value} is outside the {name} field's {low}-{high}.")
    return value


def _day_of_month_matcher(field: str) -> Callable[[dt.date], bool]:
    if field == "L":
        return lambda day: day.day == _days_in(day)
    if field == "LW":
        return lambda day: day == _last_weekday(day)
    weekday = re.fullmatch(r"(\d+)W", field)
    if weekday is not None:
        target = _value(weekday.group(1), 1, 31, "day-of-month", {})
        return lambda day: day == _nearest_weekday(day, target)
    days = _values(field, 1, 31, "day-of-month")
    return lambda day: day.day in days


def _day_of_week_matcher(field: str) -> Callable[[dt.date], bool]:
    if field == "L":
        return lambda day: _weekday(day) == DAYS["SAT"]
    last = re.fullmatch(r"(\w+)L", field)
    if last is not None:
        target = _value(last.group(1), 1, 7, "day-of-week", DAYS)
        return lambda day: _weekday(day) == target and day.day + 7 > _days_in(day)
    nth = re.fullmatch(r"(\w+)#(\d)", field)
    if nth is not None:
        target = _value(nth.group(1), 1, 7, "day-of-week", DAYS)
        occurrence = int(nth.group(2))
        if not 1 <= occurrence <= 5:
            raise InvalidSchedule(f"The occurrence in {field!r} must be 1-5.")
        return lambda day: _weekday(day) == target and (day.day - 1) // 7 + 1 == occurrence
    weekdays = _values(field, 1, 7, "day-of-week", DAYS)
    return lambda day: _weekday(day) in weekdays


def _weekday(day: dt.date) -> int:
    """EventBridge's number of the day: 1 = SUN ... 7 = SAT (Python: MON = 0 ... SUN = 6)."""
    return (day.weekday() + 1) % 7 + 1


def _days_in(day: dt.date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _last_weekday(day: dt.date) -> dt.date:
    last = day.replace(day=_days_in(day))
    while last.weekday() >= 5:
        last -= dt.timedelta(days=1)
    return last


def _nearest_weekday(day: dt.date, target: int) -> dt.date | None:
    """The weekday nearest the `target`th of `day`'s month, never leaving the month (None
    when the month has no such day)."""
    if target > _days_in(day):
        return None
    wanted = day.replace(day=target)
    if wanted.weekday() == 5:  # Saturday: Friday, or Monday the 3rd when it is the 1st
        return wanted + dt.timedelta(days=2) if target == 1 else wanted - dt.timedelta(days=1)
    if wanted.weekday() == 6:  # Sunday: Monday, or Friday when it is the last day
        return (
            wanted - dt.timedelta(days=2)
            if target == _days_in(day)
            else wanted + dt.timedelta(days=1)
        )
    return wanted


def _first_of_next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
