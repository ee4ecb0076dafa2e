"""The period a report covers: dates and times read in Europe/London, as a half-open UTC interval."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from triage.clock import LONDON
from triage.errors import Invalid, Problem

DEFAULT_DAYS = 30
LONGEST = dt.timedelta(days=3661)


@dataclass(frozen=True)
class Period:
    """Referrals received from `starts` (inclusive) to `ends` (exclusive), both aware UTC."""

    starts: dt.datetime
    ends: dt.datetime

    def as_json(self) -> dict[str, str]:
        """The period as shown in a report."""
        return {"from": self.starts.isoformat(), "to": self.ends.isoformat()}

    def weeks(self) -> list[dt.date]:
        """The Mondays (London) of every week the period touches, in order."""
        first = _monday(self.starts.astimezone(LONDON).date())
        last = _monday((self.ends - dt.timedelta(microseconds=1)).astimezone(LONDON).date())
        return [first + dt.timedelta(weeks=n) for n in range((last - first).days // 7 + 1)]

    def utc_offsets(self) -> list[tuple[dt.datetime | None, dt.timedelta]]:
        """London's offset from UTC through the period: (in force until this instant, offset), the last open."""
        found: list[tuple[dt.datetime | None, dt.timedelta]] = []
        at = self.starts
        offset = _offset(at)
        # Clock changes are at least weeks apart, so a daily probe then an hourly search finds each one.
        while at < self.ends:
            day_later = at + dt.timedelta(days=1)
            if _offset(day_later) != offset:
                change = at
                while _offset(change) == offset:
                    change += dt.timedelta(hours=1)
                change = change.replace(minute=0, second=0, microsecond=0)
                found.append((change, offset))
                offset = _offset(change)
                at = change
            else:
                at = day_later
        found.append((None, offset))
        return found


def _offset(at: dt.datetime) -> dt.timedelta:
    return at.astimezone(LONDON).utcoffset() or dt.timedelta(0)


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _problem(parameter: str, message: str) -> Invalid:
    return Invalid(
        problems=[Problem(pointer="", code=f"report_{parameter}_invalid", message=message)],
        summary="The report period is not one that can be reported on; each error says what to send.",
    )


def _instant(value: str, *, parameter: str, end_of_day: bool) -> dt.datetime:
    """A query value as an instant: a date is a whole London day; a datetime needs its offset."""
    text = value.strip()
    if len(text) == 10:
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise _problem(parameter, f"Give '{parameter}' as a date (YYYY-MM-DD) or a time with offset.") from None
        if end_of_day:
            day += dt.timedelta(days=1)
        return dt.datetime.combine(day, dt.time(0), tzinfo=LONDON).astimezone(dt.UTC)
    # An unencoded '+' in a query string arrives as a space: "10:00:00 01:00" meant "10:00:00+01:00".
    text = text.replace(" ", "+")
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise _problem(
            parameter, f"Give '{parameter}' as a date (YYYY-MM-DD) or an ISO 8601 time with offset."
        ) from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise _problem(
            parameter, f"Give '{parameter}' with its offset from UTC, such as 2026-03-01T09:00:00Z or +01:00."
        )
    return at.astimezone(dt.UTC)


def report_period(*, starts: str | None, ends: str | None, now: dt.datetime) -> Period:
    """The period asked for (dates in Europe/London, `to` dates inclusive); by default the last 30 days."""
    end = _instant(ends, parameter="to", end_of_day=True) if ends else now.astimezone(dt.UTC)
    start = _instant(starts, parameter="from", end_of_day=False) if starts else end - dt.timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise _problem("range", "Make 'from' earlier than 'to'; a date in 'to' includes that whole day.")
    if end - start > LONGEST:
        raise _problem("range", "Ask for ten years or less at a time.")
    return Period(starts=start, ends=end)
