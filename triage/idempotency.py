"""Idempotency-Key handling for intake: a retry replays the first answer and creates nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from schemas.enums import IdempotencyState
from schemas.tables import IdempotencyRecord
from schemas.types import utc_now
from triage.db import session_scope
from triage.errors import Conflict, Invalid, Problem

# A claim whose request died without finishing (a killed worker, a database restart) may be taken over.
# On PostgreSQL a live request holds a row lock on its claim (hold), so an unlocked claim still in flight
# is orphaned once the short gap between claiming and holding is over. SQLite cannot tell: it waits longer.
ABANDONED_AFTER = dt.timedelta(seconds=30)
ORPHANED_AFTER = dt.timedelta(seconds=3)
IN_FLIGHT = "A request with this Idempotency-Key is still being processed; retry in a few seconds."


@dataclass(frozen=True)
class Replay:
    """The stored answer to an earlier request with the same key and body."""

    status_code: int
    body: dict[str, Any]


def body_hash(body: Any) -> str:
    """A digest of the parsed body, insensitive to key order and whitespace."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim(*, engine: Engine, organisation_id: uuid.UUID, key: str, request_hash: str) -> Replay | None:
    """Claim KEY for this request, or return the answer to replay.

    The claim commits in its own short transaction, before the intake's own, so a concurrent
    retry sees it at once and is told 409 instead of creating a second referral.
    """
    now = utc_now()
    with session_scope(engine) as session:
        try:
            with session.begin_nested():
                session.add(
                    IdempotencyRecord(
                        organisation_id=organisation_id,
                        key=key,
                        request_hash=request_hash,
                        state=IdempotencyState.in_flight,
                        created_at=now,
                        updated_at=now,
                    )
                )
                session.flush()
            return None
        except sa.exc.IntegrityError:
            pass
        this_key = _this_key(organisation_id, key)
        record = session.execute(sa.select(IdempotencyRecord).where(*this_key)).scalar_one_or_none()
        if record is None:
            raise Conflict(IN_FLIGHT)  # the first request failed and released the key a moment ago
        if record.request_hash != request_hash:
            raise Invalid(
                problems=[
                    Problem(
                        pointer="",
                        code="idempotency_key_reused",
                        message=(
                            "This Idempotency-Key was already used for a different referral. Use a new key for a new "
                            "referral, or resend exactly the same body to get the original answer."
                        ),
                    )
                ],
                summary="The Idempotency-Key was already used with a different body.",
            )
        if record.state == IdempotencyState.done:
            return Replay(status_code=record.status_code or 201, body=record.response or {})
        # Not waiting for the lock: a locked claim belongs to a request that is still working.
        unheld = session.execute(
            sa.select(IdempotencyRecord)
            .where(*this_key)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if unheld is not None and unheld.state == IdempotencyState.done:
            return Replay(status_code=unheld.status_code or 201, body=unheld.response or {})
        orphaned_after = ORPHANED_AFTER if engine.dialect.name == "postgresql" else ABANDONED_AFTER
        if unheld is None or now - unheld.updated_at < orphaned_after:
            raise Conflict(IN_FLIGHT)
        # The earlier attempt died mid-way (its transaction rolled back): this request takes over.
        unheld.updated_at = now
        session.add(unheld)
        return None


def hold(*, session: Session, organisation_id: uuid.UUID, key: str) -> None:
    """Lock this request's claim in the intake's own transaction, which keeps it until it commits or rolls back.

    Conflict when the claim is no longer this request's to finish: a retry took it over and finished it.
    """
    held = session.execute(
        sa.select(col(IdempotencyRecord.key))
        .where(*_this_key(organisation_id, key), col(IdempotencyRecord.state) == IdempotencyState.in_flight)
        .with_for_update()
    ).first()
    if held is None:
        raise Conflict(IN_FLIGHT)


def complete(*, session: Session, organisation_id: uuid.UUID, key: str, status_code: int, body: dict[str, Any]) -> None:
    """Store the answer in the intake's own transaction, so it commits with the referral or not at all.

    Only an unfinished claim is finished: of two requests that both believe they hold the key (one took over
    from the other), exactly one stores its answer; the other gets Conflict and rolls its referral back.
    """
    finished = session.connection().execute(
        sa.update(IdempotencyRecord)
        .where(*_this_key(organisation_id, key), col(IdempotencyRecord.state) == IdempotencyState.in_flight)
        .values(state=IdempotencyState.done, status_code=status_code, response=body, updated_at=utc_now())
    )
    if finished.rowcount != 1:
        raise Conflict(IN_FLIGHT)


def release(*, engine: Engine, organisation_id: uuid.UUID, key: str) -> None:
    """Forget an unfinished claim (the intake failed), so the referrer can correct and resend."""
    with session_scope(engine) as session:
        session.execute(
            sa.delete(IdempotencyRecord).where(
                col(IdempotencyRecord.organisation_id) == organisation_id,
                col(IdempotencyRecord.key) == key,
                col(IdempotencyRecord.state) == IdempotencyState.in_flight,
            )
        )


def _this_key(organisation_id: uuid.UUID, key: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (col(IdempotencyRecord.organisation_id) == organisation_id, col(IdempotencyRecord.key) == key)
