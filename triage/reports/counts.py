"""The database's counts behind the summary: the period's referrals and children, each counted several ways in
one pass (concerns with their referral), plus refusals and the median time to a decision."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from schemas.enums import CONCERN_BITS, Agency, ConcernCategory, Outcome, VoiceNotObtainedReason
from schemas.tables import Child, Referral, RejectedRule, RejectedSubmission
from triage.reports import snapshot, sql
from triage.reports.grouping import Grouped, Grouping, Measure, count_grouped
from triage.reports.period import Period

AGE_BANDS = ("unborn", "0-1", "2-6", "7-15", "16-17")
UNDECIDED = "undecided"
ASSESSMENT = (Outcome.section_17_assessment.value,)
STRATEGY = (Outcome.strategy_discussion.value, Outcome.immediate_protection.value)
AGENCIES = [agency.value for agency in Agency]
CONCERNS = [concern.value for concern in ConcernCategory]
OUTCOMES = [outcome.value for outcome in Outcome]
REASONS = [reason.value for reason in VoiceNotObtainedReason]


@dataclass(frozen=True)
class Counts:
    """What the database counted for one period."""

    referrals: Grouped
    children: Grouped
    concerns: dict[str, int]
    rejected_by_agency: dict[str, int]
    rejected_by_rule: dict[str, int]
    median_hours: float | None


def _received(period: Period) -> sa.ColumnElement[bool]:
    return _between(col(Referral.received_at), period)


def _between(column: Any, period: Period) -> sa.ColumnElement[bool]:
    return sa.and_(column >= sql.instant(period.starts), column < sql.instant(period.ends))


def _with_concern(category: str) -> Callable[[Any], Any]:
    bit = CONCERN_BITS[category]
    return lambda r: sa.func.count().filter(r.concerns.op("&")(bit) != 0)


def _counted(name: str) -> Measure:
    return lambda f: f[name]


def _referrals(dialect: str, period: Period, now: dt.datetime) -> Grouping:
    """Volume, timeliness and feedback per referral, and how many children each names: in total, by agency and by
    week (children with their referral's week). Every column is in ix_referral_report: nothing is joined."""
    decided = col(Referral.decided)
    rows: sa.Select = sa.select(
        col(Referral.agency).label("agency"),
        sql.week_bucket(dialect, col(Referral.received_at), period).label("week"),
        decided.label("decided"),
        sa.and_(decided, sa.func.coalesce(col(Referral.decided_on_time), sa.false())).label("on_time"),
        sa.and_(sa.not_(decided), col(Referral.decision_due_at) < sql.instant(now)).label("overdue"),
        sa.and_(decided, col(Referral.told)).label("told"),
        col(Referral.child_count).label("children"),
        col(Referral.concern_bits).label("concerns"),
    ).where(_received(period))
    counts = {
        "n": lambda r: sa.func.count(),
        "decided": lambda r: sa.func.count().filter(r.decided),
        "on_time": lambda r: sa.func.count().filter(r.on_time),
        "overdue": lambda r: sa.func.count().filter(r.overdue),
        "told": lambda r: sa.func.count().filter(r.told),
        "children": lambda r: sa.func.sum(r.children),
        # Each concern category counted from the referral's bits, in the same pass.
        **{f"concern_{category}": _with_concern(category) for category in CONCERNS},
    }
    week_label = sql.week_label(dialect)
    return Grouping(
        rows=rows,
        keys=("agency", "week"),
        counts=counts,
        sets={"total": (), "agency": ("agency",), "week": ("week",)},
        measures={
            "n": lambda f: f.n,
            "decided": lambda f: f.decided,
            "on_time": lambda f: f.on_time,
            "undecided": lambda f: f.n - f.decided,
            "overdue": lambda f: f.overdue,
            "told": lambda f: f.told,
            "children": lambda f: f.children,
            **{f"concern_{category}": _counted(f"concern_{category}") for category in CONCERNS},
        },
        labels={"week": week_label} if week_label else None,
    )


def _children(period: Period) -> Grouping:
    """Outcomes, re-referrals, the child's voice and neglect, per child, counted the ways the summary shows. Each
    child row carries its referral's agency, time of receipt and neglect (ix_child_report): nothing is joined."""
    age = col(Child.age_years)
    band = sa.case(
        (col(Child.unborn), "unborn"),
        (age <= 1, "0-1"),
        (age <= 6, "2-6"),
        (age <= 15, "7-15"),
        (age <= 17, "16-17"),
        else_="18+",
    )
    rows: sa.Select = sa.select(
        col(Child.agency).label("agency"),
        col(Child.outcome).label("outcome"),
        col(Child.voice_not_obtained_reason).label("reason"),
        # Only children in referrals with neglect have a band: the neglect section counts no one else.
        sa.case((col(Child.neglect), band), else_=sa.null()).label("band"),
        sa.func.coalesce(col(Child.step_down), sa.false()).label("step_down"),
        col(Child.voice_heard).label("heard"),
        (col(Child.referrals_12m) > 0).label("again"),
    ).where(_between(col(Child.received_at), period))

    def decided(f: Any) -> Any:
        return f.outcome.is_not(None)

    def where(condition: Measure) -> Measure:
        return lambda f: sa.case((condition(f), f.n), else_=0)

    return Grouping(
        rows=rows,
        # The keys the figures are broken down by; what is only ever totalled is counted within each group.
        keys=("agency", "outcome", "reason", "band"),
        counts={
            "n": lambda r: sa.func.count(),
            "heard": lambda r: sa.func.count().filter(r.heard),
            "again": lambda r: sa.func.count().filter(r.again),
            "step_down": lambda r: sa.func.count().filter(r.step_down),
        },
        sets={
            "total": (),
            "agency": ("agency",),
            "outcome": ("outcome",),
            "reason": ("reason",),
            "agency_outcome": ("agency", "outcome"),
            "band": ("band",),
            "band_outcome": ("band", "outcome"),
        },
        measures={
            "n": lambda f: f.n,
            "decided": where(decided),
            "again": lambda f: f.again,
            "heard": lambda f: f.heard,
            "stepped_down": lambda f: sa.case((decided(f), f.step_down), else_=0),
            "assessment": where(lambda f: f.outcome.in_(ASSESSMENT)),
            "strategy": where(lambda f: f.outcome.in_(STRATEGY)),
            "converted": where(lambda f: f.outcome.in_(ASSESSMENT + STRATEGY)),
        },
    )


def _by(conn: sa.Connection, stmt: sa.Select) -> dict[str, int]:
    return {str(key): int(value) for key, value in conn.execute(stmt)}


def _statements(dialect: str, period: Period, now: dt.datetime) -> dict[str, Callable[[sa.Connection], Any]]:
    """The independent pieces of work, each a function of a connection."""
    refused = _between(col(RejectedSubmission.at), period)
    by_agency = (
        sa.select(col(RejectedSubmission.agency), sa.func.count())
        .where(refused)
        .group_by(col(RejectedSubmission.agency))
    )
    # A submission failing one rule in several places counts once for that rule.
    by_rule = (
        sa.select(col(RejectedRule.code), sa.func.count(sa.distinct(col(RejectedRule.submission_id))))
        .where(_between(col(RejectedRule.at), period))
        .group_by(col(RejectedRule.code))
    )
    hours = sql.hours_between(dialect, col(Referral.received_at), col(Referral.decided_at))
    durations = sa.select(hours).where(_received(period), col(Referral.decided), col(Referral.decided_at).is_not(None))

    def rest(conn: sa.Connection) -> tuple[dict[str, int], dict[str, int], Any]:
        return _by(conn, by_agency), _by(conn, by_rule), conn.execute(sql.median(dialect, durations)).scalar_one()

    return {
        "referrals": lambda conn: count_grouped(conn, _referrals(dialect, period, now)),
        "children": lambda conn: count_grouped(conn, _children(period)),
        "rest": rest,
    }


def count_figures(*, session: Session, period: Period, now: dt.datetime) -> Counts:
    """Every count the summary needs; on PostgreSQL the pieces run side by side, all in this transaction's snapshot."""
    dialect = session.get_bind().dialect.name
    work = _statements(dialect, period, now)
    if dialect == "postgresql":
        done = snapshot.run_in_snapshot(session, work)
    else:
        conn = session.connection()
        done = {name: piece(conn) for name, piece in work.items()}
    rejected_by_agency, rejected_by_rule, median = done["rest"]
    total = done["referrals"]["total"][()]
    return Counts(
        referrals=done["referrals"],
        children=done["children"],
        concerns={category: total[f"concern_{category}"] for category in CONCERNS if total[f"concern_{category}"]},
        rejected_by_agency=rejected_by_agency,
        rejected_by_rule=rejected_by_rule,
        median_hours=None if median is None else float(median),
    )


def known_first(known: Iterable[str], seen: Iterable[str | None]) -> list[str]:
    """Every known value in its order (so a chart always has them), then anything else the data holds."""
    ordered = list(known)
    extra = sorted({value for value in seen if value is not None} - set(ordered))
    return ordered + extra
