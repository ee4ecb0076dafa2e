"""Webhook delivery from the outbox: claim due rows under a lease, sign them (Standard Webhooks), POST, retry.

At least once: a row is leased before it is sent and settled after, each in its own short
transaction. A worker that dies mid-batch leaves leases that expire, and another worker sends those
rows again. While a lease holds nobody else may send the row, and a worker never starts a request
its lease might not outlast, so two workers never send the same attempt.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine
from sqlmodel import col

from schemas.enums import DeliveryState
from schemas.tables import AuditEvent, FeedbackEvent, Referral, WebhookDelivery, WebhookSubscription
from schemas.types import utc_now
from triage import access
from triage.settings import get_settings
from triage.webhook_message import (
    Attempt,
    DeliveryPolicy,
    backoff_seconds,
    payload,
    retry_after_seconds,
    sign,
)

log = structlog.get_logger("triage.webhooks")
USER_AGENT = "frontdoor-webhooks/1"
# The longest wait between two tries to reach a database that is away.
DATABASE_RETRY_MAX_SECONDS = 5.0


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker holds until its lease ends."""

    id: uuid.UUID
    attempts: int
    lease_until: dt.datetime


def claim(*, engine: Engine, worker_id: str, policy: DeliveryPolicy, now: dt.datetime | None = None) -> list[Claimed]:
    """Lease up to a batch of due deliveries for this worker, counting the attempt, in one statement."""
    now = now or utc_now()
    lease_until = now + dt.timedelta(seconds=policy.lease)
    due = (
        sa.select(col(WebhookDelivery.id))
        .where(
            col(WebhookDelivery.state) == DeliveryState.pending,
            col(WebhookDelivery.next_attempt_at) <= now,
            sa.or_(col(WebhookDelivery.lease_until).is_(None), col(WebhookDelivery.lease_until) <= now),
        )
        .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.event_id))
        .limit(policy.batch_size)
        # PostgreSQL: rows another worker is claiming are skipped, not waited for. SQLite has no row
        # locks; its writers are serialised (BEGIN IMMEDIATE), so this one statement is atomic there.
        .with_for_update(skip_locked=True)
    )
    stmt = (
        sa.update(WebhookDelivery)
        .where(col(WebhookDelivery.id).in_(due.scalar_subquery()))
        .values(lease_until=lease_until, leased_by=worker_id, attempts=col(WebhookDelivery.attempts) + 1)
        .returning(col(WebhookDelivery.id), col(WebhookDelivery.attempts), col(WebhookDelivery.event_id))
    )
    with engine.begin() as conn:
        rows = conn.execute(stmt).all()
    # Oldest event first, as far as one batch goes (receivers must not rely on order: retries reorder).
    return [Claimed(id=row[0], attempts=row[1], lease_until=lease_until) for row in sorted(rows, key=lambda r: r[2])]


def run_worker(
    *,
    engine: Engine,
    once: bool,
    stop: threading.Event | None = None,
    policy: DeliveryPolicy | None = None,
    worker_id: str | None = None,
) -> int:
    """Deliver due webhooks until STOP is set (or, with ONCE, until nothing is due); returns the attempts made."""
    policy = policy or DeliveryPolicy.from_settings(get_settings())
    stop = stop or threading.Event()
    worker_id = worker_id or default_worker_id()
    base_url = get_settings().public_base_url
    rng = random.Random()
    made = 0
    database_errors = 0
    timeout = httpx.Timeout(policy.timeout)
    with httpx.Client(timeout=timeout, follow_redirects=False, headers={"User-Agent": USER_AGENT}) as client:
        while not stop.is_set():
            try:
                batch = claim(engine=engine, worker_id=worker_id, policy=policy)
                if batch:
                    made += _deliver_batch(
                        engine=engine,
                        client=client,
                        batch=batch,
                        worker_id=worker_id,
                        policy=policy,
                        rng=rng,
                        stop=stop,
                        base_url=base_url,
                    )
                database_errors = 0
            except sa.exc.SQLAlchemyError as exc:
                if once:
                    raise
                # The database is away: leases run out on their own and the rows are sent later. The wait
                # grows while it stays away, so a restart is noticed within seconds without a busy loop.
                database_errors += 1
                log.warning(
                    "webhook_worker_database_error",
                    worker=worker_id,
                    error_class=type(exc).__name__,
                    consecutive=database_errors,
                )
                growing = policy.poll * 2 ** min(database_errors, 10)
                stop.wait(max(policy.poll, min(growing, DATABASE_RETRY_MAX_SECONDS)))
                continue
            except Exception:
                if once:
                    raise
                # One bad row must not stop every delivery: its lease runs out, and its attempts with it.
                log.exception("webhook_worker_batch_failed", worker=worker_id)
                batch = []
            if not batch:
                if once:
                    break
                stop.wait(policy.poll)
    return made


def default_worker_id() -> str:
    """This worker's name on the leases it takes."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class WorkerThread:
    """A delivery worker inside the server process (`make run`), stopped cleanly at shutdown."""

    def __init__(self, *, engine: Engine, policy: DeliveryPolicy | None = None) -> None:
        self._engine = engine
        self._policy = policy or DeliveryPolicy.from_settings(get_settings())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook-worker", daemon=True)

    def start(self) -> WorkerThread:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the worker to finish its current delivery and stop; whether it stopped in TIMEOUT."""
        self._stop.set()
        self._thread.join(self._policy.longest_request + 5 if timeout is None else timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            run_worker(engine=self._engine, once=False, stop=self._stop, policy=self._policy)
        except Exception:  # a crashed worker must be seen in the log, not take the server down
            log.exception("webhook_worker_stopped_by_error")


def _deliver_batch(
    *,
    engine: Engine,
    client: httpx.Client,
    batch: list[Claimed],
    worker_id: str,
    policy: DeliveryPolicy,
    rng: random.Random,
    stop: threading.Event,
    base_url: str,
) -> int:
    targets = _targets(engine, [claimed.id for claimed in batch])
    made = 0
    for index, claimed in enumerate(batch):
        remaining = (claimed.lease_until - utc_now()).total_seconds()
        if stop.is_set() or remaining < policy.longest_request:
            # Not started, so not an attempt: hand the rest back for this or another worker.
            _release(engine, batch[index:], worker_id=worker_id)
            break
        target = targets.get(claimed.id)
        if target is None:
            continue  # its subscription was deleted after the claim, and the row with it
        if target["disabled_at"] is not None:
            with engine.begin() as conn:
                _settle(
                    conn, claimed, worker_id=worker_id, values={"state": DeliveryState.failed, "last_error": "disabled"}
                )
            continue
        attempt = _send(client, claimed=claimed, target=target, base_url=base_url)
        made += 1
        _record(engine, claimed, target=target, attempt=attempt, worker_id=worker_id, policy=policy, rng=rng)
    return made


def _targets(engine: Engine, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    columns: list[Any] = [
        col(WebhookDelivery.id),
        col(WebhookSubscription.id).label("subscription_id"),
        col(WebhookSubscription.url),
        col(WebhookSubscription.secret),
        col(WebhookSubscription.disabled_at),
        col(FeedbackEvent.id).label("event_id"),
        col(FeedbackEvent.referral_id),
        col(FeedbackEvent.event),
        col(FeedbackEvent.at),
        col(Referral.reference),
        col(WebhookSubscription.organisation_id),
    ]
    stmt = (
        sa.select(*columns)
        .select_from(WebhookDelivery)
        .join(WebhookSubscription, col(WebhookSubscription.id) == col(WebhookDelivery.subscription_id))
        .join(FeedbackEvent, col(FeedbackEvent.id) == col(WebhookDelivery.event_id))
        .join(Referral, col(Referral.id) == col(FeedbackEvent.referral_id))
        .where(col(WebhookDelivery.id).in_(ids))
    )
    with engine.connect() as conn:
        return {row.id: dict(row._mapping) for row in conn.execute(stmt)}


def _send(client: httpx.Client, *, claimed: Claimed, target: dict[str, Any], base_url: str) -> Attempt:
    body = payload(
        event_id=target["event_id"],
        referral_id=target["referral_id"],
        reference=target["reference"],
        kind=target["event"],
        at=target["at"],
        base_url=base_url,
    )
    # The same id on every retry, so the receiver can drop duplicates (Standard Webhooks).
    msg_id = f"msg_{claimed.id.hex}"
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret=target["secret"], msg_id=msg_id, timestamp=timestamp, body=body),
    }
    try:
        # Streamed and closed unread: only the status and headers matter, so a large answer costs nothing.
        with client.stream("POST", target["url"], content=body, headers=headers) as response:
            status = response.status_code
            retry_after = retry_after_seconds(response.headers.get("retry-after"), now=utc_now())
    except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        return Attempt(status=None, error=f"{type(exc).__name__}: {exc}"[:500])
    return Attempt(status=status, retry_after=retry_after, error=None if 200 <= status < 300 else f"HTTP {status}")


def _record(
    engine: Engine,
    claimed: Claimed,
    *,
    target: dict[str, Any],
    attempt: Attempt,
    worker_id: str,
    policy: DeliveryPolicy,
    rng: random.Random,
) -> None:
    now = utc_now()
    values: dict[str, Any] = {"last_status": attempt.status, "last_error": attempt.error}
    if attempt.delivered:
        values.update(state=DeliveryState.delivered, delivered_at=now)
    elif attempt.status == 410:
        values.update(state=DeliveryState.failed)
    elif claimed.attempts >= policy.max_attempts:
        values.update(state=DeliveryState.failed)
    else:
        delay = (
            attempt.retry_after
            if attempt.retry_after is not None
            else backoff_seconds(claimed.attempts, policy=policy, rng=rng)
        )
        values.update(next_attempt_at=now + dt.timedelta(seconds=min(delay, policy.backoff_max)))
    with engine.begin() as conn:
        settled = _settle(conn, claimed, worker_id=worker_id, values=values)
        if attempt.status == 410:
            _disable(conn, target["subscription_id"], at=now)
        if attempt.status is not None:
            _audit_disclosure(conn, claimed, target=target, status=attempt.status, at=now)
    log.info(
        "webhook_attempt",
        delivery=str(claimed.id),
        subscription=str(target["subscription_id"]),
        attempt=claimed.attempts,
        status=attempt.status,
        outcome=str(values.get("state", "retry")),
        settled=settled,
    )


def _audit_disclosure(
    conn: sa.Connection, claimed: Claimed, *, target: dict[str, Any], status: int, at: dt.datetime
) -> None:
    """The receiver answered, so it has the event: a disclosure of the referral, on its audit trail (DPA 2018 s.62)."""
    conn.execute(
        sa.insert(AuditEvent).values(
            at=at,
            actor_kind="system",
            action="disclose",
            entity="referral",
            entity_id=str(target["referral_id"]),
            purpose=access.FEEDBACK,
            detail={
                "via": "webhook",
                "to_organisation_id": str(target["organisation_id"]),
                "subscription_id": str(target["subscription_id"]),
                "delivery_id": str(claimed.id),
                "event_id": target["event_id"],
                "event": target["event"],
                "attempt": claimed.attempts,
                "status": status,
            },
        )
    )


def _settle(conn: sa.Connection, claimed: Claimed, *, worker_id: str, values: dict[str, Any]) -> bool:
    """Write the outcome only if this worker still holds the lease it sent under (a fence)."""
    stmt = (
        sa.update(WebhookDelivery)
        .where(
            col(WebhookDelivery.id) == claimed.id,
            col(WebhookDelivery.leased_by) == worker_id,
            col(WebhookDelivery.attempts) == claimed.attempts,
            col(WebhookDelivery.state) == DeliveryState.pending,
        )
        .values(lease_until=None, leased_by=None, **values)
    )
    return conn.execute(stmt).rowcount == 1


def _release(engine: Engine, batch: list[Claimed], *, worker_id: str) -> None:
    with engine.begin() as conn:
        for claimed in batch:
            conn.execute(
                sa.update(WebhookDelivery)
                .where(
                    col(WebhookDelivery.id) == claimed.id,
                    col(WebhookDelivery.leased_by) == worker_id,
                    col(WebhookDelivery.attempts) == claimed.attempts,
                )
                .values(lease_until=None, leased_by=None, attempts=col(WebhookDelivery.attempts) - 1)
            )


def _disable(conn: sa.Connection, subscription_id: uuid.UUID, *, at: dt.datetime) -> None:
    """The receiver said 410 Gone: stop sending to it, and fail what was still waiting for it."""
    conn.execute(
        sa.update(WebhookSubscription)
        .where(col(WebhookSubscription.id) == subscription_id, col(WebhookSubscription.disabled_at).is_(None))
        .values(disabled_at=at)
    )
    conn.execute(
        sa.update(WebhookDelivery)
        .where(
            col(WebhookDelivery.subscription_id) == subscription_id,
            col(WebhookDelivery.state) == DeliveryState.pending,
        )
        .values(state=DeliveryState.failed, last_error="subscription disabled: the receiver answered 410 Gone")
    )
    log.warning("webhook_subscription_disabled", subscription=str(subscription_id))
