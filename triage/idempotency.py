"""Idempotency-Key handling for intake: a retry replays the first answer and creates nothing."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from schemas.enums import IdempotencyState
from schemas.tables import IdempotencyRecord
from schemas.types import utc_now
from triage import bulk
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


def claim_many(*, engine: Engine, claims: list[tuple[uuid.UUID, str, str]]) -> list[bool]:
    """Claim several keys (organisation, key, request hash) in one short transaction, as claim does one: for each,
    whether this call claimed it. A key already claimed is not (nor a repeat of a key earlier in CLAIMS): claim
    then works out what its request is answered."""
    if not claims:
        return []
    now = utc_now()
    if engine.dialect.name == "postgresql":
        claimed = [
            {"organisation_id": organisation_id, "key": key, "request_hash": request_hash}
            for organisation_id, key, request_hash in claims
        ]
        with engine.begin() as connection:
            params = {"claims": bulk.document(claimed), "state": IdempotencyState.in_flight, "now": now}
            inserted = {(organisation_id, key) for organisation_id, key in bulk.fetch(connection, _CLAIM_MANY, params)}
        return _first_of_each(claims, inserted)
    table: sa.Table = IdempotencyRecord.__table__  # type: ignore[attr-defined]
    statement = (
        sqlite_insert(table)
        .values(
            [
                {
                    "organisation_id": organisation_id,
                    "key": key,
                    "request_hash": request_hash,
                    "state": IdempotencyState.in_flight,
                    "created_at": now,
                    "updated_at": now,
                }
                for organisation_id, key, request_hash in claims
            ]
        )
        .on_conflict_do_nothing(index_elements=[table.c.organisation_id, table.c.key])
        .returning(table.c.organisation_id, table.c.key)
    )
    with engine.begin() as connection:
        inserted = {(organisation_id, key) for organisation_id, key in connection.execute(statement)}
    return _first_of_each(claims, inserted)


def _first_of_each(claims: list[tuple[uuid.UUID, str, str]], inserted: set[tuple[uuid.UUID, str]]) -> list[bool]:
    """Whether each claim was inserted: of several with the same key, the first (rows are inserted in order)."""
    claimed, seen = [], set()
    for organisation_id, key, _ in claims:
        claimed.append((organisation_id, key) in inserted and (organisation_id, key) not in seen)
        seen.add((organisation_id, key))
    return claimed


# On PostgreSQL the claims, holds and answers of a whole batch are one statement each, the keys travelling as one
# JSON document.
_CLAIM_MANY = sa.text(
    """
    INSERT INTO idempotency_record (organisation_id, key, request_hash, state, created_at, updated_at)
    SELECT c.organisation_id, c.key, c.request_hash, :state, :now, :now
    FROM jsonb_to_recordset(CAST(:claims AS JSONB)) AS c(organisation_id uuid, key text, request_hash text)
    ON CONFLICT (organisation_id, key) DO NOTHING
    RETURNING organisation_id, key
    """
)
_HOLD_MANY = sa.text(
    """
    SELECT r.organisation_id, r.key
    FROM idempotency_record AS r
    JOIN jsonb_to_recordset(CAST(:keys AS JSONB)) AS k(organisation_id uuid, key text)
        ON r.organisation_id = k.organisation_id AND r.key = k.key
    WHERE r.state = :state
    ORDER BY r.organisation_id, r.key
    FOR UPDATE OF r
    """
)
_COMPLETE_MANY = sa.text(
    """
    UPDATE idempotency_record AS r
    SET state = :done, status_code = a.status_code, response = a.response, updated_at = :now
    FROM jsonb_to_recordset(CAST(:answers AS JSONB))
        AS a(organisation_id uuid, key text, status_code integer, response jsonb)
    WHERE r.organisation_id = a.organisation_id AND r.key = a.key AND r.state = :in_flight
    RETURNING r.key
    """
)


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


def hold_many(*, session: Session, keys: list[tuple[uuid.UUID, str]]) -> set[tuple[uuid.UUID, str]]:
    """hold for several keys (organisation, key) at once: those this transaction now holds. A key left out is no
    longer its request's to finish (hold's Conflict)."""
    if not keys:
        return set()
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        held = set()
        for organisation_id, key in keys:
            with contextlib.suppress(Conflict):
                hold(session=session, organisation_id=organisation_id, key=key)
                held.add((organisation_id, key))
        return held
    document = bulk.document([{"organisation_id": organisation_id, "key": key} for organisation_id, key in keys])
    rows = bulk.fetch(connection, _HOLD_MANY, {"keys": document, "state": IdempotencyState.in_flight})
    return {(organisation_id, key) for organisation_id, key in rows}


def complete_many(*, session: Session, answers: list[tuple[uuid.UUID, str, int, dict[str, Any]]]) -> None:
    """complete for several held keys (organisation, key, status code, body) at once; Conflict if any is no longer
    this transaction's to finish."""
    if not answers:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        for organisation_id, key, status_code, body in answers:
            complete(session=session, organisation_id=organisation_id, key=key, status_code=status_code, body=body)
        return
    document = bulk.document(
        [
            {"organisation_id": organisation_id, "key": key, "status_code": status_code, "response": body}
            for organisation_id, key, status_code, body in answers
        ]
    )
    params = {
        "answers": document,
        "done": IdempotencyState.done,
        "in_flight": IdempotencyState.in_flight,
        "now": utc_now(),
    }
    if len(bulk.fetch(connection, _COMPLETE_MANY, params)) != len(answers):
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
