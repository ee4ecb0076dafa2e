"""SQL expressions that PostgreSQL and SQLite spell differently: London weeks, elapsed hours, a median."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from schemas.types import UTCDateTime
from triage.reports.period import Period


def instant(value: Any) -> sa.BindParameter[Any]:
    """A bound aware datetime, stored the way the timestamp columns store it."""
    return sa.bindparam(None, value, type_=UTCDateTime())


# Weeks are counted from Monday 5 January 1970, 00:00 (1970-01-01 was a Thursday).
FIRST_MONDAY = dt.date(1970, 1, 5)
WEEK_SECONDS = 7 * 24 * 3600
FIRST_MONDAY_SECONDS = 4 * 24 * 3600


def _london_offset(received_at: Any, period: Period, as_value: Callable[[dt.timedelta], Any]) -> Any:
    """London's offset from UTC at each instant, from the clock changes inside the period (a few comparisons)."""
    whens: list[tuple[sa.ColumnElement[bool], Any]] = []
    last: Any = as_value(dt.timedelta(0))
    for until, offset in period.utc_offsets():
        if until is None:
            last = as_value(offset)
        else:
            whens.append((received_at < instant(until), as_value(offset)))
    return sa.case(*whens, else_=last) if whens else last


def week_bucket(dialect: str, received_at: Any, period: Period) -> sa.ColumnElement[Any]:
    """The London week an instant falls in: on PostgreSQL its number (see week_label), on SQLite YYYY-MM-DD text.

    Both add London's offset, which changes only at the clock changes inside the period, to the UTC instant.
    On PostgreSQL that is plain arithmetic on the epoch, several times cheaper per row than converting every
    instant to London time."""
    if dialect == "postgresql":
        seconds = sa.func.floor(sa.func.date_part("epoch", received_at, type_=sa.Float))
        offset = _london_offset(received_at, period, lambda o: sa.literal(o.total_seconds() - FIRST_MONDAY_SECONDS))
        return sa.func.floor((seconds + offset) / WEEK_SECONDS, type_=sa.Float)
    # SQLite keeps naive UTC text and knows no time zones: shift by the offset, then step back to the Monday.
    shift = _london_offset(received_at, period, lambda o: sa.literal(f"{int(o.total_seconds()):+d} seconds"))
    return sa.func.date(sa.func.datetime(received_at, shift), "-6 days", "weekday 1")


def week_label(dialect: str) -> Callable[[Any], Any] | None:
    """How a week_bucket is shown (YYYY-MM-DD of its Monday), applied to each group rather than to each row."""
    if dialect == "postgresql":
        return lambda week: sa.func.to_char(
            sa.cast(sa.literal(FIRST_MONDAY), sa.Date) + sa.cast(week * 7, sa.Integer), "YYYY-MM-DD"
        )
    return None


def hours_between(dialect: str, start: Any, end: Any) -> sa.ColumnElement[Any]:
    """Elapsed hours from start to end."""
    if dialect == "postgresql":
        # date_part gives a double; EXTRACT gives numeric, several times slower per row and sorted the same.
        return sa.func.date_part("epoch", end - start, type_=sa.Float) / 3600.0
    return (sa.func.julianday(end) - sa.func.julianday(start)) * 24.0


def median(dialect: str, values: sa.Select) -> sa.Select:
    """A one-row select of the median of the one column VALUES selects (NULL when it selects no rows)."""
    if dialect == "postgresql":
        source = values.subquery("median_source")
        return sa.select(sa.func.percentile_cont(0.5).within_group(source.c[0]))
    # SQLite has no percentile function: the middle value, or the mean of the middle two, of the sorted values.
    source_cte = values.cte("median_source")
    column = source_cte.c[0]
    count = sa.select(sa.func.count()).select_from(source_cte).scalar_subquery()
    middle = sa.select(column.label("v")).order_by(column).limit(2 - count % 2).offset((count - 1) // 2).subquery()
    return sa.select(sa.func.avg(middle.c.v))
