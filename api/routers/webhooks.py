"""Webhook subscriptions: a partner organisation asks for its feedback events to be pushed, signed."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from api.deps import NoBody, ReferrerDep, SessionDep
from schemas.tables import WebhookSubscription
from schemas.webhook_io import WebhookCreatedOut, WebhookIn, WebhookListOut, WebhookOut
from triage import webhooks

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

DELIVERY_NOTE = (
    "Each delivery is a POST of a thin JSON event, `{type, timestamp, data: {event_id, referral_id, reference, "
    "event, url}}`, signed as Standard Webhooks say: headers `webhook-id` (the same on every retry), "
    "`webhook-timestamp` and `webhook-signature` (`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` under "
    "the base64-decoded part of the secret after `whsec_`). Read the details from `data.url` with your own key. "
    "Answer 2xx to acknowledge; anything else is retried with exponential backoff (a `Retry-After` header is "
    "respected), each event at least once; answer 410 Gone to end the subscription."
)


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreatedOut,
    summary="Subscribe to pushed feedback events (the signing secret is shown once)",
    description=DELIVERY_NOTE,
    responses={409: {"description": "Too many subscriptions"}, 422: {"description": "The URL or events are unusable"}},
)
def create_webhook(body: WebhookIn, session: SessionDep, caller: ReferrerDep) -> WebhookCreatedOut:
    issued = webhooks.create_subscription(session=session, caller=caller, url=body.url, events=body.events)
    return WebhookCreatedOut(**_view(issued.subscription).model_dump(), secret=issued.secret)


@router.get("", response_model=WebhookListOut, summary="Your organisation's webhook subscriptions (no secrets)")
def list_webhooks(session: SessionDep, caller: ReferrerDep) -> WebhookListOut:
    found = webhooks.list_subscriptions(session=session, caller=caller)
    return WebhookListOut(items=[_view(subscription) for subscription in found], next_cursor=None)


@router.delete(
    "/{webhook_id}",
    status_code=204,
    summary="End a webhook subscription; nothing more is sent to it",
    responses={404: {"description": "No such subscription, or not your organisation's"}},
)
def delete_webhook(webhook_id: uuid.UUID, session: SessionDep, caller: ReferrerDep, _body: NoBody) -> Response:
    webhooks.delete_subscription(session=session, caller=caller, subscription_id=webhook_id)
    return Response(status_code=204)


def _view(subscription: WebhookSubscription) -> WebhookOut:
    return WebhookOut(
        id=subscription.id,
        url=subscription.url,
        events=subscription.events or [],
        created_at=subscription.created_at,
        disabled_at=subscription.disabled_at,
    )
