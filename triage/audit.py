"""The audit trail: who read or changed which record, when and why (DPA 2018 s.62)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
import structlog
from sqlmodel import Session

from schemas.tables import AuditEvent
from schemas.types import utc_now
from triage import bulk
from triage.auth import Caller

TABLE: sa.Table = AuditEvent.__table__  # type: ignore[attr-defined]


def current_request_id() -> str | None:
    """The id of the request being answered (bound to the log context by the request middleware)."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return str(value) if value else None


def record(
    *,
    session: Session,
    caller: Caller,
    action: str,
    entity: str,
    entity_id: uuid.UUID | str | None,
    purpose: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit event in the caller's transaction. DETAIL must hold no personal data."""
    record_many(
        session=session,
        caller=caller,
        action=action,
        entity=entity,
        entity_ids=[entity_id],
        purpose=purpose,
        detail=detail,
    )


def record_many(
    *,
    session: Session,
    caller: Caller,
    action: str,
    entity: str,
    entity_ids: Iterable[uuid.UUID | str | None],
    purpose: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one audit event per entity (a page of a list is one read of each referral on it)."""
    now, request_id = utc_now(), current_request_id()
    rows = [
        row(
            caller=caller,
            action=action,
            entity=entity,
            entity_id=entity_id,
            purpose=purpose,
            detail=detail,
            at=now,
            request_id=request_id,
        )
        for entity_id in entity_ids
    ]
    append(session=session, rows=rows)


def row(
    *,
    caller: Caller,
    action: str,
    entity: str,
    entity_id: uuid.UUID | str | None,
    purpose: str | None,
    detail: dict[str, Any] | None,
    at: dt.datetime,
    request_id: str | None,
) -> dict[str, Any]:
    """One audit event as a row, for append. DETAIL must hold no personal data."""
    return {
        "at": at,
        "actor_kind": caller.actor_kind,
        "actor_id": caller.actor_id,
        "organisation_id": caller.organisation_id,
        "role": str(caller.role),
        "action": action,
        "entity": entity,
        "entity_id": str(entity_id) if entity_id is not None else None,
        "purpose": purpose,
        "request_id": request_id,
        "detail": detail,
    }


def append(*, session: Session, rows: list[dict[str, Any]]) -> None:
    """Append audit rows (from row) in the session's transaction, in one statement."""
    bulk.insert(session.connection(), TABLE, rows)
