"""The referral-level items a local authority sends in its annual Children in Need census return."""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from schemas.tables import Child, ChildMatch, Referral
from triage.cin import CIN_REFERRAL_SOURCE_LABEL
from triage.clock import LONDON
from triage.reports.period import Period
from triage.reports.sql import instant

CIN_COLUMNS = (
    "child_id",
    "child_record_id",
    "referral_id",
    "referral_reference",
    "referral_date",
    "referral_source",
    "referral_source_description",
    "re_referral_within_12_months",
)
BATCH = 2000


def _statement(period: Period) -> sa.Select:
    earlier = aliased(Referral)
    # A child has one record per referral; the census wants one id per child, so each record is named by the
    # child's first record, found through the history links made at intake.
    first_record = (
        sa.select(col(ChildMatch.earlier_child_id))
        .join(earlier, col(earlier.id) == col(ChildMatch.earlier_referral_id))
        .where(col(ChildMatch.child_id) == col(Child.id))
        .order_by(col(earlier.received_at), col(ChildMatch.earlier_child_id))
        .limit(1)
        .correlate(Child)
        .scalar_subquery()
    )
    received_at = col(Referral.received_at)
    return (
        sa.select(
            sa.func.coalesce(first_record, col(Child.id), type_=sa.Uuid()).label("child_id"),
            col(Child.id).label("child_record_id"),
            col(Referral.id).label("referral_id"),
            col(Referral.reference),
            received_at,
            col(Referral.cin_referral_source),
            col(Child.referrals_12m),
        )
        .join(Referral, col(Referral.id) == col(Child.referral_id))
        .where(received_at >= instant(period.starts), received_at < instant(period.ends))
        .order_by(received_at, col(Referral.id), col(Child.position))
    )


def cin_referral_items(*, engine: Engine, period: Period) -> Iterator[tuple[str, ...]]:
    """One row per child per referral received in the period, oldest first, streamed from the database."""
    with Session(engine) as session:
        result = session.execute(_statement(period).execution_options(yield_per=BATCH))
        for row in result:
            yield (
                str(row.child_id),
                str(row.child_record_id),
                str(row.referral_id),
                row.reference,
                row.received_at.astimezone(LONDON).date().isoformat(),
                row.cin_referral_source,
                CIN_REFERRAL_SOURCE_LABEL.get(row.cin_referral_source, ""),
                "true" if row.referrals_12m > 0 else "false",
            )
