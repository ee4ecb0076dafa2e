"""One webhook delivery: its thin body, its Standard Webhooks signature, and when to try again."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import hmac
import json
import random
import uuid
from dataclasses import dataclass

from triage.settings import Settings


@dataclass(frozen=True)
class DeliveryPolicy:
    """How the worker paces, bounds and retries deliveries."""

    max_attempts: int = 15
    backoff_base: float = 30.0
    backoff_max: float = 6 * 3600.0
    timeout: float = 10.0
    lease: float = 120.0
    batch_size: int = 20
    poll: float = 1.0

    def __post_init__(self) -> None:
        if self.lease <= self.longest_request:
            # Otherwise a worker would claim rows only to hand them back, over and over.
            raise ValueError(
                f"The webhook lease ({self.lease} s) must be longer than the longest request "
                f"({self.longest_request} s, four times the timeout and a second)."
            )
        if self.max_attempts < 1 or self.batch_size < 1:
            raise ValueError("Webhook max attempts and batch size must be at least 1.")

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        return cls(
            max_attempts=settings.webhook_max_attempts,
            backoff_base=settings.webhook_backoff_base_seconds,
            backoff_max=settings.webhook_backoff_max_seconds,
            timeout=settings.webhook_timeout_seconds,
            lease=settings.webhook_lease_seconds,
            batch_size=settings.webhook_batch_size,
            poll=settings.webhook_poll_seconds,
        )

    @property
    def longest_request(self) -> float:
        """The worst case of one POST: waits for a connection, connecting, sending and the answer's headers."""
        return 4 * self.timeout + 1


@dataclass(frozen=True)
class Attempt:
    """What happened when one delivery was sent."""

    status: int | None
    retry_after: float | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The Standard Webhooks signature: v1, base64 HMAC-SHA256 of 'id.timestamp.body' under the decoded secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def payload(
    *, event_id: int, referral_id: uuid.UUID, reference: str, kind: str, at: dt.datetime, base_url: str
) -> bytes:
    """A thin event: what happened to which referral, and where the partner reads the details with its key."""
    body = {
        "type": f"referral.{kind}",
        "timestamp": at.isoformat(),
        "data": {
            "event_id": event_id,
            "referral_id": str(referral_id),
            "reference": reference,
            "event": kind,
            "url": f"{base_url.rstrip('/')}/v1/referrals/{referral_id}/feedback",
        },
    }
    return json.dumps(body, separators=(",", ":")).encode()


def backoff_seconds(attempts: int, *, policy: DeliveryPolicy, rng: random.Random) -> float:
    """Exponential backoff with jitter: half the step fixed, half random, so failed retries spread out."""
    step = min(policy.backoff_max, policy.backoff_base * 2 ** max(0, attempts - 1))
    return step / 2 + rng.uniform(0, step / 2)


def retry_after_seconds(value: str | None, *, now: dt.datetime) -> float | None:
    """A Retry-After header in seconds (it may be a number of seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())
