"""Request and response shapes of the webhook subscription calls."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from schemas.enums import FeedbackEventKind
from schemas.text_io import TextIn

EXAMPLE_ID = "3d0c9a4e-51f2-4c1b-9a7e-2b6f0d8e1c55"
# An http(s) address with a host name (IDNs as punycode), an optional port up to 65535 and no credentials, then
# printable ASCII: the addresses triage.webhooks accepts outside production (it also takes IPv6 literals).
_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
WEBHOOK_URL_PATTERN = rf"^https?://[A-Za-z0-9.-]+(:{_PORT})?([/?#][!-~]*)?$"


class WebhookIn(TextIn):
    """Where to push feedback events, and which kinds."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"url": "https://partner.example.org/frontdoor/webhooks", "events": ["acknowledged", "decision_made"]}
            ]
        },
    )
    url: str = Field(
        min_length=1,
        max_length=2000,
        # Stated for the document only: triage.webhooks checks the address and names what is wrong with it.
        json_schema_extra={"pattern": WEBHOOK_URL_PATTERN},
        description="An https URL (http is accepted outside production) to POST to, without a user name or password.",
    )
    events: list[FeedbackEventKind] = Field(
        default_factory=lambda: list(FeedbackEventKind),
        min_length=1,
        description="The feedback events to push; every kind when left out.",
    )


class WebhookOut(BaseModel):
    """A webhook subscription (its secret is shown only when it is created)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_ID,
                    "url": "https://partner.example.org/frontdoor/webhooks",
                    "events": ["acknowledged", "decision_made"],
                    "created_at": "2026-11-29T09:00:00+00:00",
                    "disabled_at": None,
                }
            ]
        }
    )
    id: uuid.UUID
    url: str
    events: list[FeedbackEventKind]
    created_at: dt.datetime
    disabled_at: dt.datetime | None = Field(
        default=None, description="Set when the receiver answered 410 Gone: nothing more is sent to it."
    )


class WebhookCreatedOut(WebhookOut):
    """A new subscription with its signing secret: shown once, keep it safe."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_ID,
                    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                    "url": "https://partner.example.org/frontdoor/webhooks",
                    "events": ["acknowledged", "decision_made"],
                    "created_at": "2026-11-29T09:00:00+00:00",
                    "disabled_at": None,
                }
            ]
        }
    )
    secret: str = Field(description="Verify each delivery's webhook-signature with it (Standard Webhooks).")


class WebhookListOut(BaseModel):
    """Your organisation's webhook subscriptions."""

    items: list[WebhookOut]
    next_cursor: str | None = None
