"""The decision clock: working days, working hours, and when each RAG's decision is due."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from triage.clock import (
    LONDON,
    add_working_hours,
    decision_due_at,
    is_overdue,
    is_working_day,
    is_working_time,
    next_opening,
    working_hours_between,
)

UTC = dt.UTC


def london(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, *, fold: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=LONDON, fold=fold)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


# Calendar facts used below, checked by hand: 2026-03-29 and 2026-10-25 are the clock changes;
# Good Friday 2026-04-03, Easter Monday 04-06, early May bank holiday 05-04; Christmas 2026 is a
# Friday (Boxing Day Saturday, substitute Monday 28th); 2021: Sat/Sun, substitutes Mon 27 and
# Tue 28; 2022: Sun/Mon, substitute Tue 27. London is GMT (UTC+0) in winter, BST (UTC+1) in summer.


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2026, 11, 24), True),  # Tuesday
        (dt.date(2026, 11, 21), False),  # Saturday
        (dt.date(2026, 11, 22), False),  # Sunday
        (dt.date(2026, 4, 3), False),  # Good Friday
        (dt.date(2026, 4, 6), False),  # Easter Monday
        (dt.date(2026, 5, 4), False),  # early May bank holiday
        (dt.date(2026, 12, 25), False),  # Christmas Day
        (dt.date(2026, 12, 28), False),  # Boxing Day substitute
        (dt.date(2021, 12, 27), False),  # Christmas Day substitute
        (dt.date(2021, 12, 28), False),  # Boxing Day substitute
        (dt.date(2022, 12, 27), False),  # Christmas Day substitute
        (dt.date(2022, 12, 28), True),
        (dt.date(2023, 5, 8), False),  # coronation bank holiday
        (dt.date(2026, 1, 2), True),  # a bank holiday in Scotland only
        (dt.date(2026, 11, 30), True),  # St Andrew's Day: Scotland only
        (dt.date(2026, 3, 17), True),  # St Patrick's Day: Northern Ireland only
    ],
)
def test_is_working_day(day: dt.date, expected: bool) -> None:
    assert is_working_day(day) is expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (london(2026, 11, 24, 9, 0), True),
        (london(2026, 11, 24, 16, 59, 59), True),
        (london(2026, 11, 24, 17, 0), False),
        (london(2026, 11, 24, 8, 59, 59), False),
        (london(2026, 11, 21, 12, 0), False),  # Saturday
        (utc(2026, 6, 16, 8, 30), True),  # 09:30 BST
        (utc(2026, 6, 16, 16, 30), False),  # 17:30 BST
        (utc(2026, 11, 24, 8, 30), False),  # 08:30 GMT
        (utc(2026, 11, 24, 16, 30), True),  # 16:30 GMT
    ],
)
def test_is_working_time(at: dt.datetime, expected: bool) -> None:
    assert is_working_time(at) is expected


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (london(2026, 11, 24, 10, 15), utc(2026, 11, 24, 10, 15)),  # inside: itself
        (london(2026, 11, 24, 7, 0), utc(2026, 11, 24, 9, 0)),  # before opening, same day
        (london(2026, 11, 24, 17, 0), utc(2026, 11, 25, 9, 0)),  # at closing: next day
        (london(2026, 11, 20, 18, 0), utc(2026, 11, 23, 9, 0)),  # Friday evening: Monday
        (london(2026, 4, 2, 17, 30), utc(2026, 4, 7, 8, 0)),  # over Easter: Tuesday 09:00 BST
        (london(2026, 3, 28, 12, 0), utc(2026, 3, 30, 8, 0)),  # over the March change
    ],
)
def test_next_opening(at: dt.datetime, expected: dt.datetime) -> None:
    assert next_opening(at) == expected


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        (london(2026, 11, 23, 9, 0), 0, utc(2026, 11, 23, 9, 0)),
        (london(2026, 11, 21, 12, 0), 0, utc(2026, 11, 23, 9, 0)),  # starts at the next opening
        (london(2026, 11, 23, 9, 0), 1.5, utc(2026, 11, 23, 10, 30)),
        (london(2026, 11, 23, 9, 0), 16, utc(2026, 11, 24, 17, 0)),
        (london(2026, 11, 23, 9, 0), 40, utc(2026, 11, 27, 17, 0)),  # a whole working week
        (london(2026, 11, 23, 9, 0), 40.25, utc(2026, 11, 30, 9, 15)),
    ],
)
def test_add_working_hours(start: dt.datetime, hours: float, expected: dt.datetime) -> None:
    result = add_working_hours(start=start, hours=hours)
    assert result == expected
    assert result.utcoffset() == dt.timedelta(0)


def test_add_working_hours_refuses_negative_hours() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_working_hours(start=london(2026, 11, 23, 9, 0), hours=-1)


@pytest.mark.parametrize(
    ("received_at", "expected"),
    [
        (utc(2026, 11, 20, 15, 0), utc(2026, 11, 20, 19, 0)),  # Friday afternoon
        (london(2026, 11, 21, 22, 0), utc(2026, 11, 22, 2, 0)),  # Saturday night, whatever the day
        (london(2026, 12, 25, 10, 0), utc(2026, 12, 25, 14, 0)),  # Christmas Day
        # March change (01:00 GMT -> 02:00 BST): 00:30 GMT + 4h = 04:30 UTC = 05:30 BST, not 04:30 BST.
        (london(2026, 3, 29, 0, 30), utc(2026, 3, 29, 4, 30)),
        (london(2026, 3, 28, 23, 30), utc(2026, 3, 29, 3, 30)),
        # October change (02:00 BST -> 01:00 GMT): 00:30 BST = 23:30 UTC; + 4h = 03:30 UTC = 03:30 GMT.
        (london(2026, 10, 25, 0, 30), utc(2026, 10, 25, 3, 30)),
        # The repeated hour: 01:30 BST (fold 0) and 01:30 GMT (fold 1) are an hour apart.
        (london(2026, 10, 25, 1, 30, fold=0), utc(2026, 10, 25, 4, 30)),
        (london(2026, 10, 25, 1, 30, fold=1), utc(2026, 10, 25, 5, 30)),
    ],
)
def test_red_is_due_four_elapsed_hours_later(received_at: dt.datetime, expected: dt.datetime) -> None:
    result = decision_due_at(received_at=received_at, rag="red")
    assert result == expected
    assert result.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("rag", ["amber", "green"])
@pytest.mark.parametrize(
    ("received_at", "expected"),
    [
        # The examples in DOMAIN.md.
        (london(2026, 11, 24, 10, 0), utc(2026, 11, 25, 10, 0)),  # Tuesday 10:00 -> Wednesday 10:00
        (london(2026, 6, 16, 10, 0), utc(2026, 6, 17, 9, 0)),  # the same in summer (BST)
        (london(2026, 11, 20, 16, 30), utc(2026, 11, 23, 16, 30)),  # Friday 16:30 -> Monday 16:30
        (london(2026, 11, 21, 12, 0), utc(2026, 11, 23, 17, 0)),  # Saturday noon -> Monday 17:00
        (london(2026, 4, 2, 14, 0), utc(2026, 4, 7, 13, 0)),  # Thursday before Good Friday -> Tuesday 14:00 BST
        # Across the clock changes: Monday 16:30 London is a different UTC offset from Friday's.
        (london(2026, 3, 27, 16, 30), utc(2026, 3, 30, 15, 30)),  # 16:30 GMT -> 16:30 BST
        (london(2026, 10, 23, 16, 30), utc(2026, 10, 26, 16, 30)),  # 16:30 BST -> 16:30 GMT
        (london(2026, 3, 29, 12, 0), utc(2026, 3, 30, 16, 0)),  # the Sunday of the change
        # Before opening, after closing, and exactly at each.
        (london(2026, 11, 24, 7, 0), utc(2026, 11, 24, 17, 0)),
        (london(2026, 6, 16, 8, 59), utc(2026, 6, 16, 16, 0)),  # 17:00 BST
        (london(2026, 11, 24, 18, 0), utc(2026, 11, 25, 17, 0)),
        (london(2026, 11, 20, 17, 30), utc(2026, 11, 23, 17, 0)),  # Friday evening -> Monday
        (london(2026, 11, 24, 9, 0), utc(2026, 11, 24, 17, 0)),
        (london(2026, 11, 24, 17, 0), utc(2026, 11, 25, 17, 0)),
        # Christmas: 2 hours on Christmas Eve, the other 6 after the bank holidays.
        (london(2025, 12, 24, 15, 0), utc(2025, 12, 29, 15, 0)),  # Thu 25, Fri 26 off
        (london(2026, 12, 24, 15, 0), utc(2026, 12, 29, 15, 0)),  # Fri 25 off, Mon 28 substitute
        (london(2021, 12, 24, 15, 0), utc(2021, 12, 29, 15, 0)),  # Mon 27 and Tue 28 substitutes
        (london(2022, 12, 23, 15, 0), utc(2022, 12, 28, 15, 0)),  # Mon 26, Tue 27 substitute
        # Easter Monday and the early May bank holiday.
        (london(2026, 4, 6, 10, 0), utc(2026, 4, 7, 16, 0)),  # received on Easter Monday -> Tue 17:00 BST
        (london(2026, 5, 1, 13, 0), utc(2026, 5, 5, 12, 0)),  # Fri 4h, Mon 4 May off, Tue 13:00 BST
        (london(2026, 5, 4, 10, 0), utc(2026, 5, 5, 16, 0)),  # received on the bank holiday
    ],
)
def test_amber_and_green_are_due_eight_working_hours_later(
    received_at: dt.datetime, expected: dt.datetime, rag: str
) -> None:
    result = decision_due_at(received_at=received_at, rag=rag)
    assert result == expected
    assert result.utcoffset() == dt.timedelta(0)


def test_unknown_rag_is_refused() -> None:
    with pytest.raises(ValueError, match="RAG"):
        decision_due_at(received_at=utc(2026, 11, 24, 10, 0), rag="purple")


NAIVE = dt.datetime(2026, 11, 24, 10, 0)
AWARE = utc(2026, 11, 24, 10, 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: is_working_time(NAIVE),
        lambda: next_opening(NAIVE),
        lambda: add_working_hours(start=NAIVE, hours=8),
        lambda: decision_due_at(received_at=NAIVE, rag="red"),
        lambda: decision_due_at(received_at=NAIVE, rag="amber"),
        lambda: is_overdue(decision_due_at=NAIVE, decided=False, now=AWARE),
        lambda: is_overdue(decision_due_at=AWARE, decided=False, now=NAIVE),
        lambda: working_hours_between(start=NAIVE, end=AWARE),
        lambda: working_hours_between(start=AWARE, end=NAIVE),
    ],
)
def test_naive_datetimes_are_refused(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call()


DUE = utc(2026, 6, 16, 16, 0)


@pytest.mark.parametrize(
    ("decided", "now", "expected"),
    [
        (False, utc(2026, 6, 16, 15, 59), False),
        (False, DUE, False),  # due at, not yet after
        (False, utc(2026, 6, 16, 16, 0, 0, 1), True),
        (False, london(2026, 6, 16, 17, 0, 30), True),  # 16:00:30 UTC: compared as instants
        (False, london(2026, 6, 16, 16, 30), False),  # 15:30 UTC, though 16:30 on the wall
        (True, utc(2026, 6, 20, 9, 0), False),  # decided is never overdue
    ],
)
def test_is_overdue(decided: bool, now: dt.datetime, expected: bool) -> None:
    assert is_overdue(decision_due_at=DUE, decided=decided, now=now) is expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (london(2026, 11, 24, 10, 0), london(2026, 11, 24, 10, 0), 0.0),
        (london(2026, 11, 24, 10, 0), london(2026, 11, 24, 11, 30), 1.5),
        (london(2026, 11, 24, 10, 0), london(2026, 11, 25, 10, 0), 8.0),
        (london(2026, 11, 20, 16, 30), london(2026, 11, 23, 16, 30), 8.0),
        (london(2026, 11, 21, 0, 0), london(2026, 11, 23, 0, 0), 0.0),  # a weekend
        (london(2026, 11, 24, 18, 0), london(2026, 11, 25, 8, 0), 0.0),  # overnight
        (london(2026, 11, 23, 0, 0), london(2026, 11, 30, 0, 0), 40.0),  # a whole week
        (london(2026, 4, 2, 14, 0), london(2026, 4, 7, 14, 0), 8.0),  # over Easter
        (london(2026, 3, 27, 16, 30), london(2026, 3, 30, 16, 30), 8.0),  # over the March change
        (london(2026, 10, 23, 16, 30), london(2026, 10, 26, 16, 30), 8.0),  # over the October change
        (utc(2026, 12, 24, 15, 0), utc(2026, 12, 29, 15, 0), 8.0),  # over Christmas 2026
        (london(2026, 11, 25, 10, 0), london(2026, 11, 24, 10, 0), -8.0),  # end before start
    ],
)
def test_working_hours_between(start: dt.datetime, end: dt.datetime, expected: float) -> None:
    assert working_hours_between(start=start, end=end) == pytest.approx(expected)
