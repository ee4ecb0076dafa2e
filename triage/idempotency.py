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

# A claim whose request died without finishing (a killed worker) may be taken over after this.
ABANDONED_AFTER = dt.timedelta(seconds=30)


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
        record = session.execute(
            sa.select(IdempotencyRecord)
            .where(col(IdempotencyRecord.organisation_id) == organisation_id, col(IdempotencyRecord.key) == key)
            .with_for_update()
        ).scalar_one()
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
        if now - record.updated_at < ABANDONED_AFTER:
            raise Conflict("A request with this Idempotency-Key is still being processed; retry in a few seconds.")
        # The earlier attempt died mid-way (its transaction rolled back): this request takes over.
        record.updated_at = now
        session.add(record)
        return None


def complete(*, session: Session, organisation_id: uuid.UUID, key: str, status_code: int, body: dict[str, Any]) -> None:
    """Store the answer in the intake's own transaction, so it commits with the referral or not at all."""
    session.execute(
        sa.update(IdempotencyRecord)
        .where(col(IdempotencyRecord.organisation_id) == organisation_id, col(IdempotencyRecord.key) == key)
        .values(state=IdempotencyState.done, status_code=status_code, response=body, updated_at=utc_now())
    )


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
