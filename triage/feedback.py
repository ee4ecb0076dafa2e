"""Feedback events: what a referrer is told, written in the same transaction as their cause."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast

import sqlalchemy as sa
from sqlmodel import Session, col

from schemas.enums import FeedbackEventKind
from schemas.tables import FeedbackEvent, WebhookSubscription
from schemas.types import utc_now
from triage import webhooks


class _OfReferral(Protocol):
    @property
    def id(self) -> uuid.UUID: ...

    @property
    def organisation_id(self) -> uuid.UUID: ...


# On PostgreSQL a trigger stamps the writer's transaction id on the row (tx_id), which is what keeps the polling
# cursor gap-free when transactions commit out of id order (triage/feed.py).
TABLE: sa.Table = FeedbackEvent.__table__  # type: ignore[attr-defined]
_INSERT_RETURNING_ID = sa.insert(TABLE).returning(col(FeedbackEvent.id))


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
    """Append a feedback event for the referral's organisation, with its webhook outbox rows (unsubscribed_rows
    are the rows of events for organisations known to have no live subscription)."""
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


def unsubscribed_rows(events: Sequence[tuple[_OfReferral, FeedbackEventKind, str]]) -> list[dict[str, Any]]:
    """The rows of several events, each for a referral whose organisation was read in the writer's transaction to
    have no live webhook subscription: rows for TABLE (bulk.insert_all), with no outbox rows and no ids to read
    back."""
    at = utc_now()
    return [
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
