"""Reports for leaders and for the national return, computed by the database from the referrals on record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from sqlmodel import Session

from schemas.types import utc_now
from triage import audit
from triage.auth import Caller
from triage.reports.cin import CIN_COLUMNS, cin_referral_items
from triage.reports.counts import count_figures
from triage.reports.figures import Summary, arrange
from triage.reports.period import Period, report_period

__all__ = ["CIN_COLUMNS", "Period", "Summary", "cin_referrals", "report_period", "summary"]


def summary(*, session: Session, caller: Caller, period: Period, now: dt.datetime | None = None) -> Summary:
    """Every figure leaders need for the referrals received in PERIOD."""
    at = now or utc_now()
    counts = count_figures(session=session, period=period, now=at)
    audit.record(
        session=session,
        caller=caller,
        action="read",
        entity="report",
        entity_id="summary",
        purpose="performance summary",
        detail=period.as_json(),
    )
    return arrange(counts=counts, period=period, now=at)


def cin_referrals(*, session: Session, caller: Caller, period: Period) -> Iterator[tuple[str, ...]]:
    """The Children in Need census items of the period's referrals, read after this request's transaction ends."""
    audit.record(
        session=session,
        caller=caller,
        action="export",
        entity="report",
        entity_id="cin-referrals",
        purpose="Children in Need census return",
        detail=period.as_json(),
    )
    return cin_referral_items(engine=session.get_bind().engine, period=period)
