"""The decision clock (DOMAIN.md): working hours in Europe/London and when each referral's decision is due."""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

import holidays

LONDON = ZoneInfo("Europe/London")
OPENING = dt.time(9, 0)
CLOSING = dt.time(17, 0)
RED_DECISION = dt.timedelta(hours=4)
AMBER_GREEN_DECISION_HOURS = 8.0


@functools.cache
def _bank_holidays(year: int) -> frozenset[dt.date]:
    # One frozen set per year, built on first use: lookups stay O(1), any year works, and an
    # immutable value is safe to share between request threads (the library's own lazy
    # expansion mutates a dict in place).
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year))


def _aware(at: dt.datetime, name: str) -> dt.datetime:
    # A naive time would silently be read as server-local time: refuse it rather than guess.
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return at


def _local(day: dt.date, time: dt.time) -> dt.datetime:
    # Opening and closing are never inside a clock change (those happen at 01:00-02:00 on a Sunday),
    # so the London wall-clock time always exists and is unambiguous.
    return dt.datetime.combine(day, time, tzinfo=LONDON)


def is_working_day(day: dt.date) -> bool:
    """Whether the day is a weekday that is not a bank holiday in England."""
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def is_working_time(at: dt.datetime) -> bool:
    """Whether the instant falls inside working hours (09:00 inclusive to 17:00 exclusive, London time)."""
    local = _aware(at, "at").astimezone(LONDON)
    return is_working_day(local.date()) and OPENING <= local.time() < CLOSING


def _next_working_day(day: dt.date) -> dt.date:
    day += dt.timedelta(days=1)
    while not is_working_day(day):
        day += dt.timedelta(days=1)
    return day


def next_opening(at: dt.datetime) -> dt.datetime:
    """When the clock starts for a receipt at `at`: `at` itself inside working hours, else the next 09:00 (UTC)."""
    local = _aware(at, "at").astimezone(LONDON)
    day = local.date()
    if is_working_day(day) and local.time() < CLOSING:
        if local.time() >= OPENING:
            return at.astimezone(dt.UTC)
        return _local(day, OPENING).astimezone(dt.UTC)
    return _local(_next_working_day(day), OPENING).astimezone(dt.UTC)


def add_working_hours(*, start: dt.datetime, hours: float) -> dt.datetime:
    """The instant `hours` working hours after `start` (counted from its next opening), in UTC."""
    if hours < 0:
        raise ValueError("hours must not be negative")
    # Work on UTC instants throughout: subtracting two datetimes that share a tzinfo compares
    # wall clocks, which is wrong across a clock change.
    at = next_opening(_aware(start, "start"))
    remaining = dt.timedelta(hours=hours)
    day = at.astimezone(LONDON).date()
    while True:
        closing = _local(day, CLOSING).astimezone(dt.UTC)
        # `<=` so that work ending exactly at 17:00 is due at 17:00, not at 09:00 the next working day.
        if remaining <= closing - at:
            return at + remaining
        remaining -= closing - at
        day = _next_working_day(day)
        at = _local(day, OPENING).astimezone(dt.UTC)


def decision_due_at(*, received_at: dt.datetime, rag: str) -> dt.datetime:
    """When the decision on a referral received at `received_at` with this RAG is due, in UTC."""
    _aware(received_at, "received_at")
    if rag == "red":
        # Elapsed time, not wall-clock time: four real hours even across a clock change.
        return received_at.astimezone(dt.UTC) + RED_DECISION
    if rag in ("amber", "green"):
        return add_working_hours(start=received_at, hours=AMBER_GREEN_DECISION_HOURS)
    raise ValueError(f"unknown RAG rating: {rag!r}")


def is_overdue(*, decision_due_at: dt.datetime, decided: bool, now: dt.datetime) -> bool:
    """Whether a referral is undecided after its decision was due."""
    _aware(decision_due_at, "decision_due_at")
    _aware(now, "now")
    return not decided and now > decision_due_at


def working_hours_between(*, start: dt.datetime, end: dt.datetime) -> float:
    """Working hours elapsed from `start` to `end` (negative when `end` is earlier)."""
    _aware(start, "start")
    _aware(end, "end")
    if end < start:
        return -working_hours_between(start=end, end=start)
    start_utc, end_utc = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    day, last_day = start.astimezone(LONDON).date(), end.astimezone(LONDON).date()
    total = dt.timedelta(0)
    while day <= last_day:
        if is_working_day(day):
            opening = max(_local(day, OPENING).astimezone(dt.UTC), start_utc)
            closing = min(_local(day, CLOSING).astimezone(dt.UTC), end_utc)
            total += max(closing - opening, dt.timedelta(0))
        day += dt.timedelta(days=1)
    return total.total_seconds() / 3600
