"""Feedback events: what a referrer is told, written in the same transaction as their cause."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Protocol, cast

import sqlalchemy as sa
from sqlmodel import Session, col

from schemas.enums import FeedbackEventKind
from schemas.tables import FeedbackEvent, WebhookSubscription
from schemas.types import utc_now
from triage import bulk, webhooks


class _OfReferral(Protocol):
    @property
    def id(self) -> uuid.UUID: ...

    @property
    def organisation_id(self) -> uuid.UUID: ...


# On PostgreSQL a trigger stamps the writer's transaction id on the row (tx_id), which is what keeps the polling
# cursor gap-free when transactions commit out of id order (triage/feed.py).
_TABLE: sa.Table = FeedbackEvent.__table__  # type: ignore[attr-defined]
_INSERT_RETURNING_ID = sa.insert(_TABLE).returning(col(FeedbackEvent.id))


def live_subscription_count(organisation_id: sa.ColumnElement[Any]) -> sa.ScalarSelect[int]:
    """How many live webhook subscriptions the organisation ORGANISATION_ID has (a scalar subquery)."""
    return (
        sa.select(sa.func.count())
        .select_from(WebhookSubscription)
        .where(
            col(WebhookSubscription.organisation_id) == organisation_id,
            col(WebhookSubscription.disabled_at).is_(None),
        )
        .scalar_subquery()
    )


_LIVE_SUBSCRIPTIONS = live_subscription_count(sa.bindparam("subscribed_organisation"))


@dataclass(frozen=True)
class EmittedEvent:
    """A feedback event as written (tx_id, stamped by the database, is not read back)."""

    id: int | None
    referral_id: uuid.UUID
    organisation_id: uuid.UUID
    event: str
    at: dt.datetime
    message: str
    outcomes: list[dict[str, Any]] | None


_COLUMNS = ("referral_id", "organisation_id", "event", "at", "message", "outcomes")


def live_subscriptions() -> sa.ScalarSelect[int]:
    """How many live webhook subscriptions the organisation `subscribed_organisation` has (a scalar subquery)."""
    return _LIVE_SUBSCRIPTIONS


def emit(
    *,
    session: Session,
    referral: _OfReferral,
    event: FeedbackEventKind,
    message: str,
    outcomes: list[dict[str, Any]] | None = None,
) -> EmittedEvent:
    """Append a feedback event for the referral's organisation, with its webhook outbox rows (emit_unsubscribed
    writes events for organisations known to have no live subscription)."""
    row = EmittedEvent(
        id=None,
        referral_id=referral.id,
        organisation_id=referral.organisation_id,
        event=event,
        at=utc_now(),
        message=message,
        outcomes=outcomes,
    )
    values = {name: getattr(row, name) for name in _COLUMNS}
    row = dataclasses.replace(row, id=session.execute(_INSERT_RETURNING_ID, values).scalar_one())
    # The outbox reads the event's id, organisation and kind, which it has.
    webhooks.enqueue(session=session, event=cast(FeedbackEvent, row))
    return row


def emit_unsubscribed(*, session: Session, events: list[tuple[_OfReferral, FeedbackEventKind, str]]) -> None:
    """Append several events, each for a referral whose organisation was read in this transaction to have no live
    webhook subscription: one statement, no outbox rows, no ids read back."""
    at = utc_now()
    rows = [
        {
            "referral_id": referral.id,
            "organisation_id": referral.organisation_id,
            "event": event,
            "at": at,
            "message": message,
            "outcomes": None,
        }
        for referral, event, message in events
    ]
    bulk.insert(session.connection(), _TABLE, rows)
