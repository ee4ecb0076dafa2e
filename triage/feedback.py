"""Feedback events: what a referrer is told, written in the same transaction as their cause."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from schemas.enums import FeedbackEventKind
from schemas.tables import FeedbackEvent, Referral
from schemas.types import utc_now
from triage import webhooks


def emit(
    *,
    session: Session,
    referral: Referral,
    event: FeedbackEventKind,
    message: str,
    outcomes: list[dict[str, Any]] | None = None,
) -> FeedbackEvent:
    """Append a feedback event for the referral's organisation, with its webhook outbox rows."""
    row = FeedbackEvent(
        referral_id=referral.id,
        organisation_id=referral.organisation_id,
        event=event,
        at=utc_now(),
        message=message,
        outcomes=outcomes,
    )
    session.add(row)
    # On PostgreSQL a trigger stamps the writer's transaction id on the row (tx_id), which is what
    # keeps the polling cursor gap-free when transactions commit out of id order (triage/feed.py).
    session.flush()
    webhooks.enqueue(session=session, event=row)
    return row
