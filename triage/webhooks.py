"""Webhook subscriptions and the transactional outbox: a delivery row is written with each feedback event."""

from __future__ import annotations

import base64
import ipaddress
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlmodel import Session, col

from schemas.enums import DeliveryState, FeedbackEventKind
from schemas.tables import FeedbackEvent, WebhookDelivery, WebhookSubscription
from schemas.types import utc_now
from triage import access, audit
from triage.auth import Caller
from triage.errors import Conflict, Invalid, NotAllowed, NotFound, Problem
from triage.settings import get_settings
from triage.webhook_worker import run_worker

__all__ = [
    "MAX_SUBSCRIPTIONS",
    "IssuedSubscription",
    "create_subscription",
    "delete_subscription",
    "enqueue",
    "list_subscriptions",
    "new_secret",
    "run_worker",
    "url_problems",
]

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
# Each event fans out to every subscription of the organisation: keep that bounded.
MAX_SUBSCRIPTIONS = 10


@dataclass(frozen=True)
class IssuedSubscription:
    """A new subscription and its signing secret, which is shown this once."""

    subscription: WebhookSubscription
    secret: str


def new_secret() -> str:
    """A Standard Webhooks secret: 'whsec_' and the standard base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def url_problems(url: str, *, production: bool) -> list[Problem]:
    """What is wrong with URL as a delivery address (none when it will do)."""

    def problem(code: str, message: str) -> list[Problem]:
        return [Problem(pointer="/url", code=code, message=message)]

    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        host = None
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not host:
        return problem(
            "webhook_url_invalid",
            "Give the full address of your receiver, starting https://, such as "
            "https://partner.example.org/frontdoor/webhooks.",
        )
    if parts.username or parts.password:
        return problem(
            "webhook_url_credentials",
            "Leave user names and passwords out of the URL: every delivery is signed with the secret you are "
            "given, so check the webhook-signature header instead.",
        )
    if production and parts.scheme != "https":
        return problem(
            "webhook_url_not_https", "Use an https address: deliveries cross networks and must be encrypted."
        )
    if production and _private_host(host):
        return problem(
            "webhook_url_private",
            "Give an address your receiver is reachable at from outside: local and private addresses are refused.",
        )
    return []


def _private_host(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global


def create_subscription(
    *, session: Session, caller: Caller, url: str, events: list[FeedbackEventKind]
) -> IssuedSubscription:
    """Subscribe the caller's organisation to pushed feedback events; the secret is returned once."""
    organisation_id = _organisation(caller)
    problems = url_problems(url, production=get_settings().environment == "production")
    if problems:
        raise Invalid(problems=problems, summary="The webhook address cannot be used.")
    live = session.execute(
        sa.select(sa.func.count())
        .select_from(WebhookSubscription)
        .where(
            col(WebhookSubscription.organisation_id) == organisation_id,
            col(WebhookSubscription.disabled_at).is_(None),
        )
    ).scalar_one()
    if live >= MAX_SUBSCRIPTIONS:
        raise Conflict(
            f"Your organisation already has {MAX_SUBSCRIPTIONS} webhook subscriptions; delete one you no longer use."
        )
    secret = new_secret()
    kinds = [str(kind) for kind in FeedbackEventKind if kind in set(events)]
    subscription = WebhookSubscription(organisation_id=organisation_id, url=url.strip(), events=kinds, secret=secret)
    session.add(subscription)
    session.flush()
    audit.record(
        session=session,
        caller=caller,
        action="create",
        entity="webhook_subscription",
        entity_id=subscription.id,
        detail={"events": kinds},
    )
    return IssuedSubscription(subscription=subscription, secret=secret)


def list_subscriptions(*, session: Session, caller: Caller) -> list[WebhookSubscription]:
    """The caller's organisation's subscriptions, oldest first (secrets stay out of every view)."""
    stmt = access.readable_webhook_subscriptions(caller).order_by(
        col(WebhookSubscription.created_at), col(WebhookSubscription.id)
    )
    return list(session.execute(stmt).scalars())


def delete_subscription(*, session: Session, caller: Caller, subscription_id: uuid.UUID) -> None:
    """Remove a subscription and its undelivered outbox rows; another organisation's is 404."""
    stmt = access.readable_webhook_subscriptions(caller).where(col(WebhookSubscription.id) == subscription_id)
    subscription = session.execute(stmt).scalar_one_or_none()
    if subscription is None:
        raise NotFound("There is no webhook subscription with that id.")
    session.execute(sa.delete(WebhookDelivery).where(col(WebhookDelivery.subscription_id) == subscription.id))
    session.delete(subscription)
    session.flush()
    audit.record(
        session=session, caller=caller, action="delete", entity="webhook_subscription", entity_id=subscription_id
    )


def enqueue(*, session: Session, event: FeedbackEvent) -> int:
    """Write one pending delivery per live subscription of the event's organisation that wants its kind."""
    subscriptions = session.execute(
        sa.select(col(WebhookSubscription.id), col(WebhookSubscription.events)).where(
            col(WebhookSubscription.organisation_id) == event.organisation_id,
            col(WebhookSubscription.disabled_at).is_(None),
        )
    ).all()
    now = utc_now()
    rows: list[dict[str, Any]] = [
        {
            "id": uuid.uuid4(),
            "subscription_id": subscription_id,
            "event_id": event.id,
            "state": DeliveryState.pending,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for subscription_id, kinds in subscriptions
        if str(event.event) in (kinds or [])
    ]
    if rows:
        session.execute(sa.insert(WebhookDelivery), rows)
    return len(rows)


def _organisation(caller: Caller) -> uuid.UUID:
    if caller.organisation_id is None:
        raise NotAllowed("Only a partner organisation's key can manage webhook subscriptions.")
    return caller.organisation_id
