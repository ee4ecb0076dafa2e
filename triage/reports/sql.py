"""SQL expressions that PostgreSQL and SQLite spell differently: London weeks, elapsed hours, a median."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from schemas.types import UTCDateTime
from triage.reports.period import Period


def instant(value: Any) -> sa.BindParameter[Any]:
    """A bound aware datetime, stored the way the timestamp columns store it."""
    return sa.bindparam(None, value, type_=UTCDateTime())


def week_bucket(dialect: str, received_at: Any, period: Period) -> sa.ColumnElement[Any]:
    """The start of the London week an instant falls in: a timestamp on PostgreSQL, YYYY-MM-DD text on SQLite."""
    if dialect == "postgresql":
        return sa.func.date_trunc("week", sa.func.timezone("Europe/London", received_at))
    # SQLite keeps naive UTC text and knows no time zones: add London's offset, which changes only at the
    # clock changes inside the period, then step back to the Monday.
    whens: list[tuple[sa.ColumnElement[bool], str]] = []
    last = "+0 seconds"
    for until, offset in period.utc_offsets():
        modifier = f"{int(offset.total_seconds()):+d} seconds"
        if until is None:
            last = modifier
        else:
            whens.append((received_at < instant(until), modifier))
    shift: sa.ColumnElement[Any] = sa.case(*whens, else_=sa.literal(last)) if whens else sa.literal(last)
    return sa.func.date(sa.func.datetime(received_at, shift), "-6 days", "weekday 1")


def hours_between(dialect: str, start: Any, end: Any) -> sa.ColumnElement[Any]:
    """Elapsed hours from start to end."""
    if dialect == "postgresql":
        return sa.func.extract("epoch", end - start) / 3600.0
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
